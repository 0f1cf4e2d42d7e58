#pragma once
// proptests/support/proptest.hpp — what every cross-backend property shares.
//
// A property is written once as a value-parameterised test over BackendKind
// and instantiated for every kind the selector says is available here, so a
// new backend joins every property by its one row in backends/src/select.cpp.
// Calls run in the model VM (a Host) on behalf of one of its processes; the
// reference is a model computed in C++ and Debian's real BEAM, asked through
// the oracle in batches (one erl round trip per batch of cases).
//
//   TEST_P(MyProps, EchoIsIdentity) { Host host(GetParam()); auto lib = host.load("nh_terms"); }
//   NIFHOST_FOR_EVERY_BACKEND(MyProps);
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <rapidcheck.h>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"
#include "nifhost/model/vm.hpp"
#include "nifhost/testing/beam_oracle.hpp"

namespace nifhost::proptests {

using core::BackendKind;
using core::Term;
using testing::Bytes;

// ------------------------------------------------------------------ where things are

// ${NIFHOST_BINARY_DIR}/nifs/<suite>.so, and the same path without ".so"
// (what erlang:load_nif/2 takes).
std::string suite_path(std::string_view suite);
std::string suite_stem(std::string_view suite);

// Debian's NIF libraries, unmodified (stem: the path without ".so").
struct RealLibrary {
  const char* module;
  const char* stem;
  std::string path() const { return std::string(stem) + ".so"; }
};
inline constexpr RealLibrary kJiffy{"jiffy", "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy"};
inline constexpr RealLibrary kFxml{"fxml", "/usr/lib/erlang/lib/p1_xml-1.1.49/priv/lib/fxml"};
inline constexpr RealLibrary kStringprep{
    "stringprep", "/usr/lib/erlang/lib/p1_stringprep-1.0.29/priv/lib/stringprep"};

// ------------------------------------------------------------------ backends

// The kinds every property runs on: those the selector can create here.
std::vector<BackendKind> backend_kinds();
// "inproc", "process", "shm": test names for the instantiations.
std::string backend_param_name(const ::testing::TestParamInfo<BackendKind>& info);

#define NIFHOST_FOR_EVERY_BACKEND(Suite)                                               \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                            \
                           ::testing::ValuesIn(::nifhost::proptests::backend_kinds()), \
                           ::nifhost::proptests::backend_param_name)

// A test failure in the harness itself (a library that does not load, a
// function that is not there): thrown, so it fails a plain test and a
// RapidCheck case alike, with the reason as its message.
class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A spec for a library path (module: the one it is loaded for; empty: its own).
core::LibrarySpec library_spec(std::string path, std::string module = "");

// The model VM on one backend, with a process that calls run as by default.
class Host {
 public:
  explicit Host(BackendKind kind);
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  BackendKind kind() const { return kind_; }
  model::Vm& vm() { return *vm_; }
  core::Backend& backend() { return vm_->backend(); }
  model::Process& self() { return *self_; }

  // Loads a NIF suite by name (nifs/<suite>.so) or any spec; throws HarnessError.
  core::LibraryHandle load(std::string_view suite);
  core::LibraryHandle load_spec(const core::LibrarySpec& spec);

  core::FunctionHandle function(core::LibraryHandle lib, std::string_view name, unsigned arity);
  core::CallResult call(model::Process& caller, core::LibraryHandle lib, std::string_view name,
                        std::span<const Term> args);
  core::CallResult call(model::Process& caller, core::LibraryHandle lib, std::string_view name,
                        std::initializer_list<Term> args) {
    return call(caller, lib, name, std::span<const Term>(args.begin(), args.size()));
  }
  core::CallResult call(core::LibraryHandle lib, std::string_view name,
                        std::span<const Term> args) {
    return call(*self_, lib, name, args);
  }
  core::CallResult call(core::LibraryHandle lib, std::string_view name,
                        std::initializer_list<Term> args) {
    return call(*self_, lib, name, std::span<const Term>(args.begin(), args.size()));
  }
  // Arguments as Erlang text, e.g. "[1, {a, b}]", parsed onto self()'s heap.
  core::CallResult call_text(core::LibraryHandle lib, std::string_view name,
                             std::string_view args_text);

