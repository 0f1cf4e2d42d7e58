// The call dispatcher: one NIF call as a BEAM scheduler runs it, with
// enif_schedule_nif continuations and dirty scheduling.
#include "nifhost/core/nif_call.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <utility>
#include <vector>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/atom_table.hpp"

namespace nifhost::core {

namespace {

// The BEAM's default dirty IO scheduler count (+SDio).
constexpr unsigned kDirtyIoThreads = 10;

unsigned logical_cpus() { return std::max(1u, std::thread::hardware_concurrency()); }

// A fixed set of threads of one role that run jobs for callers who wait,
// like the BEAM's dirty schedulers. Threads start on first use.
class DirtyPool {
 public:
  DirtyPool(ThreadRole role, unsigned threads) : role_(role), threads_(threads) {}

  void run(const std::function<void()>& job) {
    Job j{&job, nullptr, false};
    {
      std::unique_lock lock(mutex_);
      if (!started_) start_locked();
      queue_.push_back(&j);
      work_.notify_one();
      done_.wait(lock, [&] { return j.done; });
    }
    if (j.error) std::rethrow_exception(j.error);
  }

 private:
  struct Job {
    const std::function<void()>* body;
    std::exception_ptr error;
    bool done;
  };

  void start_locked() {
    for (unsigned i = 0; i < threads_; ++i) std::thread([this] { serve(); }).detach();
    started_ = true;
  }

  void serve() {
    ThreadRoleScope role(role_);
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return !queue_.empty(); });
      Job* j = queue_.front();
      queue_.pop_front();
      lock.unlock();
      try {
        (*j->body)();
      } catch (...) {
        j->error = std::current_exception();
      }
      lock.lock();
      j->done = true;
      done_.notify_all();
    }
  }

  ThreadRole role_;
  unsigned threads_;
  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable done_;
  std::deque<Job*> queue_;
  bool started_ = false;
};

// Pools are never destroyed (their threads may outlive static destruction).
// A forked child has none of the parent's threads: it starts its own pools.
std::atomic<DirtyPool*> g_cpu_pool{nullptr};
std::atomic<DirtyPool*> g_io_pool{nullptr};

void forget_pools_in_child() {
  g_cpu_pool.store(nullptr);
  g_io_pool.store(nullptr);
}

DirtyPool& pool(ThreadRole role) {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, forget_pools_in_child);
    return true;
  }();
  (void)registered;
  std::atomic<DirtyPool*>& slot = role == ThreadRole::kDirtyIo ? g_io_pool : g_cpu_pool;
  DirtyPool* p = slot.load(std::memory_order_acquire);
  if (p != nullptr) return *p;
  auto* fresh =
      new DirtyPool(role, role == ThreadRole::kDirtyIo ? kDirtyIoThreads : logical_cpus());
  if (slot.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread won; its threads have not started yet either way
  return *p;
}

ThreadRole dirty_role(unsigned flags) {
  if (flags & ERL_NIF_DIRTY_JOB_CPU_BOUND) return ThreadRole::kDirtyCpu;
  if (flags & ERL_NIF_DIRTY_JOB_IO_BOUND) return ThreadRole::kDirtyIo;
  return ThreadRole::kNormalScheduler;
}

using NifFptr = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);

Term invoke(ErlNifEnv* env, NifFptr fptr, unsigned flags, const std::vector<Term>& argv,
            LibraryContext& lib, HostServices& host) {
  const int argc = static_cast<int>(argv.size());
  ThreadRole role = dirty_role(flags);
  if (role == ThreadRole::kNormalScheduler) return fptr(env, argc, argv.data());
  Term result = enif::kNonValue;
  runtime::run_dirty(role, [&] {
    runtime::CallContextScope context(&lib, &host);
    result = fptr(env, argc, argv.data());
  });
  return result;
}

}  // namespace

namespace runtime {

void run_dirty(ThreadRole role, const std::function<void()>& job) { pool(role).run(job); }
unsigned dirty_cpu_threads() { return logical_cpus(); }
unsigned dirty_io_threads() { return kDirtyIoThreads; }
unsigned normal_scheduler_threads() { return logical_cpus(); }

}  // namespace runtime

SchedulerCounts scheduler_counts() {
  return SchedulerCounts{runtime::normal_scheduler_threads(), runtime::dirty_cpu_threads(),
                         runtime::dirty_io_threads()};
}

CallOutcome run_nif(LibraryContext& lib, const ErlNifFunc& fn, Heap& caller_heap, Term self,
                    HostServices& host, std::span<const Term> args) {
  ThreadRoleScope role(ThreadRole::kNormalScheduler);
  runtime::CallContextScope context(&lib, &host);
  EnvScope scope(EnvKind::kProcessBound, caller_heap, &lib, &host, self);
  ErlNifEnv* env = scope.get();

  NifFptr fptr = fn.fptr;
  unsigned flags = fn.flags;
  std::vector<Term> argv(args.begin(), args.end());
  for (;;) {
    env->exception_pending = false;
    env->exception_reason = kNilTerm;
    env->scheduled.reset();
    Term result = invoke(env, fptr, flags, argv, lib, host);
    // As in the BEAM, a pending exception wins over whatever was returned.
    if (env->exception_pending) return Exception{atoms::kError, env->exception_reason};
    if (env->scheduled) {
      // enif_schedule_nif: the continuation runs now, in the same env.
      ScheduledNif next = std::move(*env->scheduled);
      env->scheduled.reset();
      fptr = next.fptr;
      flags = static_cast<unsigned>(next.flags);
      argv = std::move(next.argv);
      // A continuation after a used-up timeslice starts a fresh one, as the
      // rescheduled process would.
      if (env->timeslice_percent_used >= 100) env->timeslice_percent_used = 0;
      continue;
    }
    if (result == enif::kNonValue) return Exception{atoms::kError, atoms::kBadarg};
    return result;
  }
}

}  // namespace nifhost::core
