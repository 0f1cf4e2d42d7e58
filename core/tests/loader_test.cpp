// The loader against the real BEAM: every library the BEAM refuses is refused
// here with the same {Reason, Text} erlang:load_nif/2 returns (asked of erl,
// OTP 25, through the oracle), and the lifecycle callbacks run as the NIF
// suites document them.
#include "nifhost/core/loader.hpp"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/beam_oracle.hpp"

namespace nifhost::core {
namespace {

using testing::BeamOracle;
using testing::NifFunctionSpec;

std::filesystem::path nif_dir() {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return std::filesystem::path(dir ? dir : ".") / "nifs";
}
std::string nif_path(const std::string& name) { return (nif_dir() / (name + ".so")).string(); }
// erlang:load_nif/2 takes the path without the .so suffix.
std::string beam_path(const std::string& name) { return (nif_dir() / name).string(); }

BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

std::vector<std::uint8_t> etf_of(std::string_view text) {
  Heap heap;
  auto t = parse_term(text, heap);
  EXPECT_TRUE(t.has_value()) << text;
  auto bytes = encode(*t);
  EXPECT_TRUE(bytes.has_value());
  return *bytes;
}

// What erlang:load_nif/2 answers in the real BEAM: "" for ok, else "Reason Text".
std::string beam_load(const std::string& path, const std::string& module,
                      std::vector<NifFunctionSpec> functions, std::string_view load_info = "0") {
  auto r = oracle().load_nif(path, module, functions, etf_of(load_info));
  if (r) return "";
  EXPECT_EQ(r.error().kind, testing::OracleError::Kind::erl_error) << testing::describe(r.error());
  return r.error().message;
}

std::string describe(const LoadError& e) {
  return std::string(load_errc_name(e.code)) + " " + e.text;
}

// Opens and loads as erlang:load_nif/2 would for `module`: "" or "Reason Text".
std::string our_load(const std::string& path, const std::string& module,
                     std::string_view load_info = "0") {
  auto lib = NifLibrary::open(path, {.expected_module = module});
  if (!lib) return describe(lib.error());
  Heap heap;
  auto info = parse_term(load_info, heap);
  EXPECT_TRUE(info.has_value());
  NullHostServices host;
  auto ok = (*lib)->load(&host, *info);
  if (!ok) return describe(ok.error());
  return "";
}

bool mapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

TEST(LoaderBeam, BadVersionIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("nh_bad_version"), "nh_bad_version");
  EXPECT_EQ(ours, beam_load(beam_path("nh_bad_version"), "nh_bad_version", {{"never", 0}}));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, MissingInitIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("nh_no_init"), "nh_no_init");
  EXPECT_EQ(ours, beam_load(beam_path("nh_no_init"), "nh_no_init", {}));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, DuplicateFunctionsAreRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("nh_dup_funcs"), "nh_dup_funcs");
  EXPECT_EQ(ours,
            beam_load(beam_path("nh_dup_funcs"), "nh_dup_funcs", {{"twice", 1}, {"once", 0}}));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, LoadCallbackVetoIsReportedLikeTheBeam) {
  std::string ours = our_load(nif_path("nh_load_fail"), "nh_load_fail");
  EXPECT_EQ(ours, beam_load(beam_path("nh_load_fail"), "nh_load_fail", {{"never", 0}}));
  EXPECT_EQ(ours, "load Library load-call unsuccessful (42).");
}

TEST(LoaderBeam, LoadInfoReachesTheLoadCallback) {
  std::string ours = our_load(nif_path("nh_upgrade"), "nh_upgrade", "{fail, 7}");
  EXPECT_EQ(ours, beam_load(beam_path("nh_upgrade"), "nh_upgrade",
                            {{"version", 0}, {"load_info", 0}, {"priv_counts", 0}}, "{fail, 7}"));
  EXPECT_EQ(ours, "load Library load-call unsuccessful (7).");
}

TEST(LoaderBeam, ModuleNameMismatchIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("nh_load_fail"), "some_other_module");
  EXPECT_EQ(ours, beam_load(beam_path("nh_load_fail"), "some_other_module", {{"never", 0}}));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, MissingFileIsRefusedLikeTheBeam) {
  std::string missing = (nif_dir() / "no_such_library").string();
  std::string ours = our_load(missing + ".so", "no_such_library");
  EXPECT_EQ(ours, beam_load(missing, "no_such_library", {}));
  EXPECT_TRUE(ours.starts_with("load_failed ")) << ours;
  EXPECT_NE(ours.find("No such file"), std::string::npos) << ours;
}

