#pragma once
// nifhost/core/env.hpp — ErlNifEnv and the per-library state the enif ABI needs.
//
// erl_nif.h declares `typedef struct enif_environment_t ErlNifEnv;` and leaves
// it opaque; this is its definition. An env is a heap plus the pending
// exception, the library's private data and the owning process:
//   - process-bound: built by the caller for one NIF call, on the calling
//     process's heap (Caller::heap); lives for that call;
//   - callback: for load/upgrade/unload, resource destructors and down
//     callbacks; no process;
//   - allocated: enif_alloc_env; owns its heap; lives until enif_free_env.
//
//   nifhost::core::EnvScope env(EnvKind::kProcessBound, *caller.heap, &library, host, caller.self);
//   ERL_NIF_TERM r = fn->fptr(env.get(), argc, argv);
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/term.hpp"

extern "C" {
#include <erl_nif.h>
}

namespace nifhost::core {

class ResourceTypeRegistry;

// What the enif ABI keeps for each loaded library instance.
struct LibraryContext {
  std::string module;  // the module name from the ErlNifEntry
  Term module_atom = kNilTerm;
  void* priv_data = nullptr;  // set by load/upgrade, read by enif_priv_data
  HostServices* host = nullptr;
  // Resource types opened by this instance (enif_open_resource_type[_x|_y]);
  // allowed only while load/upgrade runs, as in the BEAM.
  bool opening_resource_types = false;
};

enum class EnvKind : std::uint8_t { kProcessBound, kCallback, kAllocated };

// Which kind of thread runs NIF code now (enif_thread_type).
enum class ThreadRole : std::uint8_t { kNone, kNormalScheduler, kDirtyCpu, kDirtyIo };
ThreadRole current_thread_role();
// Sets the calling thread's role for the scope's lifetime.
class ThreadRoleScope {
 public:
  explicit ThreadRoleScope(ThreadRole role);
  ~ThreadRoleScope();
  ThreadRoleScope(const ThreadRoleScope&) = delete;
  ThreadRoleScope& operator=(const ThreadRoleScope&) = delete;

 private:
  ThreadRole previous_;
};

// A call a NIF asked for with enif_schedule_nif, run by the dispatcher after
// the current NIF returns (see nif_call.hpp).
struct ScheduledNif {
  std::string name;
  int flags = 0;
  ERL_NIF_TERM (*fptr)(ErlNifEnv*, int, const ERL_NIF_TERM[]) = nullptr;
  std::vector<Term> argv;
};

}  // namespace nifhost::core

struct enif_environment_t {
  nifhost::core::EnvKind kind = nifhost::core::EnvKind::kCallback;
  nifhost::core::Heap* heap = nullptr;               // where this env's terms live
  std::unique_ptr<nifhost::core::Heap> owned_heap;   // allocated envs own theirs
  nifhost::core::LibraryContext* library = nullptr;  // null for allocated envs
  nifhost::core::HostServices* host = nullptr;
  nifhost::core::Term self = nifhost::core::kNilTerm;  // owning process (process-bound)
  bool exception_pending = false;
  nifhost::core::Term exception_reason = nifhost::core::kNilTerm;
  std::optional<nifhost::core::ScheduledNif> scheduled;
  // Buffers that live as long as the env (enif_inspect_iolist_as_binary).
  std::vector<std::unique_ptr<std::uint8_t[]>> temp_buffers;
  // Set by the dispatcher for the duration of a NIF call (enif_consume_timeslice).
  int timeslice_percent_used = 0;
};

namespace nifhost::core {

// An env for the duration of a scope (process-bound and callback envs).
class EnvScope {
 public:
  EnvScope(EnvKind kind, Heap& heap, LibraryContext* library, HostServices* host,
           Term self = kNilTerm) {
    env_.kind = kind;
    env_.heap = &heap;
    env_.library = library;
    env_.host = host;
    env_.self = self;
  }
  ErlNifEnv* get() { return &env_; }
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

 private:
  ErlNifEnv env_;
};

}  // namespace nifhost::core
