// The library lifecycle on every backend, as a RapidCheck state machine:
// random sequences of load, call, upgrade (accepted, vetoed, or with the
// wrong module's library), unload and use of handles that went stale,
// checked step by step against a model of which module is loaded, at which
// version, how long its upgrade chain is, and which handles are stale.
#include <map>
#include <ostream>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/state.h>

#include "gen.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "proptest.hpp"

namespace nifhost::proptests {
namespace {

// The modules the machine loads: a plain suite, the two-release suite whose
// upgrades it follows, and a library on the metadata convention.
const std::vector<std::string> kModules = {"nh_terms", "nh_upgrade", "nh_meta"};

struct ModuleState {
  bool loaded = false;
  int version = 1;   // nh_upgrade: the release loaded now
  int upgrades = 0;  // nh_upgrade: accepted upgrades since the last load
};

struct LifecycleModel {
  std::map<std::string, ModuleState> modules;
  int stale = 0;  // stale function handles the system holds
};

// A plain bool for RC_PRE: RapidCheck captures each operand of an expression
// written inside it, so `it != end && it->second.loaded` there would
// dereference end().
bool loaded_in(const LifecycleModel& m, const std::string& module) {
  auto it = m.modules.find(module);
  return it != m.modules.end() && it->second.loaded;
}

struct LifecycleSut {
  explicit LifecycleSut(BackendKind kind) : host(kind) {}
  Host host;
  core::Heap heap;
  struct Stale {
    core::LibraryHandle library;
    core::FunctionHandle function;
    unsigned arity;
  };
  std::map<std::string, core::LibraryHandle> libraries;
  std::vector<Stale> stale;