TEST(LoaderBeam, TextFileIsRefusedLikeTheBeam) {
  auto dir =
      std::filesystem::temp_directory_path() / ("nifhost_loader_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string base = (dir / "not_elf").string();
  std::ofstream(base + ".so") << "this is a text file, not a shared object\n";
  std::string ours = our_load(base + ".so", "not_elf");
  std::string beam = beam_load(base, "not_elf", {});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ours, beam);
  EXPECT_TRUE(ours.starts_with("load_failed ")) << ours;
}

// Entries as older, newer and odd libraries write them (tests/nifs/loader_entry.c).
const std::vector<NifFunctionSpec> kEntryFunctions = {{"a", 0}, {"b", 1}};

TEST(LoaderBeam, NewerVersionIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("le_v2_17"), "le_v2_17");
  EXPECT_EQ(ours, beam_load(beam_path("le_v2_17"), "le_v2_17", kEntryFunctions));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, OlderVersionsAreRefusedLikeTheBeam) {
  for (std::string name : {"le_v1_16", "le_v2_5"}) {
    std::string ours = our_load(nif_path(name), name);
    EXPECT_EQ(ours, beam_load(beam_path(name), name, kEntryFunctions)) << name;
    EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
  }
}

TEST(LoaderBeam, OtherVmVariantIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("le_variant"), "le_variant");
  EXPECT_EQ(ours, beam_load(beam_path("le_variant"), "le_variant", kEntryFunctions));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

TEST(LoaderBeam, IllegalFlagsAreRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("le_flags"), "le_flags");
  EXPECT_EQ(ours, beam_load(beam_path("le_flags"), "le_flags", kEntryFunctions));
  EXPECT_TRUE(ours.starts_with("bad_lib ")) << ours;
}

// 2.0 (no vm_variant: any is accepted) and 2.6 use the ErlNifFunc layout
// without flags; both load in the BEAM, and each function must be reached
// through the right table stride.
TEST(LoaderBeam, PreFlagsFunctionLayoutLoadsLikeTheBeam) {
  for (std::string name : {"le_v2_0", "le_v2_6"}) {
    EXPECT_EQ(our_load(nif_path(name), name), "") << name;
    ASSERT_EQ(beam_load(beam_path(name), name, kEntryFunctions), "") << name;
    auto beam_b = oracle().call(name, "b", etf_of("[x]"));
    ASSERT_TRUE(beam_b.has_value());

    auto lib = NifLibrary::open(nif_path(name), {.expected_module = name});
    ASSERT_TRUE(lib.has_value());
    NullHostServices host;
    ASSERT_TRUE((*lib)->load(&host, make_small(0)).has_value());
    ASSERT_EQ((*lib)->functions().size(), 2u);
    const NifFunction& b = (*lib)->functions()[1];
    EXPECT_EQ(b.name, "b");
    EXPECT_EQ(b.arity, 1u);
    EXPECT_EQ(b.flags, 0u);
    Heap heap;
    ErlNifFunc entry{b.name.c_str(), b.arity, b.fptr, b.flags};
    Term args[] = {atom("x")};
    CallOutcome r = run_nif((*lib)->context(), entry, heap, kNilTerm, host, args);
    ASSERT_TRUE(std::holds_alternative<Term>(r));
    EXPECT_EQ(encode(std::get<Term>(r)).value(), beam_b->term) << name;
  }
}

TEST(LoaderBeam, MissingEnifFunctionIsRefusedLikeTheBeam) {
  std::string ours = our_load(nif_path("le_missing_enif"), "le_missing_enif");
  EXPECT_EQ(ours, beam_load(beam_path("le_missing_enif"), "le_missing_enif", kEntryFunctions));
  EXPECT_TRUE(ours.starts_with("load_failed ")) << ours;
  EXPECT_NE(ours.find("undefined symbol: enif_no_such_function"), std::string::npos) << ours;
}

TEST(Loader, ArityAboveTheBeamsLimitIsRefused) {
  std::string ours = our_load(nif_path("le_arity"), "le_arity");
  EXPECT_EQ(ours, "bad_lib Function not found le_arity:b/256");
}

