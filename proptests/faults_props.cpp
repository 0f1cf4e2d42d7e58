// What each native failure of nh_faults does to a host, per backend kind:
// one table, two columns. An in-process host inherits the failure (it dies
// with the fault's signal or exit status, hangs, has its memory written or
// read); an isolated host contains it (the caller gets a ContainedFailure,
// the host's memory is untouched, and the next call succeeds). Every call
// runs in a probe process, a fork of this test that hosts the library and
// reports what it saw, so the host that dies is never the test itself.
#include <csignal>
#include <cstdint>
#include <fstream>
#include <rapidcheck.h>
#include <string>
#include <sys/resource.h>
#include <tuple>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "gen.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "probe.hpp"
#include "proptest.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NIFHOST_PROBE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NIFHOST_PROBE_SANITIZED 1
#endif
#endif

#if defined(NIFHOST_PROBE_SANITIZED)
// A probe that ends with exit(N) inside a NIF leaves everything allocated;
// leak-checking it would turn its exit status into the leak checker's.
extern "C" int __lsan_is_turned_off() { return 1; }
#endif

namespace nifhost::proptests {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------------ the table

struct Outcome {
  enum class Kind {
    kSignal,            // the host dies with `code`
    kExit,              // the host exits with status `code`
    kHang,              // the call never returns
    kValue,             // the call returns a value whose text starts with `text`
    kContained,         // the caller gets {nifhost, nh_faults, Function, Why}, Why's text is `text`
    kValueOrContained,  // either (what the worker's memory happens to hold decides)
  };
  Kind kind;
  int code = 0;
  std::string text;
};

Outcome dies(int signal) { return {Outcome::Kind::kSignal, signal, ""}; }
Outcome exits(int status) { return {Outcome::Kind::kExit, status, ""}; }
Outcome hangs() { return {Outcome::Kind::kHang, 0, ""}; }
Outcome returns(std::string prefix) { return {Outcome::Kind::kValue, 0, std::move(prefix)}; }
Outcome contained(std::string why) { return {Outcome::Kind::kContained, 0, std::move(why)}; }

struct Fault {
  const char* name;       // test name
  const char* function;   // nh_faults function
  const char* args;       // argument list as Erlang text
  Outcome propagated;     // inproc
  Outcome isolated;       // process, shm
  bool under_sanitizers;  // a sanitizer runtime would change what happens
};

const Fault kFaults[] = {
    {"segfault", "segfault", "[]", dies(SIGSEGV), contained("{signal,'SIGSEGV'}"), true},
    {"abort", "abort", "[]", dies(SIGABRT), contained("{signal,'SIGABRT'}"), true},
    {"divide_by_zero", "divide_by_zero", "[]", dies(SIGFPE), contained("{signal,'SIGFPE'}"), true},
    {"stack_overflow", "stack_overflow", "[0]", dies(SIGSEGV), contained("{signal,'SIGSEGV'}"),
     true},
    {"deep_but_bounded_recursion", "stack_overflow", "[1000]", returns("{depth,1000}"),
     returns("{depth,1000}"), true},
    // glibc detects the second free and aborts (a sanitizer's allocator reports it instead).
    {"double_free", "double_free", "[]", dies(SIGABRT), contained("{signal,'SIGABRT'}"), false},
    {"exit", "exit", "[3]", exits(3), contained("{exit_status,3}"), true},
    {"raise_sigkill", "raise_signal", "[9]", dies(SIGKILL), contained("{signal,'SIGKILL'}"), true},
    {"raise_sigterm", "raise_signal", "[15]", dies(SIGTERM), contained("{signal,'SIGTERM'}"), true},
    // No env in a created thread: the misuse dereferences NULL, in that thread
    // (inside the enif ABI, where UBSan, which the ASan build carries, reports
    // it and exits instead).
    {"raise_from_thread", "raise_from_thread", "[]", dies(SIGSEGV), contained("{signal,'SIGSEGV'}"),
     false},
    {"infinite_loop", "infinite_loop", "[]", hangs(), contained("timeout"), true},
    // Under RLIMIT_AS malloc fails and the bomb returns; the memory it took
    // was the host's own in-process. (Sanitizer runtimes reserve terabytes
    // of shadow memory, which no RLIMIT_AS leaves room for.)
    {"memory_bomb",
     "memory_bomb",
     "[]",
     returns("{out_of_memory,"),
     {Outcome::Kind::kValueOrContained, 0, "{out_of_memory,"},
     false},
    // Garbage over the shm backend's shared segment, from inside a worker
    // that maps it (none in-process, or in a process backend's worker):
    // whatever the call returns, the host survives and the next call works.
    {"scribble_shm",
     "scribble_shm",
     "[]",
     returns("no_segment"),
     {Outcome::Kind::kValueOrContained, 0, ""},
     true},
    {"sleep", "sleep_ms", "[20]", returns("ok"), returns("ok"), true},
    {"ok", "ok", "[]", returns("ok"), returns("ok"), true},
};

bool sanitized() {
#if defined(NIFHOST_PROBE_SANITIZED)
  return true;
#else
  return false;
#endif
}

const Outcome& expected(const Fault& f, BackendKind kind) {
  return kind == BackendKind::kInproc ? f.propagated : f.isolated;
}

// The isolated backends' limits for nh_faults. (A sanitized worker cannot
// start under RLIMIT_AS: its runtime reserves terabytes of shadow memory.)
core::LibrarySpec faults_spec() {
  core::LibrarySpec spec = library_spec(suite_path("nh_faults"));
  spec.call_deadline = 1000ms;
  if (!sanitized()) spec.address_space_limit_bytes = std::uint64_t{768} << 20;
  return spec;
}

// Address space the probe may grow by: room for the host, none for a bomb.
std::uint64_t address_space_now() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// "value T" | "exception C:R" | "contained Why" for a report line.
std::string report_of(const core::CallResult& r) {
  if (const auto* f = std::get_if<core::ContainedFailure>(&r.outcome)) {
    Term why = f->reason;
    if (core::is_tuple(why) && core::tuple_arity(why) == 4) why = core::tuple_elements(why)[3];
    return "contained " + core::print_term(why);
  }
  return show(r);
}

// Runs body in a probe that hosts nh_faults on `kind`; the body's report
// lines come back.
ProbeResult probe(BackendKind kind, const ProbeLimits& limits,
                  const std::function<void(Host&, core::LibraryHandle, ProbeReport&)>& body) {
  return run_probe(
      [&](ProbeReport& out) {
        Host host(kind);
        const core::LibraryHandle lib = host.load_spec(faults_spec());
        out.line("loaded");
        body(host, lib, out);
      },
      limits);
}

// ------------------------------------------------------------------ one fault, every backend

class FaultProps : public ::testing::TestWithParam<std::tuple<BackendKind, std::size_t>> {};

TEST_P(FaultProps, FaultHasItsOutcome) {
  const auto [kind, index] = GetParam();
  const Fault& fault = kFaults[index];
  if (sanitized() && !fault.under_sanitizers)
    GTEST_SKIP() << fault.name << " behaves differently under a sanitizer runtime";
  const Outcome& want = expected(fault, kind);

  ProbeLimits limits;
  limits.deadline = want.kind == Outcome::Kind::kHang ? 2s : 60s;
  if (std::string_view(fault.function) == "memory_bomb")
    limits.address_space_bytes = address_space_now() + (std::uint64_t{768} << 20);

  ProbeResult r = probe(kind, limits, [&](Host& host, core::LibraryHandle lib, ProbeReport& out) {
    out.line("calling");
    out.line("result " + report_of(host.call_text(lib, fault.function, fault.args)));
    out.line("next " + report_of(host.call(lib, "ok", {})));
  });
  SCOPED_TRACE(fmt::format("{} on {}: the probe {}; it reported: {}", fault.name,
                           core::backend_name(kind), r.describe(), fmt::join(r.lines, " | ")));
  ASSERT_TRUE(r.field("harness-error").empty()) << r.field("harness-error");
  // The library loaded and the fault was called: what follows is the fault's.
  ASSERT_FALSE(r.lines.empty());
  EXPECT_EQ(r.lines[0], "loaded");

  switch (want.kind) {
    case Outcome::Kind::kSignal:
      EXPECT_EQ(r.end, ProbeResult::End::kSignaled);
      EXPECT_EQ(signal_name(r.signal), signal_name(want.code));
      EXPECT_EQ(r.field("result"), "") << "the call returned to a host that should be dead";
      return;
    case Outcome::Kind::kExit:
      EXPECT_EQ(r.end, ProbeResult::End::kExited);
      EXPECT_EQ(r.exit_status, want.code);
      EXPECT_EQ(r.field("result"), "");
      return;
    case Outcome::Kind::kHang:
      EXPECT_EQ(r.end, ProbeResult::End::kHung);
      EXPECT_EQ(r.field("result"), "");
      return;
    default:
      break;
  }
  // The host survived the call and carries on.
  EXPECT_EQ(r.end, ProbeResult::End::kExited);
  EXPECT_EQ(r.exit_status, 0);
  const std::string result = r.field("result");
  const bool value = result.starts_with("value " + want.text);
  const bool contain = result == "contained " + want.text;
  switch (want.kind) {
    case Outcome::Kind::kValue:
      EXPECT_TRUE(value) << "expected a value starting " << want.text << ", got " << result;
      break;
    case Outcome::Kind::kContained:
      EXPECT_TRUE(contain) << "expected contained " << want.text << ", got " << result;
      break;
    default:
      EXPECT_TRUE(value || result.starts_with("contained "))
          << "expected a value starting " << want.text << " or a contained failure, got " << result;
  }
  if (std::string_view(fault.function) == "memory_bomb" && value) {
    // It got memory before it ran out: the bytes it reports are not zero.
    EXPECT_NE(result, "value {out_of_memory,0}");
  }
  EXPECT_EQ(r.field("next"), "value ok") << "the call after the fault";
}

std::string fault_param_name(
    const ::testing::TestParamInfo<std::tuple<BackendKind, std::size_t>>& info) {
  return std::string(core::backend_name(std::get<0>(info.param))) + "_" +
         kFaults[std::get<1>(info.param)].name;
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultProps,
                         ::testing::Combine(::testing::ValuesIn(backend_kinds()),
                                            ::testing::Range<std::size_t>(0, std::size(kFaults))),
                         fault_param_name);

// ------------------------------------------------------------------ memory of the host

class HostMemoryProps : public ::testing::TestWithParam<BackendKind> {};

// wild_write aimed at a canary in the host, and read_secret aimed at a
// secret in the host: in-process they hit (the canary holds the NIF's value,
// the secret comes back); isolated they cannot reach the host's memory.
TEST_P(HostMemoryProps, WildWritesAndReadsReachOnlyAnInProcessHost) {
  const BackendKind kind = GetParam();
  const bool inproc = kind == BackendKind::kInproc;
  check_property(6, [&] {
    const std::uint64_t canary = any_u64() | 1;
    const std::uint64_t value = ~canary;
    std::vector<std::uint8_t> secret(pick<std::size_t>(8, 64));
    for (auto& b : secret) b = static_cast<std::uint8_t>(pick(0, 256));
    const bool write = coin();

    ProbeResult r = probe(kind, {}, [&](Host& host, core::LibraryHandle lib, ProbeReport& out) {
      // Both live in the probe's heap, where the host keeps its own data.
      auto* cell = new std::uint64_t(canary);
      auto* kept = new std::vector<std::uint8_t>(secret);
      core::Heap& h = host.self().heap();
      if (write) {
        Term args[] = {core::make_unsigned(h, reinterpret_cast<std::uintptr_t>(cell)),
                       core::make_unsigned(h, value)};
        out.line("result " + report_of(host.call(lib, "wild_write", args)));
        out.line(std::string("canary ") + (*cell == canary  ? "intact"
                                           : *cell == value ? "overwritten"
                                                            : "changed"));
      } else {
        Term args[] = {core::make_unsigned(h, reinterpret_cast<std::uintptr_t>(kept->data())),
                       core::make_unsigned(h, kept->size())};
        core::CallResult got = host.call(lib, "read_secret", args);
        out.line("result " + report_of(got));
        const bool leaked =
            got.ok() && core::is_bitstring(got.value()) &&
            std::vector<std::uint8_t>(core::bitstring_view(got.value()).bytes().begin(),
                                      core::bitstring_view(got.value()).bytes().end()) == secret;
        out.line(std::string("secret ") + (leaked ? "returned" : "kept"));
      }
      out.line("next " + report_of(host.call(lib, "ok", {})));
    });
    const std::string what =
        fmt::format("{} on {}: the probe {}; it reported: {}", write ? "wild_write" : "read_secret",
                    core::backend_name(kind), r.describe(), fmt::join(r.lines, " | "));
    if (r.end != ProbeResult::End::kExited || r.exit_status != 0) RC_FAIL(what);
    if (r.field("next") != "value ok") RC_FAIL(what);
    if (write) {
      if (r.field("canary") != (inproc ? "overwritten" : "intact")) RC_FAIL(what);
      if (inproc && r.field("result") != "value ok") RC_FAIL(what);
    } else {
      if (r.field("secret") != (inproc ? "returned" : "kept")) RC_FAIL(what);
    }
    if (!inproc && !r.field("result").starts_with("value ") &&
        !r.field("result").starts_with("contained "))
      RC_FAIL(what);
  });
}

NIFHOST_FOR_EVERY_BACKEND(HostMemoryProps);

}  // namespace
}  // namespace nifhost::proptests
