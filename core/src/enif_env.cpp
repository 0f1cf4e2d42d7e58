// The enif ABI's environments and memory: enif_alloc_env, enif_free_env,
// enif_clear_env, enif_priv_data, enif_alloc, enif_realloc, enif_free.
#include <cstdlib>
#include <memory>
#include <new>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"

namespace core = nifhost::core;

namespace {

// What enif_clear_env forgets: every term, and the state a call left behind.
void reset_env(ErlNifEnv* env) {
  env->heap->clear();
  env->exception_pending = false;
  env->exception_reason = core::kNilTerm;
  env->scheduled.reset();
  env->temp_buffers.clear();
}

}  // namespace

extern "C" {

// A process-independent env. It takes the VM of the thread's current call
// (or the default host) so enif_send with it works from any thread.
ErlNifEnv* enif_alloc_env(void) {
  try {
    auto env = std::make_unique<ErlNifEnv>();
    env->kind = core::EnvKind::kAllocated;
    env->owned_heap = std::make_unique<core::Heap>();
    env->heap = env->owned_heap.get();
    env->host = core::runtime::host_for(nullptr);
    return env.release();
  } catch (const std::bad_alloc&) {
    return nullptr;  // the BEAM aborts here instead; NULL lets the NIF cope
  }
}

// Only envs from enif_alloc_env are freed; any other env belongs to its
// caller (the BEAM would crash on one).
void enif_free_env(ErlNifEnv* env) {
  if (env == nullptr || env->kind != core::EnvKind::kAllocated) return;
  delete env;
}

void enif_clear_env(ErlNifEnv* env) {
  if (env == nullptr || env->kind != core::EnvKind::kAllocated) return;
  reset_env(env);
}

void* enif_priv_data(ErlNifEnv* env) {
  if (env == nullptr || env->library == nullptr) return nullptr;
  return env->library->priv_data;
}

void* enif_alloc(size_t size) { return std::malloc(size == 0 ? 1 : size); }

void* enif_realloc(void* ptr, size_t size) { return std::realloc(ptr, size == 0 ? 1 : size); }

void enif_free(void* ptr) { std::free(ptr); }

}  // extern "C"
