// The enif ABI's threads and synchronisation: threads, mutexes, condition
// variables, rwlocks, thread-specific data and enif_thread_type.
//
// These are the erl_drv_* thread primitives of the BEAM (enif_* forward to
// them there), here directly on POSIX threads. Return values follow
// erl_driver's documentation: 0 or an errno value; NULL when creation fails.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <memory>
#include <new>
#include <pthread.h>
#include <string>

#include "enif_runtime.hpp"
#include "nifhost/core/env.hpp"

namespace core = nifhost::core;

// erl_nif.h names these opaque types after their erl_driver counterparts.
struct ErlDrvMutex_ {
  pthread_mutex_t mutex;
  std::string name;
};

struct ErlDrvCond_ {
  pthread_cond_t cond;
  std::string name;
};

struct ErlDrvRWLock_ {
  pthread_rwlock_t lock;
  std::string name;
};

// A thread identifier: the thread made by enif_thread_create (freed by
// enif_thread_join), or a per-thread one for threads it did not make.
struct ErlDrvTid_ {
  pthread_t thread{};
  std::string name;
  void* (*func)(void*) = nullptr;
  void* arg = nullptr;
  core::runtime::CallContext context;  // the creator's, handed to the thread
  bool created = false;                // made by enif_thread_create (joinable)
};

namespace {

thread_local ErlDrvTid_* t_self = nullptr;

// Copies a name the caller may free after the call (NULL stays empty).
std::string copy_name(const char* name) {
  return name != nullptr ? std::string(name) : std::string();
}

char* name_or_null(std::string& name) { return name.empty() ? nullptr : name.data(); }

void* thread_main(void* p) {
  auto* t = static_cast<ErlDrvTid_*>(p);
  t_self = t;
  // Linux limits a thread name to 15 bytes; it shows in ps and gdb.
  std::string os_name = t->name.substr(0, 15);
  if (!os_name.empty()) pthread_setname_np(pthread_self(), os_name.c_str());
  core::runtime::CallContextScope context(t->context);
  return t->func(t->arg);
}

// erl_drv_thread_create's stack size: suggested_stack_size is in kilowords;
// the BEAM bounds it to [4, 8192] kilowords. Negative means the default.
std::size_t stack_bytes(const ErlNifThreadOpts* opts) {
  if (opts == nullptr || opts->suggested_stack_size < 0) return 0;
  std::size_t kilowords =
      std::clamp<std::size_t>(static_cast<std::size_t>(opts->suggested_stack_size), 4, 8192);
  return std::max(kilowords * 1024 * sizeof(void*), static_cast<std::size_t>(PTHREAD_STACK_MIN));
}

}  // namespace

