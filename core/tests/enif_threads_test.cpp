// Threads and synchronisation through the C ABI: enif_thread_create/join/
// exit/self, mutexes under contention, condition variables, rwlocks,
// thread-specific data, names and enif_thread_type — with the return values
// erl_driver's manual gives (0 or an errno value; EBUSY from the try-locks).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_host.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/nif_call.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::testing::FakeHost;

char kName[] = "nifhost_test.thing";

void* return_arg_plus_one(void* arg) {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(arg) + 1);
}

TEST(Threads, CreateAndJoinPassTheResult) {
  ErlNifTid tid;
  ASSERT_EQ(
      enif_thread_create(kName, &tid, return_arg_plus_one, reinterpret_cast<void*>(41), nullptr),
      0);
  void* result = nullptr;
  ASSERT_EQ(enif_thread_join(tid, &result), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(result), 42u);
}

void* exit_early(void*) {
  enif_thread_exit(reinterpret_cast<void*>(7));
  return nullptr;  // not reached
}

TEST(Threads, ThreadExitEndsTheThreadWithItsValue) {
  ErlNifTid tid;
  ASSERT_EQ(enif_thread_create(kName, &tid, exit_early, nullptr, nullptr), 0);
  void* result = nullptr;
  ASSERT_EQ(enif_thread_join(tid, &result), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(result), 7u);
}

struct SelfCheck {
  ErlNifTid from_creator;
  std::atomic<bool> ready{false};
  std::atomic<int> equal{-1};
  std::atomic<int> type{-1};
  std::string name;  // copied: joining frees the identifier and its name
};

void* compare_self(void* p) {
  auto* s = static_cast<SelfCheck*>(p);
  while (!s->ready) std::this_thread::yield();
  s->equal = enif_equal_tids(enif_thread_self(), s->from_creator);
  s->type = enif_thread_type();
  const char* name = enif_thread_name(enif_thread_self());
  s->name = name != nullptr ? name : "(null)";
  return nullptr;
}

TEST(Threads, SelfIdentifiesTheThreadAndCreatedThreadsAreNoSchedulers) {
  SelfCheck s;
  ErlNifTid tid;
  ErlNifThreadOpts* opts = enif_thread_opts_create(kName);
  ASSERT_NE(opts, nullptr);
  EXPECT_EQ(opts->suggested_stack_size, -1);  // the default, as erl_drv_thread_opts_create
  opts->suggested_stack_size = 64;            // kilowords
  ASSERT_EQ(enif_thread_create(kName, &tid, compare_self, &s, opts), 0);
  enif_thread_opts_destroy(opts);
  s.from_creator = tid;
  s.ready = true;
  ASSERT_EQ(enif_thread_join(tid, nullptr), 0);
  EXPECT_EQ(s.equal.load(), 1);
  EXPECT_EQ(s.type.load(), ERL_NIF_THR_UNDEFINED);
  EXPECT_EQ(s.name, kName);

  // The calling thread was not made by enif_thread_create: it still has an
  // identifier, stable across calls, unequal to another thread's.
  ErlNifTid me = enif_thread_self();
  EXPECT_TRUE(enif_equal_tids(me, enif_thread_self()));
  EXPECT_EQ(enif_thread_name(me), nullptr);
  ErlNifTid other = nullptr;
  std::thread([&] { other = enif_thread_self(); }).join();
  EXPECT_FALSE(enif_equal_tids(me, other));
  EXPECT_EQ(enif_thread_join(me, nullptr), EINVAL);  // not joinable
}

struct Counter {
  ErlNifMutex* mutex;
  long value = 0;
  int per_thread;
};

void* bump(void* p) {
  auto* c = static_cast<Counter*>(p);
  for (int i = 0; i < c->per_thread; ++i) {
    enif_mutex_lock(c->mutex);
    long v = c->value;  // a read-modify-write that loses updates without the lock
    std::atomic_signal_fence(std::memory_order_seq_cst);
    c->value = v + 1;
    enif_mutex_unlock(c->mutex);
  }
  return nullptr;
}