  static unsigned probe_arity(const std::string& module) { return module == "nh_upgrade" ? 0 : 2; }
  // A function handle of a loaded library, to use (and later find stale).
  core::FunctionHandle probe_function(const std::string& module) {
    const core::LibraryHandle lib = libraries.at(module);
    if (module == "nh_terms") return host.function(lib, "add", 2);
    if (module == "nh_upgrade") return host.function(lib, "version", 0);
    return host.function(lib, "sum", 2);
  }
  // The module's handles are about to go stale.
  void retire(const std::string& module) {
    stale.push_back({libraries.at(module), probe_function(module), probe_arity(module)});
  }
};

using Command = rc::state::Command<LifecycleModel, LifecycleSut>;

std::string library_file(const std::string& module, int version) {
  return suite_path(module == "nh_upgrade" && version == 2 ? "nh_upgrade_v2" : module);
}

// Calls the module's probe function and checks the answer against the model.
void expect_answers(LifecycleSut& sut, const std::string& module, const ModuleState& state) {
  core::Heap& h = sut.heap;
  core::CallResult r;
  Term want;
  if (module == "nh_terms") {
    const std::int64_t a = pick<std::int64_t>(-1000, 1000), b = pick<std::int64_t>(-1000, 1000);
    Term args[] = {core::make_integer(h, a), core::make_integer(h, b)};
    r = sut.host.vm().call(sut.host.self(), sut.probe_function(module), args);
    want = core::make_integer(h, a + b);
  } else if (module == "nh_upgrade") {
    r = sut.host.vm().call(sut.host.self(), sut.probe_function(module), {});
    want = core::make_small(state.version);
    core::CallResult counts = sut.host.call(sut.libraries.at(module), "priv_counts", {});
    Term want_counts = core::make_tuple(h, {core::make_small(1), core::make_small(state.upgrades),
                                            core::make_small(state.upgrades)});
    if (!counts.ok() || !core::identical(counts.value(), want_counts))
      RC_FAIL(fmt::format("nh_upgrade:priv_counts() = {}, the model says {}", show(counts),
                          core::print_term(want_counts)));
  } else {
    Term args[] = {core::make_small(40), core::make_small(2)};
    r = sut.host.vm().call(sut.host.self(), sut.probe_function(module), args);
    want = core::make_small(42);
  }
  if (!r.ok() || !core::identical(r.value(), want))
    RC_FAIL(fmt::format("{}: {}, the model says {}", module, show(r), core::print_term(want)));
}

struct Load : Command {
  std::string module = *rc::gen::elementOf(kModules);
  void apply(LifecycleModel& m) const override {
    ModuleState& s = m.modules[module];
    if (!s.loaded) s = ModuleState{true, 1, 0};
  }
  void run(const LifecycleModel& m, LifecycleSut& sut) const override {
    auto it = m.modules.find(module);
    const bool loaded = it != m.modules.end() && it->second.loaded;
    auto r = sut.host.backend().load(library_spec(library_file(module, 1)));
    if (loaded) {
      // The BEAM refuses a second load of a module's NIFs.
      if (r || r.error().code != core::LoadErrc::kReload)
        RC_FAIL("a second load of " + module + ": " + (r ? "accepted" : r.error().message()));
      return;
    }
    if (!r) RC_FAIL("load " + module + ": " + r.error().message());
    for (const auto& [other, handle] : sut.libraries)
      if (handle == *r) RC_FAIL("a new load reuses the handle of " + other);
    for (const auto& stale : sut.stale)
      if (stale.library == *r) RC_FAIL("a new load reuses a stale handle");
    sut.libraries[module] = *r;
    expect_answers(sut, module, ModuleState{true, 1, 0});
  }
  void show(std::ostream& os) const override { os << "load " << module; }
};

struct Unload : Command {
  std::string module = *rc::gen::elementOf(kModules);
  void checkPreconditions(const LifecycleModel& m) const override { RC_PRE(loaded_in(m, module)); }
  void apply(LifecycleModel& m) const override {
    m.modules[module].loaded = false;
    m.stale += 1;
  }
  void run(const LifecycleModel&, LifecycleSut& sut) const override {
    sut.retire(module);
    if (auto r = sut.host.backend().unload(sut.libraries.at(module)); !r)
      RC_FAIL("unload " + module + ": " + r.error().message());
    sut.libraries.erase(module);
  }
  void show(std::ostream& os) const override { os << "unload " << module; }
};

struct Call : Command {
  std::string module = *rc::gen::elementOf(kModules);
  void checkPreconditions(const LifecycleModel& m) const override { RC_PRE(loaded_in(m, module)); }
  void run(const LifecycleModel& m, LifecycleSut& sut) const override {
    expect_answers(sut, module, m.modules.at(module));
  }
  void show(std::ostream& os) const override { os << "call " << module; }
};

// nh_upgrade to its other release; or vetoed by its upgrade callback.
struct Upgrade : Command {
  bool veto = one_in(4);
  int code = pick(1, 100);
  void checkPreconditions(const LifecycleModel& m) const override {
    RC_PRE(loaded_in(m, "nh_upgrade"));
  }
  void apply(LifecycleModel& m) const override {
    if (veto) return;
    ModuleState& s = m.modules["nh_upgrade"];
    s.version = 3 - s.version;
    s.upgrades += 1;
    m.stale += 1;
  }
  void run(const LifecycleModel& m, LifecycleSut& sut) const override {
    const ModuleState& s = m.modules.at("nh_upgrade");
    core::LibrarySpec spec = library_spec(library_file("nh_upgrade", 3 - s.version));
    if (veto)
      spec.load_info_etf =
          etf(core::make_tuple(sut.heap, {core::atom("fail"), core::make_small(code)}));
    const LifecycleSut::Stale old{sut.libraries.at("nh_upgrade"), sut.probe_function("nh_upgrade"),
                                  0};
    auto r = sut.host.backend().upgrade(old.library, spec);
    if (veto) {
      if (r || r.error().code != core::LoadErrc::kUpgrade)
        RC_FAIL("a vetoed upgrade: " + (r ? std::string("accepted") : r.error().message()));
      expect_answers(sut, "nh_upgrade", s);  // the old release carries on
      return;
    }
    if (!r) RC_FAIL("upgrade: " + r.error().message());
    sut.stale.push_back(old);
    sut.libraries["nh_upgrade"] = *r;
    expect_answers(sut, "nh_upgrade", ModuleState{true, 3 - s.version, s.upgrades + 1});
  }
  void show(std::ostream& os) const override {
    os << (veto ? fmt::format("upgrade nh_upgrade vetoed ({})", code) : "upgrade nh_upgrade");
  }
};

// An upgrade with another module's library is refused and changes nothing.
struct UpgradeWithWrongModule : Command {
  std::string module = *rc::gen::elementOf(kModules);
  void checkPreconditions(const LifecycleModel& m) const override { RC_PRE(loaded_in(m, module)); }
  void run(const LifecycleModel& m, LifecycleSut& sut) const override {
    const std::string other = module == "nh_terms" ? "nh_meta" : "nh_terms";
    auto r =
        sut.host.backend().upgrade(sut.libraries.at(module), library_spec(library_file(other, 1)));
    if (r) RC_FAIL("upgrading " + module + " with " + other + "'s library was accepted");
    expect_answers(sut, module, m.modules.at(module));
  }
  void show(std::ostream& os) const override {
    os << "upgrade " << module << " with another module";
  }
};

// Every stale handle is refused (never followed), whatever was loaded since.
struct UseStaleHandles : Command {
  void checkPreconditions(const LifecycleModel& m) const override { RC_PRE(m.stale > 0); }
  void run(const LifecycleModel& m, LifecycleSut& sut) const override {
    if (static_cast<int>(sut.stale.size()) != m.stale)
      RC_FAIL(fmt::format("{} stale handles, the model says {}", sut.stale.size(), m.stale));
    for (const auto& stale : sut.stale) {
      Term args[] = {core::make_small(1), core::make_small(2)};
      core::CallResult r = sut.host.vm().call(sut.host.self(), stale.function,
                                              std::span<const Term>(args, stale.arity));
      const auto* failure = std::get_if<core::ContainedFailure>(&r.outcome);
      if (failure == nullptr) RC_FAIL("a stale handle was followed: " + proptests::show(r));
      const Term why = failure->reason;
      if (!core::is_tuple(why) || core::tuple_arity(why) != 4 ||
          core::tuple_elements(why)[0] != core::atoms::kNifhost ||
          core::tuple_elements(why)[3] != core::atom("stale_handle"))
        RC_FAIL("a stale handle failed with " + core::print_term(why));
      const core::LibraryHandle lib = stale.library;
      auto info = sut.host.backend().info(lib);
      if (info || info.error().code != core::LoadErrc::kNotLoaded)
        RC_FAIL("info() of a stale handle: " + (info ? info->module : info.error().message()));
      if (sut.host.backend().lookup(lib, "add", 2)) RC_FAIL("lookup() through a stale handle");
      auto unload = sut.host.backend().unload(lib);
      if (unload || unload.error().code != core::LoadErrc::kNotLoaded)
        RC_FAIL("unload() of a stale handle did not say kNotLoaded");
    }
  }
  void show(std::ostream& os) const override { os << "use every stale handle"; }
};

class LifecycleProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(LifecycleProps, HandlesFollowTheModel) {
  const BackendKind kind = GetParam();
  check_property(
      12,
      [kind] {
        LifecycleSut sut(kind);
        rc::state::check(
            LifecycleModel{}, sut,
            rc::state::gen::execOneOfWithArgs<Load, Unload, Call, Upgrade, UpgradeWithWrongModule,
                                              UseStaleHandles>());
      },
      Shrink::kYes);
}

NIFHOST_FOR_EVERY_BACKEND(LifecycleProps);

}  // namespace
}  // namespace nifhost::proptests
