// The call dispatcher (run_nif): results, exceptions, enif_schedule_nif
// continuations, dirty scheduling and timeslices, as the erl_nif manual
// describes them for a BEAM scheduler.
#include "nifhost/core/nif_call.hpp"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_host.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::testing::FakeHost;

// ---------------------------------------------------------------- NIFs under test

ERL_NIF_TERM add(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  long a, b;
  if (argc != 2 || !enif_get_long(env, argv[0], &a) || !enif_get_long(env, argv[1], &b))
    return enif_make_badarg(env);
  return enif_make_long(env, a + b);
}

ERL_NIF_TERM raise_reason(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  return enif_raise_exception(env, enif_make_tuple2(env, enif_make_atom(env, "oops"), argv[0]));
}

// Raises, then returns a perfectly good term: the exception must still win.
ERL_NIF_TERM raise_then_return(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  enif_make_badarg(env);
  return enif_make_atom(env, "ignored");
}

// Returns the exception marker of another env, where the exception is pending,
// without raising in its own.
ERL_NIF_TERM return_foreign_marker(ErlNifEnv*, int, const ERL_NIF_TERM[]) {
  ErlNifEnv* other = enif_alloc_env();
  ERL_NIF_TERM marker = enif_make_badarg(other);
  enif_free_env(other);
  return marker;
}

std::atomic<int> g_countdown_calls{0};

// (N, Acc): yields N times through enif_schedule_nif, then returns {done, Acc}.
ERL_NIF_TERM countdown(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  ++g_countdown_calls;
  unsigned long n;
  if (!enif_get_ulong(env, argv[0], &n)) return enif_make_badarg(env);
  if (n == 0) return enif_make_tuple2(env, enif_make_atom(env, "done"), argv[1]);
  ERL_NIF_TERM next[2] = {enif_make_ulong(env, n - 1),
                          enif_make_list_cell(env, enif_make_ulong(env, n), argv[1])};
  return enif_schedule_nif(env, "countdown", 0, countdown, 2, next);
}

ERL_NIF_TERM thread_type_atom(ErlNifEnv* env) {
  switch (enif_thread_type()) {
    case ERL_NIF_THR_NORMAL_SCHEDULER:
      return enif_make_atom(env, "normal");
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER:
      return enif_make_atom(env, "dirty_cpu");
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER:
      return enif_make_atom(env, "dirty_io");
    default:
      return enif_make_atom(env, "undefined");
  }
}

std::atomic<std::thread::id> g_last_thread;

// Reports the kind of thread it runs on.
ERL_NIF_TERM where_am_i(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  g_last_thread = std::this_thread::get_id();
  return thread_type_atom(env);
}

ERL_NIF_TERM record_and_finish(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  return enif_make_list_cell(env, thread_type_atom(env), argv[0]);
}

ERL_NIF_TERM dirty_io_step(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM acc = enif_make_list_cell(env, thread_type_atom(env), argv[0]);
  return enif_schedule_nif(env, "finish", 0, record_and_finish, 1, &acc);
}

// normal -> dirty CPU -> dirty IO -> normal, recording the thread type at each step.
ERL_NIF_TERM dirty_cpu_step(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM acc = enif_make_list_cell(env, thread_type_atom(env), argv[0]);
  return enif_schedule_nif(env, "io", ERL_NIF_DIRTY_JOB_IO_BOUND, dirty_io_step, 1, &acc);
}

ERL_NIF_TERM hop(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  ERL_NIF_TERM acc = enif_make_list1(env, thread_type_atom(env));
  return enif_schedule_nif(env, "cpu", ERL_NIF_DIRTY_JOB_CPU_BOUND, dirty_cpu_step, 1, &acc);
}

ERL_NIF_TERM bad_flags(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  return enif_schedule_nif(env, "x", 4, add, argc, argv);
}

ERL_NIF_TERM long_name(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  static const std::string name(256, 'n');
  return enif_schedule_nif(env, name.c_str(), 0, add, argc, argv);
}

// Consumes 30% four times: the fourth call exhausts the slice.
ERL_NIF_TERM timeslices(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  ERL_NIF_TERM answers = enif_make_list(env, 0);
  for (int i = 0; i < 4; ++i)
    answers =
        enif_make_list_cell(env, enif_make_int(env, enif_consume_timeslice(env, 30)), answers);
  return answers;
}

