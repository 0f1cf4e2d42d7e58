#pragma once
// enif_runtime.hpp — private glue between the runtime half of the enif ABI
// (envs, resources, threads, the VM services, the call dispatcher).
//
//   CallContextScope ctx(&lib, &host);        // what a NULL-env enif call falls back to
//   HostServices* host = runtime::host_for(env);
//
// The call context is what a thread is doing on behalf of which library and
// VM: run_nif sets it for a call (and on the dirty thread that runs it),
// enif_thread_create hands the creator's to the new thread, and resource
// callbacks run under their owner's. Functions that may get a NULL env
// (enif_send from a created thread, enif_whereis_pid, enif_alloc_env) take
// their host from it, then from the process-wide default (set_default_host).
#include <cstdint>
#include <cstring>
#include <functional>

#include "nifhost/core/env.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

class Resource;

namespace runtime {

struct CallContext {
  LibraryContext* library = nullptr;
  HostServices* host = nullptr;
};

// The calling thread's context (both null when nothing set it).
CallContext current_context();

class CallContextScope {
 public:
  CallContextScope(LibraryContext* library, HostServices* host);
  explicit CallContextScope(CallContext context)
      : CallContextScope(context.library, context.host) {}
  ~CallContextScope();
  CallContextScope(const CallContextScope&) = delete;
  CallContextScope& operator=(const CallContextScope&) = delete;

 private:
  CallContext previous_;
};

// The host for a call that got `env` (may be null): the env's, else the
// thread's context, else the process default. May be null: no VM to ask.
HostServices* host_for(const ErlNifEnv* env);

// Runs `job` on a dirty CPU or dirty IO pool thread (ThreadRole says which)
// and waits for it. Pools start on first use.
void run_dirty(ThreadRole role, const std::function<void()>& job);
unsigned dirty_cpu_threads();
unsigned dirty_io_threads();
unsigned normal_scheduler_threads();

// Monitors held by resources (kept in resource.cpp, beside the destructor
// that must drop them). A resource's monitors do not keep it alive: when it
// goes, its monitors are removed through the host that made them.
// enif_monitor_process brackets the host's monitor_process call with these,
// so a process that exits before the answer still gets its down callback.
// begin_monitor is false (and nothing is to be ended) when out of memory.
bool begin_monitor(Resource& resource);
void end_monitor(Resource& resource, bool established, MonitorId monitor, Term pid,
                 HostServices* host);
// Forgets an active monitor; false if it was not active (fired or removed).
bool remove_monitor(Resource& resource, MonitorId monitor, HostServices** host);

// ErlNifMonitor carries the host's MonitorId in its first bytes, the rest zero.
inline ErlNifMonitor to_nif_monitor(MonitorId id) {
  ErlNifMonitor m;
  std::memset(&m, 0, sizeof m);
  std::memcpy(m.data, &id.value, sizeof id.value);
  return m;
}
inline MonitorId from_nif_monitor(const ErlNifMonitor& m) {
  MonitorId id;
  std::memcpy(&id.value, m.data, sizeof id.value);
  return id;
}

}  // namespace runtime
}  // namespace nifhost::core
