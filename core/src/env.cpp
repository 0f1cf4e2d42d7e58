// What a thread is doing for the enif ABI: its role (enif_thread_type) and
// its call context (the library and VM a NULL-env call belongs to).
#include "nifhost/core/env.hpp"

#include <atomic>

#include "enif_runtime.hpp"
#include "nifhost/core/nif_call.hpp"

namespace nifhost::core {

namespace {
thread_local ThreadRole t_role = ThreadRole::kNone;
thread_local runtime::CallContext t_context;
std::atomic<HostServices*> g_default_host{nullptr};
}  // namespace

ThreadRole current_thread_role() { return t_role; }

ThreadRoleScope::ThreadRoleScope(ThreadRole role) : previous_(t_role) { t_role = role; }
ThreadRoleScope::~ThreadRoleScope() { t_role = previous_; }

void set_default_host(HostServices* host) { g_default_host.store(host, std::memory_order_release); }
HostServices* default_host() { return g_default_host.load(std::memory_order_acquire); }

namespace runtime {

CallContext current_context() { return t_context; }

CallContextScope::CallContextScope(LibraryContext* library, HostServices* host)
    : previous_(t_context) {
  t_context = CallContext{library, host};
}
CallContextScope::~CallContextScope() { t_context = previous_; }

HostServices* host_for(const ErlNifEnv* env) {
  if (env != nullptr && env->host != nullptr) return env->host;
  if (t_context.host != nullptr) return t_context.host;
  if (env != nullptr && env->library != nullptr && env->library->host != nullptr)
    return env->library->host;
  if (t_context.library != nullptr && t_context.library->host != nullptr)
    return t_context.library->host;
  return default_host();
}

}  // namespace runtime
}  // namespace nifhost::core