TEST(Mutexes, ProtectACounterUnderContention) {
  Counter c{enif_mutex_create(kName), 0, 20000};
  ASSERT_NE(c.mutex, nullptr);
  EXPECT_STREQ(enif_mutex_name(c.mutex), kName);
  std::vector<ErlNifTid> tids(4);
  for (auto& t : tids) ASSERT_EQ(enif_thread_create(kName, &t, bump, &c, nullptr), 0);
  for (auto& t : tids) ASSERT_EQ(enif_thread_join(t, nullptr), 0);
  EXPECT_EQ(c.value, 4 * 20000);
  enif_mutex_destroy(c.mutex);
}

TEST(Mutexes, TrylockReportsBusy) {
  ErlNifMutex* m = enif_mutex_create(kName);
  ASSERT_EQ(enif_mutex_trylock(m), 0);
  int other = -1;
  std::thread([&] { other = enif_mutex_trylock(m); }).join();
  EXPECT_EQ(other, EBUSY);
  enif_mutex_unlock(m);
  std::thread([&] {
    other = enif_mutex_trylock(m);
    if (other == 0) enif_mutex_unlock(m);
  }).join();
  EXPECT_EQ(other, 0);
  enif_mutex_destroy(m);
}

struct Gate {
  ErlNifMutex* mutex;
  ErlNifCond* cond;
  bool open = false;
  int waiting = 0;
  int passed = 0;
};

void* wait_at_gate(void* p) {
  auto* g = static_cast<Gate*>(p);
  enif_mutex_lock(g->mutex);
  ++g->waiting;
  // One condition for both waits: broadcast so the test is among those woken.
  enif_cond_broadcast(g->cond);
  while (!g->open) enif_cond_wait(g->cond, g->mutex);
  ++g->passed;
  enif_mutex_unlock(g->mutex);
  return nullptr;
}

TEST(Conditions, BroadcastReleasesEveryWaiter) {
  Gate g{enif_mutex_create(kName), enif_cond_create(kName)};
  ASSERT_NE(g.cond, nullptr);
  EXPECT_STREQ(enif_cond_name(g.cond), kName);
  std::vector<ErlNifTid> tids(3);
  for (auto& t : tids) ASSERT_EQ(enif_thread_create(kName, &t, wait_at_gate, &g, nullptr), 0);
  enif_mutex_lock(g.mutex);
  while (g.waiting < 3) enif_cond_wait(g.cond, g.mutex);
  EXPECT_EQ(g.passed, 0);  // nobody passes a closed gate
  g.open = true;
  enif_cond_broadcast(g.cond);
  enif_mutex_unlock(g.mutex);
  for (auto& t : tids) ASSERT_EQ(enif_thread_join(t, nullptr), 0);
  EXPECT_EQ(g.passed, 3);
  enif_cond_destroy(g.cond);
  enif_mutex_destroy(g.mutex);
}

void* signal_after_flag(void* p) {
  auto* g = static_cast<Gate*>(p);
  enif_mutex_lock(g->mutex);
  g->open = true;
  enif_cond_signal(g->cond);
  enif_mutex_unlock(g->mutex);
  return nullptr;
}

TEST(Conditions, SignalWakesTheWaiter) {
  Gate g{enif_mutex_create(kName), enif_cond_create(kName)};
  enif_mutex_lock(g.mutex);
  ErlNifTid tid;
  ASSERT_EQ(enif_thread_create(kName, &tid, signal_after_flag, &g, nullptr), 0);
  while (!g.open) enif_cond_wait(g.cond, g.mutex);  // returns once signalled
  enif_mutex_unlock(g.mutex);
  ASSERT_EQ(enif_thread_join(tid, nullptr), 0);
  EXPECT_TRUE(g.open);
  enif_cond_destroy(g.cond);
  enif_mutex_destroy(g.mutex);
}

