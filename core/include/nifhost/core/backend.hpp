#pragma once
// nifhost/core/backend.hpp — the one small contract every isolation design meets.
//
// A backend loads NIF libraries and calls their functions for a VM. Where the
// native code runs (the host, a worker process) and how a call travels (a C
// call, a socket, shared-memory rings) is the backend's business; the VM sees
// only this interface, and picks an implementation at run time by kind.
//
//   auto backend = nifhost::backends::make_backend(BackendKind::kProcess, vm);
//   auto lib = backend->load({.path = "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy.so"});
//   CallResult r = backend->call(*fn, caller, args);
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

enum class BackendKind { kInproc, kProcess, kShm };
const char* backend_name(BackendKind kind);
// "inproc", "process" or "shm".
std::optional<BackendKind> parse_backend_kind(std::string_view name);

// What to load, and the limits an isolated backend enforces on it.
struct LibrarySpec {
  std::filesystem::path path;
  // The module the library is loaded for (erlang:load_nif/2's calling module):
  // the entry's name must match. Empty: accept the library's own name.
  std::string module;
  // ETF bytes of the term passed to the library's load callback (empty: 0).
  std::vector<std::uint8_t> load_info_etf;
  // Isolation domain: libraries with the same non-empty domain share a worker.
  std::string domain;
  // Per-call deadline (isolated backends); zero means none.
  std::chrono::milliseconds call_deadline{0};
  // Worker limits (isolated backends); zero means none.
  std::uint64_t address_space_limit_bytes = 0;
  std::uint64_t cpu_limit_seconds = 0;
  // Restart budget: at most `max_restarts` within `restart_period`, as an OTP
  // supervisor's intensity and period.
  int max_restarts = 5;
  std::chrono::milliseconds restart_period{10'000};
};

// Handles are indexes plus generations: a stale one is refused, never followed.
struct LibraryHandle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  friend bool operator==(const LibraryHandle&, const LibraryHandle&) = default;
};
struct FunctionHandle {
  LibraryHandle library;
  std::uint32_t index = 0;
  friend bool operator==(const FunctionHandle&, const FunctionHandle&) = default;
};

struct FunctionInfo {
  std::string name;
  unsigned arity = 0;
  unsigned flags = 0;  // 0, ERL_NIF_DIRTY_JOB_CPU_BOUND or ERL_NIF_DIRTY_JOB_IO_BOUND
};

struct LibraryInfo {
  std::string module;
  std::string path;
  int nif_major = 0, nif_minor = 0;  // the ErlNifEntry's version (0.0 for metadata libraries)
  std::string vm_variant;
  std::string min_erts;
  bool via_metadata = false;      // loaded through nif_get_metadata, not nif_init
  unsigned metadata_version = 0;  // the metadata table's abi_version (metadata libraries)
  std::string module_version;     // the metadata's module_version (metadata libraries)
  std::vector<FunctionInfo> functions;
};

// The VM process on whose behalf a call runs: results are built on its heap.
struct Caller {
  Heap* heap = nullptr;
  Term self = kNilTerm;  // its pid (a local pid term), or nil for none
  // Isolated backends: this call's deadline, overriding LibrarySpec::call_deadline
  // when non-zero. The in-process backend cannot interrupt a call and ignores it.
  std::chrono::milliseconds deadline{0};
};

// An Erlang exception as the NIF raised it.
struct Exception {
  Term klass;   // error | exit | throw
  Term reason;  // on the caller's heap
};

// The call never completed: the worker died, timed out or broke the protocol.
// `reason` is the Erlang term the VM raises as an error exception:
//   {nifhost, Module, Function, Why}, Why = {signal, 'SIGSEGV'} | {exit_status, N}
//   | timeout | {protocol, Text} | {restart_budget_exhausted, N} | stale_handle | ...
// (docs/errors.md lists every reason).
struct ContainedFailure {
  Term reason;
  std::string detail;  // a sentence for logs: what happened and why, plus worker stderr
};

struct CallResult {
  std::variant<Term, Exception, ContainedFailure> outcome;
  bool ok() const { return outcome.index() == 0; }
  Term value() const { return std::get<0>(outcome); }
};

struct BackendStats {
  std::uint64_t calls = 0;
  std::uint64_t exceptions = 0;
  std::uint64_t contained_failures = 0;
  std::uint64_t restarts = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;

  virtual tl::expected<LibraryHandle, LoadError> load(const LibrarySpec& spec) = 0;
  // Replaces a loaded library with a new version (the BEAM's upgrade callback).
  virtual tl::expected<LibraryHandle, LoadError> upgrade(LibraryHandle old,
                                                         const LibrarySpec& spec) = 0;
  virtual tl::expected<void, LoadError> unload(LibraryHandle lib) = 0;
  virtual tl::expected<LibraryInfo, LoadError> info(LibraryHandle lib) const = 0;
  virtual tl::expected<FunctionHandle, LoadError> lookup(LibraryHandle lib, std::string_view name,
                                                         unsigned arity) const = 0;
  // Calls a NIF. args live on caller.heap (or any heap that outlives the call).
  virtual CallResult call(FunctionHandle fn, const Caller& caller, std::span<const Term> args) = 0;
  virtual BackendStats stats() const = 0;
};

}  // namespace nifhost::core