TEST(Loader, DefectiveMetadataIsRefused) {
  EXPECT_EQ(our_load(nif_path("lm_bad_magic"), ""),
            "bad_lib Library metadata has a bad magic number (0x12345678).");
  EXPECT_EQ(our_load(nif_path("lm_newer_abi"), ""),
            "bad_lib Library metadata version (2) not compatible (with 1).");
  EXPECT_EQ(our_load(nif_path("lm_duplicate"), ""),
            "bad_lib Duplicate NIF entry for lm_duplicate:one/0");
  EXPECT_EQ(our_load(nif_path("lm_bad_flags"), ""),
            "bad_lib Illegal flags field value 3 for NIF lm_bad_flags:three/0");
  std::string missing = our_load(nif_path("lm_missing_symbol"), "");
  EXPECT_TRUE(missing.starts_with("bad_lib Function not found lm_missing_symbol:two/0 ("))
      << missing;
  EXPECT_NE(missing.find("lm_two_is_not_exported"), std::string::npos) << missing;
}

TEST(Loader, ReadsTheEntry) {
  auto lib = NifLibrary::open(nif_path("nh_upgrade"), {});
  ASSERT_TRUE(lib.has_value()) << lib.error().message();
  const LibraryInfo& info = (*lib)->info();
  EXPECT_EQ(info.module, "nh_upgrade");
  EXPECT_EQ(info.nif_major, ERL_NIF_MAJOR_VERSION);
  EXPECT_EQ(info.nif_minor, ERL_NIF_MINOR_VERSION);
  EXPECT_EQ(info.vm_variant, "beam.vanilla");
  EXPECT_EQ(info.min_erts, ERL_NIF_MIN_ERTS_VERSION);
  EXPECT_FALSE(info.via_metadata);
  EXPECT_EQ((*lib)->sizeof_resource_type_init(), sizeof(ErlNifResourceTypeInit));
  ASSERT_EQ(info.functions.size(), 3u);
  EXPECT_EQ(info.functions[0].name, "version");
  EXPECT_EQ(info.functions[2].name, "priv_counts");
  EXPECT_TRUE((*lib)->find_function("load_info", 0).has_value());
  EXPECT_FALSE((*lib)->find_function("load_info", 1).has_value());
  EXPECT_FALSE((*lib)->loaded());
}