extern "C" {

// ---------------------------------------------------------------- mutexes

ErlNifMutex* enif_mutex_create(char* name) {
  auto* m = new (std::nothrow) ErlDrvMutex_();
  if (m == nullptr) return nullptr;
  if (pthread_mutex_init(&m->mutex, nullptr) != 0) {
    delete m;
    return nullptr;
  }
  try {
    m->name = copy_name(name);
  } catch (const std::bad_alloc&) {
    pthread_mutex_destroy(&m->mutex);
    delete m;
    return nullptr;
  }
  return m;
}

void enif_mutex_destroy(ErlNifMutex* mtx) {
  if (mtx == nullptr) return;
  pthread_mutex_destroy(&mtx->mutex);
  delete mtx;
}

int enif_mutex_trylock(ErlNifMutex* mtx) { return pthread_mutex_trylock(&mtx->mutex); }
void enif_mutex_lock(ErlNifMutex* mtx) { pthread_mutex_lock(&mtx->mutex); }
void enif_mutex_unlock(ErlNifMutex* mtx) { pthread_mutex_unlock(&mtx->mutex); }
char* enif_mutex_name(ErlNifMutex* mtx) { return mtx ? name_or_null(mtx->name) : nullptr; }

// ---------------------------------------------------------------- condition variables

ErlNifCond* enif_cond_create(char* name) {
  auto* c = new (std::nothrow) ErlDrvCond_();
  if (c == nullptr) return nullptr;
  if (pthread_cond_init(&c->cond, nullptr) != 0) {
    delete c;
    return nullptr;
  }
  try {
    c->name = copy_name(name);
  } catch (const std::bad_alloc&) {
    pthread_cond_destroy(&c->cond);
    delete c;
    return nullptr;
  }
  return c;
}

void enif_cond_destroy(ErlNifCond* cnd) {
  if (cnd == nullptr) return;
  pthread_cond_destroy(&cnd->cond);
  delete cnd;
}

void enif_cond_signal(ErlNifCond* cnd) { pthread_cond_signal(&cnd->cond); }
void enif_cond_broadcast(ErlNifCond* cnd) { pthread_cond_broadcast(&cnd->cond); }
// May wake spuriously, as erl_drv_cond_wait documents.
void enif_cond_wait(ErlNifCond* cnd, ErlNifMutex* mtx) {
  pthread_cond_wait(&cnd->cond, &mtx->mutex);
}
char* enif_cond_name(ErlNifCond* cnd) { return cnd ? name_or_null(cnd->name) : nullptr; }

// ---------------------------------------------------------------- rwlocks

ErlNifRWLock* enif_rwlock_create(char* name) {
  auto* l = new (std::nothrow) ErlDrvRWLock_();
  if (l == nullptr) return nullptr;
  if (pthread_rwlock_init(&l->lock, nullptr) != 0) {
    delete l;
    return nullptr;
  }
  try {
    l->name = copy_name(name);
  } catch (const std::bad_alloc&) {
    pthread_rwlock_destroy(&l->lock);
    delete l;
    return nullptr;
  }
  return l;
}

void enif_rwlock_destroy(ErlNifRWLock* rwlck) {
  if (rwlck == nullptr) return;
  pthread_rwlock_destroy(&rwlck->lock);
  delete rwlck;
}

int enif_rwlock_tryrlock(ErlNifRWLock* rwlck) { return pthread_rwlock_tryrdlock(&rwlck->lock); }
void enif_rwlock_rlock(ErlNifRWLock* rwlck) { pthread_rwlock_rdlock(&rwlck->lock); }
void enif_rwlock_runlock(ErlNifRWLock* rwlck) { pthread_rwlock_unlock(&rwlck->lock); }
int enif_rwlock_tryrwlock(ErlNifRWLock* rwlck) { return pthread_rwlock_trywrlock(&rwlck->lock); }
void enif_rwlock_rwlock(ErlNifRWLock* rwlck) { pthread_rwlock_wrlock(&rwlck->lock); }
void enif_rwlock_rwunlock(ErlNifRWLock* rwlck) { pthread_rwlock_unlock(&rwlck->lock); }
char* enif_rwlock_name(ErlNifRWLock* rwlck) { return rwlck ? name_or_null(rwlck->name) : nullptr; }

// ---------------------------------------------------------------- thread-specific data

int enif_tsd_key_create(char* name, ErlNifTSDKey* key) {
  (void)name;  // only the BEAM's lock checker uses it
  pthread_key_t k;
  int rc = pthread_key_create(&k, nullptr);
  if (rc != 0) return rc;
  if (k > static_cast<pthread_key_t>(INT_MAX)) {
    pthread_key_delete(k);
    return EAGAIN;
  }
  *key = static_cast<ErlNifTSDKey>(k);
  return 0;
}

void enif_tsd_key_destroy(ErlNifTSDKey key) { pthread_key_delete(static_cast<pthread_key_t>(key)); }

void enif_tsd_set(ErlNifTSDKey key, void* data) {
  pthread_setspecific(static_cast<pthread_key_t>(key), data);
}

void* enif_tsd_get(ErlNifTSDKey key) {
  return pthread_getspecific(static_cast<pthread_key_t>(key));
}

// ---------------------------------------------------------------- threads

ErlNifThreadOpts* enif_thread_opts_create(char* name) {
  (void)name;
  auto* opts = new (std::nothrow) ErlNifThreadOpts;
  if (opts != nullptr) opts->suggested_stack_size = -1;
  return opts;
}

void enif_thread_opts_destroy(ErlNifThreadOpts* opts) { delete opts; }

// The new thread runs with its creator's call context, so enif_send(NULL,
// ...) from it reaches the VM the creating NIF was called by.
int enif_thread_create(char* name, ErlNifTid* tid, void* (*func)(void*), void* args,
                       ErlNifThreadOpts* opts) {
  if (tid == nullptr || func == nullptr) return EINVAL;
  std::unique_ptr<ErlDrvTid_> t(new (std::nothrow) ErlDrvTid_());
  if (!t) return ENOMEM;
  try {
    t->name = copy_name(name);
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  }
  t->func = func;
  t->arg = args;
  t->context = core::runtime::current_context();
  t->created = true;

  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) return rc;
  if (std::size_t bytes = stack_bytes(opts); bytes != 0) pthread_attr_setstacksize(&attr, bytes);
  ErlDrvTid_* raw = t.get();
  rc = pthread_create(&raw->thread, &attr, thread_main, raw);
  pthread_attr_destroy(&attr);
  if (rc != 0) return rc;
  *tid = t.release();
  return 0;
}

ErlNifTid enif_thread_self(void) {
  if (t_self == nullptr) {
    // A thread enif_thread_create did not make: an identifier of its own,
    // valid while it runs.
    thread_local ErlDrvTid_ foreign;
    foreign.thread = pthread_self();
    t_self = &foreign;
  }
  return t_self;
}

int enif_equal_tids(ErlNifTid tid1, ErlNifTid tid2) {
  if (tid1 == tid2) return 1;
  if (tid1 == nullptr || tid2 == nullptr) return 0;
  return pthread_equal(tid1->thread, tid2->thread) != 0;
}

void enif_thread_exit(void* resp) { pthread_exit(resp); }

// 0 and the thread's result in *respp, or an errno value. Only threads made
// by enif_thread_create can be joined; joining frees the identifier.
int enif_thread_join(ErlNifTid tid, void** respp) {
  if (tid == nullptr || !tid->created) return EINVAL;
  void* result = nullptr;
  int rc = pthread_join(tid->thread, &result);
  if (rc != 0) return rc;
  if (respp != nullptr) *respp = result;
  delete tid;
  return 0;
}

char* enif_thread_name(ErlNifTid tid) { return tid ? name_or_null(tid->name) : nullptr; }

int enif_thread_type(void) {
  switch (core::current_thread_role()) {
    case core::ThreadRole::kNormalScheduler:
      return ERL_NIF_THR_NORMAL_SCHEDULER;
    case core::ThreadRole::kDirtyCpu:
      return ERL_NIF_THR_DIRTY_CPU_SCHEDULER;
    case core::ThreadRole::kDirtyIo:
      return ERL_NIF_THR_DIRTY_IO_SCHEDULER;
    case core::ThreadRole::kNone:
      break;
  }
  return ERL_NIF_THR_UNDEFINED;
}

}  // extern "C"
