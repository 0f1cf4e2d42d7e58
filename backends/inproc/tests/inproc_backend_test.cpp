// The in-process backend: loading, calling, upgrading and unloading as the BEAM
// does, calls from many threads at once, and real Debian NIF libraries (jiffy,
// fxml, stringprep) answering exactly what they answer in the real BEAM.
#include "nifhost/inproc/inproc_backend.hpp"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"

namespace nifhost::inproc {
namespace {

using core::Term;
using testing::BeamOracle;

std::filesystem::path nif_dir() {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return std::filesystem::path(dir ? dir : ".") / "nifs";
}
std::string nif_path(const std::string& name) { return (nif_dir() / (name + ".so")).string(); }

const std::string kJiffy = "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy";
const std::string kFxml = "/usr/lib/erlang/lib/p1_xml-1.1.49/priv/lib/fxml";
const std::string kStringprep = "/usr/lib/erlang/lib/p1_stringprep-1.0.29/priv/lib/stringprep";

BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

std::vector<std::uint8_t> etf_of(Term t) {
  auto bytes = core::encode(t);
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or(std::vector<std::uint8_t>{});
}

// A spec by assignment (designated initializers that leave fields out trip
// -Wmissing-field-initializers).
core::LibrarySpec spec(std::string path, std::string module = "",
                       std::vector<std::uint8_t> load_info = {}) {
  core::LibrarySpec s;
  s.path = std::move(path);
  s.module = std::move(module);
  s.load_info_etf = std::move(load_info);
  return s;
}

class Inproc : public ::testing::Test {
 protected:
  core::NullHostServices host_;
  std::unique_ptr<core::Backend> backend_ = make_inproc_backend(host_).value();

  core::LibraryHandle load(const std::string& path, const std::string& module = "") {
    auto h = backend_->load(spec(path, module));
    EXPECT_TRUE(h.has_value()) << h.error().message();
    return h.value_or(core::LibraryHandle{});
  }

  core::CallResult call(core::LibraryHandle lib, std::string_view fn, std::string_view args_text,
                        core::Heap& heap) {
    auto list = core::parse_term(args_text, heap);
    EXPECT_TRUE(list.has_value()) << args_text;
    std::vector<Term> args;
    for (Term a : core::ListRange(*list)) args.push_back(a);
    auto f = backend_->lookup(lib, fn, static_cast<unsigned>(args.size()));
    EXPECT_TRUE(f.has_value()) << fn;
    return backend_->call(*f, core::Caller{&heap, core::kNilTerm}, args);
  }

  // Loads the library in the real BEAM too (same functions, load info 0).
  void load_in_beam(const std::string& path_without_so, core::LibraryHandle lib) {
    auto info = backend_->info(lib).value();
    std::vector<testing::NifFunctionSpec> fns;
    for (const auto& f : info.functions) fns.push_back({f.name, f.arity});
    core::Heap heap;
    auto r = oracle().load_nif(path_without_so, info.module, fns, etf_of(core::make_small(0)));
    ASSERT_TRUE(r.has_value()) << testing::describe(r.error());
  }

  // The call here and in the BEAM give the same result or the same exception.
  void expect_same(core::LibraryHandle lib, std::string_view fn, std::string_view args_text) {
    core::Heap heap;
    core::CallResult ours = call(lib, fn, args_text, heap);
    std::string module = backend_->info(lib).value().module;
    auto list = core::parse_term(args_text, heap).value();
    auto beam = oracle().call(module, fn, etf_of(list));
    ASSERT_TRUE(beam.has_value()) << testing::describe(beam.error());
    if (const auto* e = std::get_if<core::Exception>(&ours.outcome)) {
      ASSERT_TRUE(beam->raised) << fn << args_text
                                << " raised here: " << core::print_term(e->reason);
      EXPECT_EQ(core::atom_text(e->klass), beam->exception_class) << fn << args_text;
      EXPECT_EQ(etf_of(e->reason), beam->term)
          << fn << args_text << " reason here " << core::print_term(e->reason);
      return;
    }
    ASSERT_TRUE(ours.ok()) << fn << args_text << ": contained failure here";
    ASSERT_FALSE(beam->raised) << fn << args_text << " raised in the BEAM, here returned "
                               << core::print_term(ours.value());
    EXPECT_EQ(etf_of(ours.value()), beam->term)
        << fn << args_text << " here " << core::print_term(ours.value());
  }
};

TEST_F(Inproc, CallsAnswerAsInTheBeam) {
  auto lib = load(nif_path("nh_terms"));
  load_in_beam((nif_dir() / "nh_terms").string(), lib);
  expect_same(lib, "noop", "[]");
  expect_same(lib, "add", "[40, 2]");
  expect_same(lib, "add", "[a, 2]");
  expect_same(lib, "echo", "[{ok, [1, 2.5, <<\"bin\">>, #{k => v}], \"str\"}]");
  expect_same(lib, "raise", "[{my, reason}]");
  expect_same(lib, "badarg", "[]");
}

TEST_F(Inproc, SecondLoadOfAModuleIsRefused) {
  load(nif_path("nh_terms"));
  auto again = backend_->load(spec(nif_path("nh_terms")));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, core::LoadErrc::kReload);
  EXPECT_EQ(again.error().text, "NIF library already loaded (reload disallowed since OTP 20).");
}

TEST_F(Inproc, LoadErrorsAreTyped) {
  auto missing = backend_->load(spec(nif_path("no_such_library")));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::LoadErrc::kLoadFailed);
  auto veto = backend_->load(spec(nif_path("nh_load_fail")));
  ASSERT_FALSE(veto.has_value());
  EXPECT_EQ(veto.error().message(), "load: Library load-call unsuccessful (42).");
  auto wrong = backend_->load(spec(nif_path("nh_terms"), "not_nh_terms"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, core::LoadErrc::kBadLib);
  // A failed load leaves nothing registered.
  load(nif_path("nh_terms"), "nh_terms");
}

TEST_F(Inproc, LoadInfoIsDecodedForTheLoadCallback) {
  core::Heap heap;
  auto info = core::parse_term("{hello, [1, 2]}", heap).value();
  auto lib = backend_->load(spec(nif_path("nh_upgrade"), "", etf_of(info)));
  ASSERT_TRUE(lib.has_value()) << lib.error().message();
  auto r = call(*lib, "load_info", "[]", heap);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(core::print_term(r.value()), "{hello,[1,2]}");
  auto bad = backend_->load(spec(nif_path("nh_terms"), "", {131, 255}));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::LoadErrc::kBadArg);
}

