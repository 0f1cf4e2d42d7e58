/* nh_sched: scheduling — yielding with enif_schedule_nif, dirty NIFs
 * (declared dirty and rescheduled as dirty), enif_consume_timeslice,
 * enif_thread_type, and the thread/mutex/condition/rwlock/TSD API.
 * Results never depend on timing: a function that yields a variable number
 * of times still returns the same value.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "nh_common.h"

/* 1 + 2 + ... + n, computed one step at a time (the empty asm keeps the
 * compiler from replacing the loop by a closed form, so the work is real and
 * proportional to n). Wraps modulo 2^64. */
static ErlNifUInt64 sum_range(ErlNifUInt64 from, ErlNifUInt64 to, ErlNifUInt64 acc) {
  ErlNifUInt64 i;
  for (i = from; i <= to && i != 0; ++i) {
    acc += i;
    __asm__ volatile("" : "+r"(acc));
    if (i == to) break;
  }
  return acc;
}

/* ---- yielding ------------------------------------------------------------- */

/* countdown_step(Remaining, N): yields once per step. */
static ERL_NIF_TERM countdown_step(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 remaining;
  ERL_NIF_TERM next[2];
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &remaining)) return enif_make_badarg(env);
  if (remaining == 0) return enif_make_tuple2(env, nh_atom(env, "done"), argv[1]);
  next[0] = enif_make_uint64(env, remaining - 1);
  next[1] = argv[1];
  return enif_schedule_nif(env, "countdown", 0, countdown_step, 2, next);
}

/* N -> {done, N} after rescheduling itself N times. */
static ERL_NIF_TERM countdown(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM args[2];
  ErlNifUInt64 n;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &n)) return enif_make_badarg(env);
  args[0] = argv[0];
  args[1] = argv[0];
  return countdown_step(env, 2, args);
}

#define NH_SUM_CHUNK 20000

/* yielding_sum_step(N, Next, Acc): adds chunks until the timeslice is used
 * up, then yields. */
static ERL_NIF_TERM yielding_sum_step(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 n, next, acc, end;
  ERL_NIF_TERM args[3];
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &n) || !enif_get_uint64(env, argv[1], &next) ||
      !enif_get_uint64(env, argv[2], &acc))
    return enif_make_badarg(env);
  while (next <= n && next != 0) {
    end = n - next < NH_SUM_CHUNK ? n : next + NH_SUM_CHUNK - 1;
    acc = sum_range(next, end, acc);
    if (end == n) {
      next = 0;
      break;
    }
    next = end + 1;
    if (enif_consume_timeslice(env, 10)) {
      args[0] = argv[0];
      args[1] = enif_make_uint64(env, next);
      args[2] = enif_make_uint64(env, acc);
      return enif_schedule_nif(env, "yielding_sum", 0, yielding_sum_step, 3, args);
    }
  }
  return enif_make_uint64(env, acc);
}

/* N -> 1 + ... + N (mod 2^64), yielding whenever enif_consume_timeslice
 * says the slice is used up. */
static ERL_NIF_TERM yielding_sum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 n;
  ERL_NIF_TERM args[3];
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &n)) return enif_make_badarg(env);
  args[0] = argv[0];
  args[1] = enif_make_uint64(env, 1);
  args[2] = enif_make_uint64(env, 0);
  return yielding_sum_step(env, 3, args);
}

/* Percent -> true | false (enif_consume_timeslice's answer). */
static ERL_NIF_TERM consume_timeslice(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int percent;
  (void)argc;
  if (!enif_get_int(env, argv[0], &percent) || percent < 1 || percent > 100)
    return enif_make_badarg(env);
  return nh_bool(env, enif_consume_timeslice(env, percent));
}

/* ---- dirty NIFs ----------------------------------------------------------- */

static ERL_NIF_TERM sum_to(ErlNifEnv* env, ERL_NIF_TERM arg) {
  ErlNifUInt64 n;
  if (!enif_get_uint64(env, arg, &n)) return enif_make_badarg(env);
  return enif_make_uint64(env, sum_range(1, n, 0));
}

/* Declared ERL_NIF_DIRTY_JOB_CPU_BOUND: N -> 1 + ... + N. */
static ERL_NIF_TERM dirty_cpu(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return sum_to(env, argv[0]);
}

/* Declared ERL_NIF_DIRTY_JOB_IO_BOUND: N -> 1 + ... + N. */
static ERL_NIF_TERM dirty_io(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return sum_to(env, argv[0]);
}

static ERL_NIF_TERM thread_type(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_thread_type_atom(env, enif_thread_type());
}

