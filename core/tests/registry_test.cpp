// The registry hands out handles, never pointers: a handle whose library was
// unloaded or replaced is refused, even after its slot is reused.
#include "nifhost/core/registry.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace nifhost::core {
namespace {

std::string nif_path(const std::string& name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir ? dir : ".") / "nifs" / (name + ".so")).string();
}

// An opened (not loaded) library: the registry cares about names and functions.
std::shared_ptr<NifLibrary> open(const std::string& name) {
  auto lib = NifLibrary::open(nif_path(name), {});
  EXPECT_TRUE(lib.has_value()) << lib.error().message();
  return *lib;
}

TEST(Registry, LooksUpByModuleNameAndArity) {
  Registry r;
  auto h = r.add(open("nh_upgrade"));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(r.find("nh_upgrade"), *h);
  EXPECT_FALSE(r.find("nh_terms").has_value());
  auto fn = r.lookup(*h, "priv_counts", 0);
  ASSERT_TRUE(fn.has_value());
  auto resolved = r.resolve(*fn);
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->function->name, "priv_counts");
  EXPECT_EQ(resolved->library->module(), "nh_upgrade");
  auto missing = r.lookup(*h, "priv_counts", 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, LoadErrc::kNoFunction);
}

TEST(Registry, SecondLoadOfAModuleIsAReload) {
  Registry r;
  ASSERT_TRUE(r.add(open("nh_upgrade")).has_value());
  auto again = r.add(open("nh_upgrade_v2"));  // same module, nh_upgrade
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, LoadErrc::kReload);
  EXPECT_EQ(r.size(), 1u);
}

TEST(Registry, HandlesOfAnUnloadedLibraryAreRefusedEvenAfterTheSlotIsReused) {
  Registry r;
  auto h = r.add(open("nh_upgrade"));
  ASSERT_TRUE(h.has_value());
  auto fn = r.lookup(*h, "version", 0);
  ASSERT_TRUE(fn.has_value());
  ASSERT_TRUE(r.remove(*h).has_value());

  EXPECT_EQ(r.library(*h).error().code, LoadErrc::kNotLoaded);
  EXPECT_EQ(r.resolve(*fn).error().code, LoadErrc::kNotLoaded);
  EXPECT_EQ(r.lookup(*h, "version", 0).error().code, LoadErrc::kNotLoaded);
  EXPECT_EQ(r.remove(*h).error().code, LoadErrc::kNotLoaded);

  // The same slot now holds another library: same index, other generation.
  auto h2 = r.add(open("nh_load_fail"));
  ASSERT_TRUE(h2.has_value());
  EXPECT_EQ(h2->index, h->index);
  EXPECT_NE(h2->generation, h->generation);
  EXPECT_FALSE(r.resolve(*fn).has_value());
  auto stale = r.library(*h);
  ASSERT_FALSE(stale.has_value());
  EXPECT_NE(stale.error().text.find("stale"), std::string::npos) << stale.error().text;
  EXPECT_EQ(r.library(*h2).value()->module(), "nh_load_fail");
}

TEST(Registry, HandlesOfAReplacedLibraryAreRefused) {
  Registry r;
  auto h = r.add(open("nh_upgrade"));
  ASSERT_TRUE(h.has_value());
  auto fn = r.lookup(*h, "version", 0).value();
  auto replaced = r.replace(*h, open("nh_upgrade_v2"));
  ASSERT_TRUE(replaced.has_value());
  auto [h2, old] = std::move(*replaced);
  EXPECT_NE(h2, *h);
  EXPECT_EQ(old->info().path, nif_path("nh_upgrade"));
  EXPECT_EQ(r.resolve(fn).error().code, LoadErrc::kNotLoaded);
  auto fn2 = r.lookup(h2, "version", 0).value();
  EXPECT_EQ(r.resolve(fn2).value().library->info().path, nif_path("nh_upgrade_v2"));
  EXPECT_EQ(r.find("nh_upgrade"), h2);
}

TEST(Registry, ReplacementMustBeTheSameModule) {
  Registry r;
  auto h = r.add(open("nh_upgrade")).value();
  auto wrong = r.replace(h, open("nh_load_fail"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, LoadErrc::kBadLib);
  EXPECT_TRUE(r.library(h).has_value());
}

TEST(Registry, UnknownAndOutOfRangeHandlesAreRefused) {
  Registry r;
  EXPECT_EQ(r.library(LibraryHandle{}).error().code, LoadErrc::kNotLoaded);
  EXPECT_EQ(r.library(LibraryHandle{7, 1}).error().code, LoadErrc::kNotLoaded);
  auto h = r.add(open("nh_upgrade")).value();
  auto bad = r.resolve(FunctionHandle{h, 3});  // nh_upgrade has 3 functions
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, LoadErrc::kNoFunction);
}

// Resolving from many threads while the library is replaced over and over:
// a resolve either fails (stale) or yields the library the handle named.
TEST(Registry, ConcurrentResolveNeverYieldsAnotherGeneration) {
  Registry r;
  auto first = r.add(open("nh_upgrade")).value();
  auto v1 = open("nh_upgrade");
  auto v2 = open("nh_upgrade_v2");
  std::atomic<bool> stop{false};
  std::atomic<LibraryHandle> current{first};
  std::atomic<int> mismatches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!stop.load()) {
        LibraryHandle h = current.load();
        auto lib = r.library(h);
        auto again = r.find("nh_upgrade");
        if (!lib || !again || *again != h) continue;
        auto third = r.library(*again);
        if (third && *third != *lib) ++mismatches;
      }
    });
  LibraryHandle h = first;
  for (int i = 0; i < 2000; ++i) {
    auto rep = r.replace(h, i % 2 ? v1 : v2);
    ASSERT_TRUE(rep.has_value());
    h = rep->first;
    current.store(h);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(r.size(), 1u);
}

}  // namespace
}  // namespace nifhost::core