ERL_NIF_TERM dirty_timeslice(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  return enif_make_int(env, enif_consume_timeslice(env, 100));
}

ERL_NIF_TERM self_pid(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  ErlNifPid pid;
  if (enif_self(env, &pid) == nullptr) return enif_make_atom(env, "none");
  return enif_make_pid(env, &pid);
}

ERL_NIF_TERM priv(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  return enif_make_int(env, *static_cast<int*>(enif_priv_data(env)));
}

// ---------------------------------------------------------------- fixture

class NifCall : public ::testing::Test {
 protected:
  FakeHost host;
  LibraryContext lib;
  Heap heap;
  Term self = host.spawn();

  void SetUp() override {
    lib.module = "nif_call_test";
    lib.host = &host;
  }

  CallOutcome call(ERL_NIF_TERM (*f)(ErlNifEnv*, int, const ERL_NIF_TERM[]), std::vector<Term> args,
                   unsigned flags = 0) {
    ErlNifFunc fn{"f", static_cast<unsigned>(args.size()), f, flags};
    return run_nif(lib, fn, heap, self, host, args);
  }

  Term value(const CallOutcome& r) {
    EXPECT_EQ(r.index(), 0u) << "the call raised";
    return r.index() == 0 ? std::get<Term>(r) : kNilTerm;
  }

  Term list_of(std::initializer_list<const char*> atoms) {
    std::vector<Term> elems;
    for (const char* a : atoms) elems.push_back(atom(a));
    return make_list(heap, elems);
  }
};

TEST_F(NifCall, ReturnsTheResultOnTheCallersHeap) {
  std::size_t before = heap.heap_top();
  Term r = value(call(add, {make_small(2), make_small(40)}));
  EXPECT_EQ(r, make_small(42));
  Term big =
      value(call(add, {make_integer(heap, INT64_MAX / 2), make_integer(heap, INT64_MAX / 2)}));
  EXPECT_TRUE(is_bignum(big));
  EXPECT_TRUE(heap.contains(box_ptr(big)));
  EXPECT_GT(heap.heap_top(), before);
}

TEST_F(NifCall, BadargBecomesErrorBadarg) {
  CallOutcome r = call(add, {atom("x"), make_small(1)});
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<Exception>(r).klass, atoms::kError);
  EXPECT_EQ(std::get<Exception>(r).reason, atoms::kBadarg);
}

TEST_F(NifCall, RaiseExceptionGivesClassErrorWithTheReason) {
  CallOutcome r = call(raise_reason, {make_small(7)});
  ASSERT_EQ(r.index(), 1u);
  const Exception& e = std::get<Exception>(r);
  EXPECT_EQ(e.klass, atoms::kError);
  ASSERT_TRUE(is_tuple(e.reason));
  EXPECT_EQ(tuple_elements(e.reason)[0], atom("oops"));
  EXPECT_EQ(tuple_elements(e.reason)[1], make_small(7));
}

TEST_F(NifCall, APendingExceptionWinsOverTheReturnedValue) {
  CallOutcome r = call(raise_then_return, {});
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<Exception>(r).reason, atoms::kBadarg);
}

TEST_F(NifCall, TheExceptionMarkerReturnedWithoutRaisingIsBadarg) {
  CallOutcome r = call(return_foreign_marker, {});
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<Exception>(r).klass, atoms::kError);
  EXPECT_EQ(std::get<Exception>(r).reason, atoms::kBadarg);
}

TEST_F(NifCall, YieldingCountdownCompletesInsideOneCall) {
  g_countdown_calls = 0;
  Term r = value(call(countdown, {make_small(5), kNilTerm}));
  EXPECT_EQ(g_countdown_calls.load(), 6);  // the call plus five continuations
  ASSERT_TRUE(is_tuple(r));
  EXPECT_EQ(tuple_elements(r)[0], atom("done"));
  // Each step pushed its N: [1,2,3,4,5].
  std::vector<Term> got;
  for (Term x : ListRange(tuple_elements(r)[1])) got.push_back(x);
  EXPECT_EQ(got, (std::vector<Term>{make_small(1), make_small(2), make_small(3), make_small(4),
                                    make_small(5)}));
}