/* Ms -> ok after sleeping Ms milliseconds; declared dirty I/O. */
static ERL_NIF_TERM dirty_sleep(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned ms;
  struct timespec ts;
  (void)argc;
  if (!enif_get_uint(env, argv[0], &ms) || ms > 600000) return enif_make_badarg(env);
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return nh_ok(env);
}

/* schedule_to_dirty: normal -> dirty CPU -> normal. Each step prepends the
 * thread type it ran on; the last returns {[T1, T2, T3], Sum}. */
static ERL_NIF_TERM to_dirty_last(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM types, reversed;
  (void)argc;
  types = enif_make_list_cell(env, nh_thread_type_atom(env, enif_thread_type()), argv[1]);
  if (!enif_make_reverse_list(env, types, &reversed)) return enif_make_badarg(env);
  return enif_make_tuple2(env, reversed, argv[0]);
}

static ERL_NIF_TERM to_dirty_work(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM args[2];
  (void)argc;
  args[0] = sum_to(env, argv[0]);
  args[1] = enif_make_list_cell(env, nh_thread_type_atom(env, enif_thread_type()), argv[1]);
  return enif_schedule_nif(env, "schedule_to_dirty", 0, to_dirty_last, 2, args);
}

/* N -> {[normal, dirty_cpu, normal], 1 + ... + N} in the BEAM. */
static ERL_NIF_TERM schedule_to_dirty(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 n;
  ERL_NIF_TERM args[2];
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &n)) return enif_make_badarg(env);
  args[0] = argv[0];
  args[1] = enif_make_list1(env, nh_thread_type_atom(env, enif_thread_type()));
  return enif_schedule_nif(env, "schedule_to_dirty", ERL_NIF_DIRTY_JOB_CPU_BOUND, to_dirty_work, 2,
                           args);
}

/* ---- threads and synchronisation ------------------------------------------ */

#define NH_MAX_THREADS 64

typedef struct {
  ErlNifMutex* mutex;
  ErlNifCond* cond;
  ErlNifRWLock* rwlock;
  ErlNifTSDKey key;
  int started; /* guarded by mutex; the barrier releases when == threads */
  int threads;
  unsigned per_thread;
  ErlNifUInt64 total;  /* guarded by mutex */
  ErlNifUInt64 weight; /* written before the threads start, read under rwlock */
  int mismatches;      /* guarded by mutex */
  ErlNifTid tids[NH_MAX_THREADS];
} counter_job_t;

typedef struct {
  counter_job_t* job;
  int index;
} counter_arg_t;

static void* counter_main(void* p) {
  counter_arg_t* arg = p;
  counter_job_t* job = arg->job;
  unsigned i;
  ErlNifUInt64 weight;
  int ok;

  enif_tsd_set(job->key, arg);
  enif_mutex_lock(job->mutex);
  job->started++;
  if (job->started == job->threads) {
    enif_cond_broadcast(job->cond);
  } else {
    while (job->started < job->threads) enif_cond_wait(job->cond, job->mutex);
  }
  enif_mutex_unlock(job->mutex);

  enif_rwlock_rlock(job->rwlock);
  weight = job->weight;
  enif_rwlock_runlock(job->rwlock);

  for (i = 0; i < job->per_thread; ++i) {
    enif_mutex_lock(job->mutex);
    job->total += weight;
    enif_mutex_unlock(job->mutex);
  }
  /* All threads are created once the barrier opened, so tids[] is final. */
  ok = enif_tsd_get(job->key) == arg && enif_equal_tids(enif_thread_self(), job->tids[arg->index]);
  if (!ok) {
    enif_mutex_lock(job->mutex);
    job->mismatches++;
    enif_mutex_unlock(job->mutex);
  }
  return arg;
}

/* (Threads, PerThread) -> Threads * PerThread: every thread waits at a
 * condition-variable barrier, reads a weight under a read lock, then adds it
 * PerThread times under a mutex; each checks its TSD slot and thread id. */
