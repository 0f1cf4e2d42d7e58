// The selector: every kind has a name, inproc is always built, and a kind
// that is not built says so with a typed error instead of a null backend.
#include "nifhost/backends/select.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace nifhost::backends {
namespace {

using core::BackendKind;

TEST(Select, NamesRoundTrip) {
  for (BackendKind k : {BackendKind::kInproc, BackendKind::kProcess, BackendKind::kShm}) {
    auto parsed = core::parse_backend_kind(core::backend_name(k));
    ASSERT_TRUE(parsed.has_value()) << core::backend_name(k);
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_FALSE(core::parse_backend_kind("Inproc").has_value());
  EXPECT_FALSE(core::parse_backend_kind("").has_value());
}

TEST(Select, CatalogListsEveryKindOnceInOrder) {
  auto catalog = backend_catalog();
  ASSERT_EQ(catalog.size(), 3u);
  EXPECT_STREQ(catalog[0].name, "inproc");
  EXPECT_STREQ(catalog[1].name, "process");
  EXPECT_STREQ(catalog[2].name, "shm");
  for (const auto& b : catalog) EXPECT_EQ(b.available, b.why.empty()) << b.name;
}

TEST(Select, MakesWhatIsAvailableAndRefusesTheRest) {
  core::NullHostServices host;
  auto available = available_backends();
  EXPECT_NE(std::find(available.begin(), available.end(), BackendKind::kInproc), available.end());
  for (const auto& b : backend_catalog()) {
    auto backend = make_backend(b.kind, host);
    if (b.available) {
      ASSERT_TRUE(backend.has_value()) << backend.error().message();
      EXPECT_EQ((*backend)->kind(), b.kind);
    } else {
      ASSERT_FALSE(backend.has_value()) << b.name;
      EXPECT_EQ(backend.error().code, core::LoadErrc::kUnavailable);
      EXPECT_NE(backend.error().text.find(b.name), std::string::npos) << backend.error().text;
    }
  }
}

}  // namespace
}  // namespace nifhost::backends