TEST_F(NifCall, NormalNifsRunOnTheCallersThreadAsANormalScheduler) {
  EXPECT_EQ(value(call(where_am_i, {})), atom("normal"));
  EXPECT_EQ(g_last_thread.load(), std::this_thread::get_id());
  // Outside a call this thread is no scheduler at all.
  EXPECT_EQ(enif_thread_type(), ERL_NIF_THR_UNDEFINED);
}

TEST_F(NifCall, DeclaredDirtyNifsRunOnDirtyThreads) {
  EXPECT_EQ(value(call(where_am_i, {}, ERL_NIF_DIRTY_JOB_CPU_BOUND)), atom("dirty_cpu"));
  EXPECT_NE(g_last_thread.load(), std::this_thread::get_id());
  EXPECT_EQ(value(call(where_am_i, {}, ERL_NIF_DIRTY_JOB_IO_BOUND)), atom("dirty_io"));
  EXPECT_NE(g_last_thread.load(), std::this_thread::get_id());
}

TEST_F(NifCall, ScheduleNifMovesBetweenNormalAndDirtySchedulers) {
  Term r = value(call(hop, {}));
  // Pushed newest first: the final normal step, dirty IO, dirty CPU, the first normal step.
  std::vector<Term> got;
  for (Term x : ListRange(r)) got.push_back(x);
  EXPECT_EQ(got, (std::vector<Term>{atom("normal"), atom("dirty_io"), atom("dirty_cpu"),
                                    atom("normal")}));
}

TEST_F(NifCall, DirtyCallsFromManyThreadsAllComplete) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Heap h;
      for (int i = 0; i < 20; ++i) {
        ErlNifFunc fn{"add", 2, add, ERL_NIF_DIRTY_JOB_CPU_BOUND};
        Term args[2] = {make_small(i), make_small(1)};
        CallOutcome r = run_nif(lib, fn, h, self, host, args);
        if (r.index() == 0 && std::get<Term>(r) == make_small(i + 1)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(NifCall, ScheduleNifRefusesBadFlagsAndNames) {
  CallOutcome r = call(bad_flags, {make_small(1), make_small(2)});
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<Exception>(r).reason, atoms::kBadarg);
  r = call(long_name, {make_small(1), make_small(2)});
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<Exception>(r).reason, atoms::kBadarg);
}

TEST_F(NifCall, ScheduleNifOutsideAProcessBoundEnvIsBadarg) {
  Heap h;
  EnvScope env(EnvKind::kCallback, h, &lib, &host);
  Term args[2] = {make_small(1), make_small(2)};
  EXPECT_EQ(enif_schedule_nif(env.get(), "x", 0, add, 2, args), 0u);
  ERL_NIF_TERM reason;
  ASSERT_TRUE(enif_has_pending_exception(env.get(), &reason));
  EXPECT_EQ(reason, atoms::kBadarg);
  EXPECT_FALSE(env.get()->scheduled.has_value());
}

TEST_F(NifCall, ConsumeTimesliceReportsAnExhaustedSlice) {
  Term r = value(call(timeslices, {}));
  std::vector<Term> got;
  for (Term x : ListRange(r)) got.push_back(x);
  // Newest first: 120% -> 1, 90% -> 0, 60% -> 0, 30% -> 0.
  EXPECT_EQ(got, (std::vector<Term>{make_small(1), make_small(0), make_small(0), make_small(0)}));
  // Dirty NIFs have no timeslice.
  EXPECT_EQ(value(call(dirty_timeslice, {}, ERL_NIF_DIRTY_JOB_CPU_BOUND)), make_small(0));
  EXPECT_EQ(value(call(dirty_timeslice, {})), make_small(1));
}

TEST_F(NifCall, SelfIsTheCallerAndNoneWithoutOne) {
  EXPECT_EQ(value(call(self_pid, {})), self);
  ErlNifFunc fn{"self", 0, self_pid, 0};
  CallOutcome r = run_nif(lib, fn, heap, kNilTerm, host, {});
  EXPECT_EQ(value(r), atom("none"));
}

TEST_F(NifCall, TheLibrarysPrivateDataIsVisible) {
  int data = 1234;
  lib.priv_data = &data;
  EXPECT_EQ(value(call(priv, {})), make_small(1234));
  EXPECT_EQ(value(call(priv, {}, ERL_NIF_DIRTY_JOB_IO_BOUND)), make_small(1234));
}

}  // namespace