TEST_F(Inproc, UnloadedLibraryHandlesAreStale) {
  auto lib = load(nif_path("nh_terms"));
  auto fn = backend_->lookup(lib, "noop", 0).value();
  ASSERT_TRUE(backend_->unload(lib).has_value());
  core::Heap heap;
  core::CallResult r = backend_->call(fn, core::Caller{&heap, core::kNilTerm}, {});
  const auto* failure = std::get_if<core::ContainedFailure>(&r.outcome);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(core::print_term(failure->reason), "{nifhost,undefined,undefined,stale_handle}");
  EXPECT_FALSE(backend_->info(lib).has_value());
  EXPECT_EQ(backend_->unload(lib).error().code, core::LoadErrc::kNotLoaded);
  EXPECT_EQ(backend_->stats().contained_failures, 1u);
  // The module can be loaded again, under a new handle.
  auto again = load(nif_path("nh_terms"));
  EXPECT_NE(again, lib);
}

TEST_F(Inproc, UpgradeReplacesTheLibraryAndPurgesTheOldOne) {
  core::Heap heap;
  auto v1 = load(nif_path("nh_upgrade"));
  auto old_fn = backend_->lookup(v1, "version", 0).value();
  auto v2 = backend_->upgrade(v1, spec(nif_path("nh_upgrade_v2")));
  ASSERT_TRUE(v2.has_value()) << v2.error().message();
  EXPECT_NE(*v2, v1);

  core::CallResult stale = backend_->call(old_fn, core::Caller{&heap, core::kNilTerm}, {});
  EXPECT_TRUE(std::holds_alternative<core::ContainedFailure>(stale.outcome));
  EXPECT_EQ(core::print_term(call(*v2, "version", "[]", heap).value()), "2");
  // v1's unload ran when it was purged: loads, upgrades, unloads along the chain.
  EXPECT_EQ(core::print_term(call(*v2, "priv_counts", "[]", heap).value()), "{1,1,1}");
  EXPECT_EQ(backend_->info(*v2).value().path, nif_path("nh_upgrade_v2"));

  void* h = dlopen(nif_path("nh_upgrade").c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_EQ(h, nullptr) << "v1 is still mapped after the upgrade";
  if (h) dlclose(h);
}

// As the BEAM's dynlib reference count: a resource with a destructor keeps its
// library's code mapped after unload, until the resource goes.
TEST_F(Inproc, LiveResourcesKeepAnUnloadedLibraryMapped) {
  auto mapped = [](const std::string& path) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != nullptr;
  };
  auto heap = std::make_unique<core::Heap>();
  auto lib = load(nif_path("nh_resources"));
  auto r = call(lib, "new", "[7]", *heap);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(backend_->unload(lib).has_value());
  EXPECT_TRUE(mapped(nif_path("nh_resources"))) << "unmapped under a live resource";
  heap.reset();  // the destructor runs in the library's code, still mapped
  EXPECT_EQ(core::NifLibrary::collect_retired(), 0u);
  EXPECT_FALSE(mapped(nif_path("nh_resources")));
}