TEST(Loader, MetadataLibraryLoadsThroughItsTable) {
  auto lib = NifLibrary::open(nif_path("nh_meta"), {.expected_module = "nh_meta"});
  ASSERT_TRUE(lib.has_value()) << lib.error().message();
  const LibraryInfo& info = (*lib)->info();
  EXPECT_TRUE(info.via_metadata);
  EXPECT_EQ(info.module, "nh_meta");
  EXPECT_EQ(info.module_version, "1.0.0");
  ASSERT_EQ(info.functions.size(), 3u);
  EXPECT_EQ(info.functions[2].name, "dirty_sum");
  EXPECT_EQ(info.functions[2].flags, unsigned{ERL_NIF_DIRTY_JOB_CPU_BOUND});
  // The function pointers are the symbols the table names, not guesses by name.
  void* h = dlopen(nif_path("nh_meta").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(reinterpret_cast<void*>((*lib)->functions()[1].fptr), dlsym(h, "nh_meta_sum"));
  dlclose(h);

  NullHostServices host;
  ASSERT_TRUE((*lib)->load(&host, make_small(0)).has_value());
  Heap heap;
  Term args[] = {make_small(40), make_small(2)};
  const NifFunction& sum = (*lib)->functions()[1];
  ErlNifFunc entry{sum.name.c_str(), sum.arity, sum.fptr, sum.flags};
  CallOutcome r = run_nif((*lib)->context(), entry, heap, kNilTerm, host, args);
  ASSERT_TRUE(std::holds_alternative<Term>(r));
  EXPECT_EQ(std::get<Term>(r), make_small(42));
}

TEST(Loader, MetadataModuleMustMatchToo) {
  auto lib = NifLibrary::open(nif_path("nh_meta"), {.expected_module = "other"});
  ASSERT_FALSE(lib.has_value());
  EXPECT_EQ(lib.error().code, LoadErrc::kBadLib);
  EXPECT_EQ(lib.error().text,
            "Library module name 'nh_meta' does not match calling module 'other'");
}

// Calls a zero-arity NIF of `lib` by name and prints the result.
std::string call0(NifLibrary& lib, std::string_view name) {
  auto index = lib.find_function(name, 0);
  EXPECT_TRUE(index.has_value()) << name;
  const NifFunction& f = lib.functions()[*index];
  ErlNifFunc entry{f.name.c_str(), f.arity, f.fptr, f.flags};
  Heap heap;
  NullHostServices host;
  CallOutcome r = run_nif(lib.context(), entry, heap, kNilTerm, host, {});
  EXPECT_TRUE(std::holds_alternative<Term>(r)) << name;
  return std::holds_alternative<Term>(r) ? print_term(std::get<Term>(r)) : "";
}

TEST(Loader, UpgradeHandsOverPrivDataAndUnloadsTheOldInstance) {
  NullHostServices host;
  Heap heap;
  auto v1 = NifLibrary::open(nif_path("nh_upgrade"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v1.has_value()) << v1.error().message();
  ASSERT_TRUE((*v1)->load(&host, *parse_term("first", heap)).has_value());
  EXPECT_EQ(call0(**v1, "version"), "1");
  EXPECT_EQ(call0(**v1, "priv_counts"), "{1,0,0}");

  auto v2 = NifLibrary::open(nif_path("nh_upgrade_v2"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v2.has_value()) << v2.error().message();
  ASSERT_TRUE((*v2)->upgrade(**v1, &host, *parse_term("second", heap)).has_value());
  EXPECT_EQ(call0(**v2, "version"), "2");
  EXPECT_EQ(call0(**v2, "load_info"), "second");
  // The counts block came from v1's priv_data: the upgrade saw the old instance.
  EXPECT_EQ(call0(**v2, "priv_counts"), "{1,1,0}");

  // Purging v1 runs its unload callback, then closes it.
  v1->reset();
  EXPECT_FALSE(mapped(nif_path("nh_upgrade")));
  EXPECT_EQ(call0(**v2, "priv_counts"), "{1,1,1}");

  // And back again: v2's unload runs when it is replaced in turn.
  auto v1b = NifLibrary::open(nif_path("nh_upgrade"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v1b.has_value());
  ASSERT_TRUE((*v1b)->upgrade(**v2, &host, *parse_term("third", heap)).has_value());
  v2->reset();
  EXPECT_FALSE(mapped(nif_path("nh_upgrade_v2")));
  EXPECT_EQ(call0(**v1b, "priv_counts"), "{1,2,2}");
  EXPECT_EQ(call0(**v1b, "load_info"), "third");
  v1b->reset();
  EXPECT_FALSE(mapped(nif_path("nh_upgrade")));
}

TEST(LoaderBeam, UpgradeVetoIsReportedLikeTheBeamAndKeepsTheOldInstance) {
  const std::vector<NifFunctionSpec> fns = {{"version", 0}, {"load_info", 0}, {"priv_counts", 0}};
  ASSERT_EQ(beam_load(beam_path("nh_upgrade"), "nh_upgrade", fns, "first"), "");
  std::string beam = beam_load(beam_path("nh_upgrade_v2"), "nh_upgrade", fns, "{fail, 9}");

  NullHostServices host;
  Heap heap;
  auto v1 = NifLibrary::open(nif_path("nh_upgrade"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v1.has_value());
  ASSERT_TRUE((*v1)->load(&host, *parse_term("first", heap)).has_value());
  auto v2 = NifLibrary::open(nif_path("nh_upgrade_v2"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v2.has_value());
  auto r = (*v2)->upgrade(**v1, &host, *parse_term("{fail, 9}", heap));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(describe(r.error()), beam);
  EXPECT_EQ(describe(r.error()), "upgrade Library upgrade-call unsuccessful (9).");
  EXPECT_FALSE((*v2)->loaded());
  EXPECT_EQ(call0(**v1, "load_info"), "first");
  EXPECT_EQ(call0(**v1, "priv_counts"), "{1,0,0}");
}

TEST(Loader, UpgradeNeedsAnUpgradeCallback) {
  NullHostServices host;
  auto v1 = NifLibrary::open(nif_path("nh_upgrade"), {.expected_module = "nh_upgrade"});
  ASSERT_TRUE(v1.has_value());
  ASSERT_TRUE((*v1)->load(&host, make_small(0)).has_value());
  // nh_load_fail has no upgrade callback (the module name is checked by open(),
  // which the caller of upgrade() has done for the module it replaces).
  auto same = NifLibrary::open(nif_path("nh_load_fail"), {});
  ASSERT_TRUE(same.has_value());
  auto r = (*same)->upgrade(**v1, &host, make_small(0));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(describe(r.error()), "upgrade Upgrade not supported by this NIF library.");
}

}  // namespace
}  // namespace nifhost::core