 private:
  BackendKind kind_;
  std::unique_ptr<model::Vm> vm_;
  model::Process* self_ = nullptr;
};

// ------------------------------------------------------------------ outcomes

// term_to_binary bytes of t (throws HarnessError for a term ETF cannot carry).
Bytes etf(Term t);
// The ETF of the list of args (what the oracle's `call` takes).
Bytes args_etf(std::span<const Term> args);
// Text for failure messages: "value T", "exception Class:Reason", "contained R (detail)".
std::string show(const core::CallResult& r);
std::string show_args(std::span<const Term> args);
// The terms of a list, in order (throws HarnessError if it is not a proper list).
std::vector<Term> list_elements(Term list);

// Kinds of outcome, to state what a property expects without its terms.
bool is_exception(const core::CallResult& r, std::string_view klass, Term reason);
bool is_badarg(const core::CallResult& r);
bool is_contained(const core::CallResult& r);

// ------------------------------------------------------------------ the real BEAM

// The oracle this test program shares (started on first use).
testing::BeamOracle& beam();
// Loads a library into the oracle for `module` with these functions, once
// per program (a second request for the same module is a no-op).
void beam_load(std::string_view stem, std::string_view module,
               std::span<const core::FunctionInfo> functions);
// Loads a library again even if the module is loaded (the BEAM's upgrade),
// with a load info term; returns the oracle's error text, empty on success.
std::string beam_reload(std::string_view stem, std::string_view module,
                        std::span<const core::FunctionInfo> functions, const Bytes& load_info);

struct BeamRequest {
  std::string module;
  std::string function;
  Bytes args;  // ETF of the argument list
};
// Runs every request in the oracle's caller process, in order, in one round
// trip. Throws HarnessError if the oracle fails (not if a call raises).
std::vector<testing::CallOutcome> beam_calls(const std::vector<BeamRequest>& requests);
// Extra raw request lines (flush, ...) may ride in the same round trip.
std::vector<std::string> beam_pipeline(const std::vector<std::string>& lines);

// Empty if our outcome is the BEAM's (same class and term_to_binary bytes),
// else a sentence saying how they differ. A map of more than 32 keys holding
// atoms, pids or ports is kept in an order particular to each VM (the BEAM's
// internal hash of those is their index in its tables), so a term holding
// one is compared as a term (=:=) when the bytes differ.
std::string beam_mismatch(const core::CallResult& ours, const testing::CallOutcome& theirs);
// The same comparison for one term and the ETF the BEAM sent.
bool beam_same_term(Term mine, const Bytes& theirs);

// ------------------------------------------------------------------ running properties

// The parameters for a property run `runs` times: RapidCheck's configuration
// (RC_PARAMS: seed, max_size, ...) except that max_success is `runs` unless
// RC_PARAMS sets it.
rc::detail::TestParams property_params(int runs);

// Whether a failing run is shrunk. A batched property names the failing call
// and its arguments itself, and shrinking it would re-run whole batches (and
// BEAM round trips) thousands of times, so it is not shrunk unless the
// environment asks for it (NIFHOST_PROPTEST_SHRINK=1).
enum class Shrink { kNo, kYes };
// True if NIFHOST_PROPTEST_SHRINK=1.
bool shrinking_requested();
// Reports a RapidCheck result as a GoogleTest failure (with the counterexample).
void report_property(const rc::detail::TestResult& result);

// Runs a RapidCheck property a fixed number of times. Each run of a batched
// property covers many cases, so the count stays small and the time bounded.
template <class Property>
void check_property(int runs, Property&& property, Shrink shrink = Shrink::kNo) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestParams params = property_params(runs);
  if (shrink == Shrink::kNo && !shrinking_requested()) params.disableShrinking = true;
  report_property(rc::detail::checkTestable(std::forward<Property>(property), metadata, params));
}

}  // namespace nifhost::proptests