TEST_F(Inproc, FailedUpgradeKeepsTheOldLibrary) {
  core::Heap heap;
  auto v1 = load(nif_path("nh_upgrade"));
  auto fail = core::parse_term("{fail, 3}", heap).value();
  auto r = backend_->upgrade(v1, spec(nif_path("nh_upgrade_v2"), "", etf_of(fail)));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "upgrade: Library upgrade-call unsuccessful (3).");
  EXPECT_EQ(core::print_term(call(v1, "version", "[]", heap).value()), "1");
  auto other = backend_->upgrade(v1, spec(nif_path("nh_terms")));
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, core::LoadErrc::kBadLib);
  EXPECT_TRUE(backend_->info(v1).has_value());
}

TEST_F(Inproc, ManyThreadsCallAtOnce) {
  auto lib = load(nif_path("nh_terms"));
  auto add = backend_->lookup(lib, "add", 2).value();
  constexpr int kThreads = 4, kCalls = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      core::Heap heap;  // each "process" has its own heap
      for (int i = 0; i < kCalls; ++i) {
        Term args[] = {core::make_small(t * kCalls + i), core::make_small(1)};
        auto r = backend_->call(add, core::Caller{&heap, core::kNilTerm}, args);
        if (!r.ok() || r.value() != core::make_small(t * kCalls + i + 1)) ++wrong;
        if (i % 256 == 0) heap.clear();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(backend_->stats().calls, std::uint64_t{kThreads * kCalls});
}

TEST_F(Inproc, CallsOnTheMetadataConvention) {
  core::Heap heap;
  auto lib = load(nif_path("nh_meta"));
  EXPECT_TRUE(backend_->info(lib).value().via_metadata);
  EXPECT_EQ(core::print_term(call(lib, "sum", "[40, 2]", heap).value()), "42");
  EXPECT_EQ(core::print_term(call(lib, "dirty_sum", "[100]", heap).value()), "5050");
  EXPECT_EQ(core::print_term(call(lib, "hello", "[]", heap).value()), "<<\"hello from nh_meta\">>");
}

// --- Debian's NIF libraries, unmodified ---------------------------------------

TEST_F(Inproc, JiffyAnswersAsInTheBeam) {
  auto lib = load(kJiffy + ".so", "jiffy");
  load_in_beam(kJiffy, lib);
  expect_same(lib, "nif_decode_init", "[<<\"[1,2]\">>, []]");
  expect_same(lib, "nif_decode_init",
              "[<<\"{\\\"a\\\": [true, false, null, 1.5e3, -7, \\\"\\\\u00e9\\\"]}\">>, "
              "[return_maps]]");
  expect_same(lib, "nif_decode_init", "[<<\"[1,\">>, []]");
  expect_same(lib, "nif_decode_init", "[not_a_binary, []]");
  expect_same(lib, "nif_encode_init", "[[1, 2.5, <<\"x\">>, {[{a, true}]}, #{b => null}], []]");
  expect_same(lib, "nif_encode_init", "[{bad}, []]");
  // A document long enough, and a budget small enough, that jiffy yields
  // (enif_schedule_nif) many times before it answers.
  std::string doc = "[";
  for (int i = 0; i < 3000; ++i) doc += (i ? "," : "") + std::to_string(i * 7);
  doc += "]";
  expect_same(lib, "nif_decode_init", "[<<\"" + doc + "\">>, [{bytes_per_red, 1}]]");
  expect_same(lib, "nif_encode_init", "[" + doc + ", [{bytes_per_red, 1}]]");
}

TEST_F(Inproc, FxmlAnswersAsInTheBeam) {
  auto lib = load(kFxml + ".so", "fxml");
  load_in_beam(kFxml, lib);
  const char* el =
      "[{xmlel, <<\"a\">>, [{<<\"x\">>, <<\"1&2'\">>}], "
      "[{xmlcdata, <<\"<hi> & \\\"bye\\\"\">>}, {xmlel, <<\"b\">>, [], []}]}]";
  expect_same(lib, "element_to_binary", el);
  expect_same(lib, "element_to_header", el);
  expect_same(lib, "element_to_binary", "[{xmlel, <<\"a\">>}]");
}

TEST_F(Inproc, StringprepAnswersAsInTheBeam) {
  auto lib = load(kStringprep + ".so", "stringprep");
  load_in_beam(kStringprep, lib);
  for (const char* input : {"[<<\"FooBar\">>]", "[<<\"Foo@Bar\">>]", "[<<\"Ünïcødé\"/utf8>>]",
                            "[<<\"straße\"/utf8>>]", "[<<>>]", "[not_binary]"}) {
    expect_same(lib, "nodeprep", input);
    expect_same(lib, "nameprep", input);
    expect_same(lib, "resourceprep", input);
    expect_same(lib, "tolower", input);
  }
}

}  // namespace
}  // namespace nifhost::inproc