static ERL_NIF_TERM thread_sum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_job_t job;
  counter_arg_t args[NH_MAX_THREADS];
  ErlNifThreadOpts* opts;
  int i, created = 0, joined_ok = 1;
  void* result;
  (void)argc;
  memset(&job, 0, sizeof(job));
  if (!enif_get_int(env, argv[0], &job.threads) || job.threads < 1 ||
      job.threads > NH_MAX_THREADS || !enif_get_uint(env, argv[1], &job.per_thread))
    return enif_make_badarg(env);
  job.mutex = enif_mutex_create("nh_sum_mutex");
  job.cond = enif_cond_create("nh_sum_cond");
  job.rwlock = enif_rwlock_create("nh_sum_rwlock");
  opts = enif_thread_opts_create("nh_sum_opts");
  if (job.mutex == NULL || job.cond == NULL || job.rwlock == NULL || opts == NULL ||
      enif_tsd_key_create("nh_sum_key", &job.key) != 0)
    return enif_make_badarg(env);
  enif_rwlock_rwlock(job.rwlock);
  job.weight = 1;
  enif_rwlock_rwunlock(job.rwlock);

  /* Hold the mutex while creating so no thread passes the barrier before
   * tids[] is filled in. */
  enif_mutex_lock(job.mutex);
  for (i = 0; i < job.threads; ++i) {
    args[i].job = &job;
    args[i].index = i;
    if (enif_thread_create("nh_sum", &job.tids[i], counter_main, &args[i], opts) != 0) break;
    created++;
  }
  if (created < job.threads) job.threads = created; /* let the barrier open */
  enif_cond_broadcast(job.cond);
  enif_mutex_unlock(job.mutex);

  for (i = 0; i < created; ++i) {
    if (enif_thread_join(job.tids[i], &result) != 0 || result != &args[i]) joined_ok = 0;
  }
  enif_thread_opts_destroy(opts);
  enif_tsd_key_destroy(job.key);
  enif_rwlock_destroy(job.rwlock);
  enif_cond_destroy(job.cond);
  enif_mutex_destroy(job.mutex);
  if (created == 0 || !joined_ok || job.mismatches != 0) return nh_error(env);
  return enif_make_uint64(env, job.total);
}

/* -> true: a lock taken by this thread cannot be try-locked again, and
 * try-locks succeed on free locks. */
static ERL_NIF_TERM trylocks(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifMutex* m = enif_mutex_create("nh_try_mutex");
  ErlNifRWLock* rw = enif_rwlock_create("nh_try_rwlock");
  int ok;
  (void)argc;
  (void)argv;
  if (m == NULL || rw == NULL) return enif_make_badarg(env);
  ok = enif_mutex_trylock(m) == 0;
  enif_mutex_unlock(m);
  ok = ok && enif_rwlock_tryrlock(rw) == 0;
  ok = ok && enif_rwlock_tryrwlock(rw) != 0; /* read-locked: no writer */
  enif_rwlock_runlock(rw);
  ok = ok && enif_rwlock_tryrwlock(rw) == 0;
  enif_rwlock_rwunlock(rw);
  enif_rwlock_destroy(rw);
  enif_mutex_destroy(m);
  return nh_bool(env, ok);
}

typedef struct {
  ErlNifMutex* mutex;
  ErlNifCond* cond;
  int go; /* guarded by mutex */
} handoff_t;

static int handoff_result = 42; /* the thread exits with its address */

static void* handoff_main(void* p) {
  handoff_t* h = p;
  enif_mutex_lock(h->mutex);
  while (!h->go) enif_cond_wait(h->cond, h->mutex);
  enif_mutex_unlock(h->mutex);
  enif_thread_exit(&handoff_result);
  return NULL; /* not reached */
}

/* -> true: a thread waits on a condition, enif_cond_signal wakes it, it
 * leaves through enif_thread_exit, and enif_thread_join sees its value. */
static ERL_NIF_TERM cond_signal(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  handoff_t h;
  ErlNifTid tid;
  void* result = NULL;
  int created;
  (void)argc;
  (void)argv;
  h.mutex = enif_mutex_create("nh_handoff_mutex");
  h.cond = enif_cond_create("nh_handoff_cond");
  h.go = 0;
  if (h.mutex == NULL || h.cond == NULL) return enif_make_badarg(env);
  created = enif_thread_create("nh_handoff", &tid, handoff_main, &h, NULL) == 0;
  if (created) {
    enif_mutex_lock(h.mutex);
    h.go = 1;
    enif_cond_signal(h.cond);
    enif_mutex_unlock(h.mutex);
    enif_thread_join(tid, &result);
  }
  enif_cond_destroy(h.cond);
  enif_mutex_destroy(h.mutex);
  return nh_bool(env, created && result == &handoff_result);
}

static ErlNifFunc funcs[] = {
    {"countdown", 1, countdown, 0},
    {"yielding_sum", 1, yielding_sum, 0},
    {"consume_timeslice", 1, consume_timeslice, 0},
    {"dirty_cpu", 1, dirty_cpu, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"dirty_io", 1, dirty_io, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"dirty_cpu_type", 0, thread_type, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"dirty_io_type", 0, thread_type, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"dirty_sleep", 1, dirty_sleep, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"schedule_to_dirty", 1, schedule_to_dirty, 0},
    {"thread_type", 0, thread_type, 0},
    {"thread_sum", 2, thread_sum, 0},
    {"trylocks", 0, trylocks, 0},
    {"cond_signal", 0, cond_signal, 0},
};

ERL_NIF_INIT(nh_sched, funcs, nh_load_stateless, NULL, nh_upgrade_stateless, nh_unload_stateless)