TEST(RwLocks, ReadersShareWritersExclude) {
  ErlNifRWLock* l = enif_rwlock_create(kName);
  ASSERT_NE(l, nullptr);
  EXPECT_STREQ(enif_rwlock_name(l), kName);
  enif_rwlock_rlock(l);
  int r = -1, w = -1;
  std::thread([&] {
    r = enif_rwlock_tryrlock(l);
    if (r == 0) enif_rwlock_runlock(l);
    w = enif_rwlock_tryrwlock(l);
    if (w == 0) enif_rwlock_rwunlock(l);
  }).join();
  EXPECT_EQ(r, 0);      // another reader gets in
  EXPECT_EQ(w, EBUSY);  // a writer does not
  enif_rwlock_runlock(l);

  enif_rwlock_rwlock(l);
  std::thread([&] { r = enif_rwlock_tryrlock(l); }).join();
  EXPECT_EQ(r, EBUSY);
  enif_rwlock_rwunlock(l);
  EXPECT_EQ(enif_rwlock_tryrwlock(l), 0);
  enif_rwlock_rwunlock(l);
  enif_rwlock_destroy(l);
}

struct TsdJob {
  ErlNifTSDKey key;
  std::atomic<int> mismatches{0};
};

void* use_tsd(void* p) {
  auto* j = static_cast<TsdJob*>(p);
  if (enif_tsd_get(j->key) != nullptr) ++j->mismatches;  // unset in a new thread
  int mine = 0;
  enif_tsd_set(j->key, &mine);
  for (int i = 0; i < 1000; ++i) {
    if (enif_tsd_get(j->key) != &mine) ++j->mismatches;
    std::this_thread::yield();
  }
  return nullptr;
}

TEST(ThreadSpecificData, EachThreadSeesItsOwnValue) {
  TsdJob job;
  ASSERT_EQ(enif_tsd_key_create(kName, &job.key), 0);
  int main_value = 0;
  enif_tsd_set(job.key, &main_value);
  std::vector<ErlNifTid> tids(4);
  for (auto& t : tids) ASSERT_EQ(enif_thread_create(kName, &t, use_tsd, &job, nullptr), 0);
  for (auto& t : tids) ASSERT_EQ(enif_thread_join(t, nullptr), 0);
  EXPECT_EQ(job.mismatches.load(), 0);
  EXPECT_EQ(enif_tsd_get(job.key), &main_value);
  enif_tsd_key_destroy(job.key);
}

// A thread made inside a NIF call reaches the VM of that call with a NULL
// env, as enif_send(NULL, ...) from a created thread must.
struct SendJob {
  ErlNifPid to;
  int sent = -1;
};

void* send_from_thread(void* p) {
  auto* j = static_cast<SendJob*>(p);
  // Neither env names a VM: the env is allocated here, outside any call.
  ErlNifEnv* msg_env = enif_alloc_env();
  j->sent = enif_send(nullptr, &j->to, msg_env, enif_make_atom(msg_env, "from_thread"));
  enif_free_env(msg_env);
  return nullptr;
}

TEST(Threads, ACreatedThreadSendsThroughItsCreatorsVm) {
  FakeHost host;
  LibraryContext lib;
  lib.module = "threads_test";
  Heap heap;
  Term self = host.spawn();
  static SendJob job;
  job = SendJob{};
  ErlNifFunc fn{"spawn_sender", 0,
                [](ErlNifEnv* env, int, const ERL_NIF_TERM[]) -> ERL_NIF_TERM {
                  enif_self(env, &job.to);
                  ErlNifTid tid;
                  if (enif_thread_create(kName, &tid, send_from_thread, &job, nullptr) != 0)
                    return enif_make_badarg(env);
                  enif_thread_join(tid, nullptr);
                  return enif_make_int(env, job.sent);
                },
                0};
  CallOutcome r = run_nif(lib, fn, heap, self, host, {});
  ASSERT_EQ(r.index(), 0u);
  EXPECT_EQ(std::get<Term>(r), make_small(1));
  auto sent = host.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, self);
  EXPECT_FALSE(sent[0].from.has_value());  // a thread is no process
  EXPECT_EQ(sent[0].msg, atom("from_thread"));
}

}  // namespace
