// The enif runtime through the C ABI: envs and memory, messages and the VM
// services (through a HostServices that records what it is asked), process
// monitors, enif_select, I/O queues and vectors, enif_system_info (checked
// against the installed BEAM), enif_dlopen/enif_dlsym and enif_getenv.
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "fake_host.hpp"
#include "fake_library.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::testing::FakeHost;
using nifhost::core::testing::FakeLibrary;
using nifhost::testing::BeamOracle;

// A process-bound env as a NIF call gets, for the process `self` of `host`.
struct CallEnv {
  Heap heap;
  EnvScope scope;
  CallEnv(LibraryContext* lib, HostServices* host, Term self)
      : scope(EnvKind::kProcessBound, heap, lib, host, self) {}
  ErlNifEnv* get() { return scope.get(); }
};

// Waits (briefly) for something another thread does.
template <class F>
bool eventually(F&& done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// ================================================================ envs and memory

TEST(Envs, AllocatedEnvsHoldTermsUntilClearedOrFreed) {
  ErlNifEnv* env = enif_alloc_env();
  ASSERT_NE(env, nullptr);
  ERL_NIF_TERM t = enif_make_tuple2(env, enif_make_int(env, 1), enif_make_atom(env, "kept"));
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(1000, &bin));
  std::int64_t refc_binaries = RefcBinary::live_count();
  ERL_NIF_TERM b = enif_make_binary(env, &bin);
  EXPECT_TRUE(enif_is_binary(env, b));
  int arity;
  const ERL_NIF_TERM* elems;
  ASSERT_TRUE(enif_get_tuple(env, t, &arity, &elems));
  EXPECT_EQ(elems[1], atom("kept"));
  EXPECT_EQ(enif_priv_data(env), nullptr);  // no library
  enif_clear_env(env);                      // drops the terms and the binary
  EXPECT_EQ(RefcBinary::live_count(), refc_binaries - 1);
  EXPECT_EQ(env->heap->heap_top(), 0u);
  // Still usable after clearing.
  EXPECT_TRUE(enif_is_atom(env, enif_make_atom(env, "again")));
  enif_free_env(env);
}

TEST(Envs, FreeingAnEnvReleasesItsOffHeapData) {
  std::int64_t before = RefcBinary::live_count();
  ErlNifEnv* env = enif_alloc_env();
  ErlNifBinary bin;
  ASSERT_TRUE(enif_alloc_binary(4096, &bin));
  enif_make_binary(env, &bin);
  EXPECT_EQ(RefcBinary::live_count(), before + 1);
  enif_free_env(env);
  EXPECT_EQ(RefcBinary::live_count(), before);
}

TEST(Envs, FreeAndClearIgnoreEnvsTheyDoNotOwn) {
  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ERL_NIF_TERM tuple = enif_make_tuple1(env.get(), enif_make_int(env.get(), 5));
  enif_clear_env(env.get());
  enif_free_env(env.get());
  EXPECT_TRUE(heap.contains(box_ptr(tuple)));
  EXPECT_EQ(tuple_elements(tuple)[0], make_small(5));
}

TEST(Envs, PrivDataIsTheLibrarys) {
  LibraryContext lib;
  int data = 3;
  lib.priv_data = &data;
  Heap heap;
  EnvScope env(EnvKind::kCallback, heap, &lib, nullptr);
  EXPECT_EQ(enif_priv_data(env.get()), &data);
}

TEST(Memory, AllocReallocFree) {
  auto* p = static_cast<unsigned char*>(enif_alloc(100));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xAB, 100);
  p = static_cast<unsigned char*>(enif_realloc(p, 100000));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p[0], 0xAB);
  EXPECT_EQ(p[99], 0xAB);
  enif_free(p);
  void* zero = enif_alloc(0);
  EXPECT_NE(zero, nullptr);
  enif_free(zero);
  enif_free(nullptr);
}

// ================================================================ messages and the VM

class Vm : public ::testing::Test {
 protected:
  FakeHost host;
  LibraryContext lib;
  Term self = host.spawn();
  Term other = host.spawn();
  CallEnv call{&lib, &host, self};
  ErlNifEnv* env = call.get();

  void SetUp() override {
    lib.module = "enif_runtime_test";
    lib.host = &host;
  }

  // Runs body inside a NIF call of `self` (so that the thread has a call
  // context) and returns what it returned.
  static inline std::function<ERL_NIF_TERM(ErlNifEnv*)> body_;
  Term in_call(std::function<ERL_NIF_TERM(ErlNifEnv*)> body) {
    body_ = std::move(body);
    ErlNifFunc fn{"body", 0, [](ErlNifEnv* e, int, const ERL_NIF_TERM[]) { return body_(e); }, 0};
    Heap& heap = call.heap;
    CallOutcome r = run_nif(lib, fn, heap, self, host, {});
    EXPECT_EQ(r.index(), 0u);
    return r.index() == 0 ? std::get<Term>(r) : kNilTerm;
  }
};

TEST_F(Vm, SendFromTheCallingProcessCopiesTheMessage) {
  ErlNifPid to{other};
  ERL_NIF_TERM msg = enif_make_tuple2(env, enif_make_atom(env, "hello"), enif_make_int(env, 1));
  EXPECT_TRUE(enif_send(env, &to, nullptr, msg));
  auto sent = host.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].from, std::optional<Term>(self));
  EXPECT_EQ(sent[0].to, other);
  ASSERT_TRUE(is_tuple(sent[0].msg));
  EXPECT_EQ(tuple_elements(sent[0].msg)[0], atom("hello"));
  EXPECT_NE(sent[0].msg, msg);  // the VM's copy, not the NIF's term
}

TEST_F(Vm, SendToADeadProcessFails) {
  host.kill(other);
  ErlNifPid to{other};
  EXPECT_FALSE(enif_send(env, &to, nullptr, enif_make_atom(env, "lost")));
  EXPECT_TRUE(host.sent().empty());
}

TEST_F(Vm, SendWithAMessageEnvClearsItOnlyOnSuccess) {
  ErlNifEnv* msg_env = enif_alloc_env();
  ERL_NIF_TERM msg = enif_make_tuple1(msg_env, enif_make_atom(msg_env, "m"));
  // A failed send leaves the message env and its terms valid.
  ErlNifPid dead{make_local_pid(9999, 0)};
  EXPECT_FALSE(enif_send(env, &dead, msg_env, msg));
  EXPECT_GT(msg_env->heap->heap_top(), 0u);
  int arity;
  const ERL_NIF_TERM* elems;
  EXPECT_TRUE(enif_get_tuple(msg_env, msg, &arity, &elems));
  // A successful one invalidates them: the env is cleared.
  ErlNifPid to{other};
  EXPECT_TRUE(enif_send(env, &to, msg_env, msg));
  EXPECT_EQ(msg_env->heap->heap_top(), 0u);
  ASSERT_EQ(host.sent().size(), 1u);
  EXPECT_EQ(tuple_elements(host.sent()[0].msg)[0], atom("m"));
  enif_free_env(msg_env);
}

TEST_F(Vm, SendWithNoCallerEnvComesFromNoProcess) {
  ErlNifPid to{other};
  Term sent = in_call([&](ErlNifEnv* e) {
    ErlNifEnv* msg_env = enif_alloc_env();  // takes this call's VM
    int ok = enif_send(nullptr, &to, msg_env, enif_make_int(msg_env, 5));
    enif_free_env(msg_env);
    ok += enif_send(nullptr, &to, nullptr, enif_make_int(e, 6));  // no env names a VM
    return enif_make_int(e, ok);
  });
  EXPECT_EQ(sent, make_small(2));
  auto log = host.sent();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_FALSE(log[0].from.has_value());
  EXPECT_EQ(log[0].msg, make_small(5));
  EXPECT_FALSE(log[1].from.has_value());
}

TEST(VmWithoutHost, SendFailsWhenNoVmIsReachable) {
  ASSERT_EQ(default_host(), nullptr);
  ErlNifEnv* msg_env = enif_alloc_env();
  ErlNifPid to{make_local_pid(1, 0)};
  EXPECT_FALSE(enif_send(nullptr, &to, msg_env, enif_make_int(msg_env, 5)));
  // With a default host, the same send goes through.
  FakeHost host;
  Term pid = host.spawn();
  set_default_host(&host);
  ErlNifEnv* later = enif_alloc_env();
  ErlNifPid to2{pid};
  EXPECT_TRUE(enif_send(nullptr, &to2, later, enif_make_int(later, 6)));
  set_default_host(nullptr);
  EXPECT_EQ(host.sent().size(), 1u);
  enif_free_env(later);
  enif_free_env(msg_env);
}

TEST_F(Vm, SelfOnlyInAProcessBoundEnv) {
  ErlNifPid pid;
  ASSERT_EQ(enif_self(env, &pid), &pid);
  EXPECT_EQ(pid.pid, self);
  ErlNifEnv* allocated = enif_alloc_env();
  EXPECT_EQ(enif_self(allocated, &pid), nullptr);
  enif_free_env(allocated);
  Heap heap;
  EnvScope callback(EnvKind::kCallback, heap, &lib, &host);
  EXPECT_EQ(enif_self(callback.get(), &pid), nullptr);
}

TEST_F(Vm, WhereisAndLiveness) {
  host.register_name(atom("a_server"), other);
  Term port = make_local_port(7);
  host.register_name(atom("a_port"), port);
  host.open_port(port);
  ErlNifPid pid;
  ASSERT_TRUE(enif_whereis_pid(env, atom("a_server"), &pid));
  EXPECT_EQ(pid.pid, other);
  EXPECT_FALSE(enif_whereis_pid(env, atom("nobody"), &pid));
  EXPECT_FALSE(enif_whereis_pid(env, atom("a_port"), &pid));  // a port is no pid
  EXPECT_FALSE(enif_whereis_pid(env, enif_make_int(env, 1), &pid));
  ErlNifPort p;
  ASSERT_TRUE(enif_whereis_port(env, atom("a_port"), &p));
  EXPECT_EQ(p.port_id, port);
  EXPECT_FALSE(enif_whereis_port(env, atom("a_server"), &p));
  // caller_env may be NULL (a created thread): the call's VM is used.
  EXPECT_EQ(in_call([&](ErlNifEnv* e) {
              return enif_make_int(e, enif_whereis_pid(nullptr, atom("a_server"), &pid));
            }),
            make_small(1));
  EXPECT_FALSE(enif_whereis_pid(nullptr, atom("a_server"), &pid));  // outside any call: no VM

  EXPECT_TRUE(enif_is_process_alive(env, &pid));
  EXPECT_TRUE(enif_is_port_alive(env, &p));
  EXPECT_TRUE(enif_is_current_process_alive(env));
  host.kill(self);
  EXPECT_FALSE(enif_is_current_process_alive(env));
  ErlNifEnv* allocated = enif_alloc_env();
  EXPECT_FALSE(enif_is_current_process_alive(allocated));
  enif_free_env(allocated);
}

TEST_F(Vm, PortCommandGoesToTheVm) {
  Term port = make_local_port(3);
  ErlNifPort p{port};
  EXPECT_FALSE(enif_port_command(env, &p, nullptr, enif_make_atom(env, "closed")));
  host.open_port(port);
  EXPECT_TRUE(enif_port_command(env, &p, nullptr, enif_make_atom(env, "data")));
  auto cmds = host.port_commands();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].first, port);
  EXPECT_EQ(cmds[0].second, atom("data"));
}

// ================================================================ monitors

struct DownLog {
  std::atomic<int> calls{0};
  Term pid = kNilTerm;
  ErlNifMonitor monitor{};
  std::atomic<int> dtors{0};
};
DownLog g_down;

void on_down(ErlNifEnv*, void*, ErlNifPid* pid, ErlNifMonitor* mon) {
  g_down.pid = pid->pid;
  g_down.monitor = *mon;
  ++g_down.calls;
}
void on_dtor(ErlNifEnv*, void*) { ++g_down.dtors; }

class Monitors : public Vm {
 protected:
  FakeLibrary flib{"enif_runtime_monitors", &host};
  ErlNifResourceType* watched = nullptr;
  ErlNifResourceType* unwatched = nullptr;

  void SetUp() override {
    Vm::SetUp();
    g_down.calls = 0;
    g_down.dtors = 0;
    ASSERT_TRUE(flib.load([&](ErlNifEnv* e) {
      ErlNifResourceTypeInit init{};
      init.dtor = on_dtor;
      init.down = on_down;
      watched = enif_open_resource_type_x(e, "watched", &init, ERL_NIF_RT_CREATE, nullptr);
      unwatched =
          enif_open_resource_type(e, nullptr, "unwatched", on_dtor, ERL_NIF_RT_CREATE, nullptr);
      return watched != nullptr && unwatched != nullptr;
    }));
  }
};

TEST_F(Monitors, DownCallbackRunsWhenTheProcessExits) {
  void* obj = enif_alloc_resource(watched, 8);
  ErlNifPid target{other};
  ErlNifMonitor mon;
  ASSERT_EQ(enif_monitor_process(env, obj, &target, &mon), 0);
  ASSERT_EQ(host.monitors().size(), 1u);
  host.kill(other);
  EXPECT_EQ(g_down.calls.load(), 1);
  EXPECT_EQ(g_down.pid, other);
  EXPECT_EQ(enif_compare_monitors(&g_down.monitor, &mon), 0);
  // A fired monitor is no longer active.
  EXPECT_EQ(enif_demonitor_process(env, obj, &mon), 1);
  enif_release_resource(obj);
  EXPECT_EQ(g_down.dtors.load(), 1);
}

TEST_F(Monitors, DemonitorStopsTheDownCallback) {
  void* obj = enif_alloc_resource(watched, 8);
  ErlNifPid target{other};
  ErlNifMonitor mon;
  ASSERT_EQ(enif_monitor_process(env, obj, &target, &mon), 0);
  EXPECT_EQ(enif_demonitor_process(env, obj, &mon), 0);
  EXPECT_EQ(host.demonitored().size(), 1u);
  EXPECT_EQ(enif_demonitor_process(env, obj, &mon), 1);
  host.kill(other);
  EXPECT_EQ(g_down.calls.load(), 0);
  enif_release_resource(obj);
}

TEST_F(Monitors, FailureValues) {
  void* plain = enif_alloc_resource(unwatched, 8);
  void* obj = enif_alloc_resource(watched, 8);
  ErlNifPid target{other};
  ErlNifMonitor mon;
  EXPECT_LT(enif_monitor_process(env, plain, &target, &mon), 0);  // no down callback
  host.kill(other);
  EXPECT_GT(enif_monitor_process(env, obj, &target, &mon), 0);  // not alive
  ErlNifPid undefined;
  enif_set_pid_undefined(&undefined);
  EXPECT_GT(enif_monitor_process(env, obj, &undefined, &mon), 0);
  EXPECT_TRUE(host.monitors().empty());
  enif_release_resource(plain);
  enif_release_resource(obj);
}

TEST_F(Monitors, ADestroyedResourceTakesItsMonitorsAlong) {
  void* obj = enif_alloc_resource(watched, 8);
  ErlNifPid target{other};
  ErlNifMonitor mon;
  ASSERT_EQ(enif_monitor_process(env, obj, &target, &mon), 0);
  enif_release_resource(obj);
  EXPECT_EQ(g_down.dtors.load(), 1);
  EXPECT_TRUE(host.monitors().empty());  // the VM was told to forget it
  host.kill(other);
  EXPECT_EQ(g_down.calls.load(), 0);
}

TEST_F(Monitors, MonitorTermsAreReferencesEqualForEqualMonitors) {
  void* obj = enif_alloc_resource(watched, 8);
  ErlNifPid target{other};
  ErlNifMonitor m1, m2;
  ASSERT_EQ(enif_monitor_process(env, obj, &target, &m1), 0);
  ASSERT_EQ(enif_monitor_process(env, obj, &target, &m2), 0);
  EXPECT_NE(enif_compare_monitors(&m1, &m2), 0);
  EXPECT_EQ(enif_compare_monitors(&m1, &m2), -enif_compare_monitors(&m2, &m1));
  ERL_NIF_TERM t1 = enif_make_monitor_term(env, &m1);
  EXPECT_TRUE(enif_is_ref(env, t1));
  EXPECT_EQ(enif_compare(t1, enif_make_monitor_term(env, &m1)), 0);
  EXPECT_NE(enif_compare(t1, enif_make_monitor_term(env, &m2)), 0);
  EXPECT_NE(enif_compare(t1, enif_make_ref(env)), 0);
  host.kill(other);
  EXPECT_EQ(g_down.calls.load(), 2);
  enif_release_resource(obj);
}

// ================================================================ select

struct StopLog {
  std::atomic<int> calls{0};
  std::atomic<int> fd{-1};
  std::atomic<int> direct{-1};
};
StopLog g_stop;

void on_stop(ErlNifEnv*, void*, ErlNifEvent fd, int is_direct_call) {
  g_stop.fd = fd;
  g_stop.direct = is_direct_call;
  ++g_stop.calls;
}

class Select : public Vm {
 protected:
  FakeLibrary flib{"enif_runtime_select", &host};
  ErlNifResourceType* type = nullptr;
  int fds[2] = {-1, -1};

  void SetUp() override {
    Vm::SetUp();
    g_stop.calls = 0;
    ASSERT_TRUE(flib.load([&](ErlNifEnv* e) {
      ErlNifResourceTypeInit init{};
      init.stop = on_stop;
      type = enif_open_resource_type_x(e, "fd", &init, ERL_NIF_RT_CREATE, nullptr);
      return type != nullptr;
    }));
    ASSERT_EQ(pipe(fds), 0);
  }
  void TearDown() override {
    close(fds[0]);
    close(fds[1]);
  }
};

TEST_F(Select, ReadinessSendsTheSelectMessageOnce) {
  void* obj = enif_alloc_resource(type, 4);
  ERL_NIF_TERM ref = enif_make_ref(env);
  ErlNifPid to{other};
  ASSERT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_READ, obj, &to, ref), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(host.sent().empty());  // nothing to read yet
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ASSERT_TRUE(eventually([&] { return host.sent().size() == 1; }));
  auto sent = host.sent();
  EXPECT_EQ(sent[0].to, other);
  ASSERT_TRUE(is_tuple(sent[0].msg));
  ASSERT_EQ(tuple_arity(sent[0].msg), 4u);
  const Term* m = tuple_elements(sent[0].msg);
  EXPECT_EQ(m[0], atom("select"));
  void* got = nullptr;
  EXPECT_TRUE(enif_get_resource(env, m[1], type, &got));
  EXPECT_EQ(got, obj);
  EXPECT_EQ(enif_compare(m[2], ref), 0);
  EXPECT_EQ(m[3], atom("ready_input"));
  // One-shot: still readable, but no second message until selected again.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(host.sent().size(), 1u);
  ASSERT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_READ, obj, nullptr, atom("undefined")), 0);
  ASSERT_TRUE(eventually([&] { return host.sent().size() == 2; }));
  EXPECT_EQ(host.sent()[1].to, self);  // no pid: the calling process
  EXPECT_EQ(tuple_elements(host.sent()[1].msg)[2], atom("undefined"));

  EXPECT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_STOP, obj, nullptr, atom("undefined")),
            ERL_NIF_SELECT_STOP_CALLED);
  EXPECT_EQ(g_stop.calls.load(), 1);
  EXPECT_EQ(g_stop.fd.load(), fds[0]);
  EXPECT_EQ(g_stop.direct.load(), 1);
  enif_release_resource(obj);
}

TEST_F(Select, CustomMessagesAndWriteReadiness) {
  void* obj = enif_alloc_resource(type, 4);
  ErlNifEnv* msg_env = enif_alloc_env();
  ERL_NIF_TERM msg =
      enif_make_tuple2(msg_env, enif_make_atom(msg_env, "writable"), enif_make_int(msg_env, 9));
  ErlNifPid to{other};
  // The pipe's write end is writable at once. The message is copied: msg_env
  // stays the caller's (OTP's nif_SUITE frees it right after the call).
  // enif_select_write(...) is this call; the macro's int flags need a cast in C++.
  ASSERT_EQ(enif_select_x(
                env, fds[1],
                static_cast<ErlNifSelectFlags>(ERL_NIF_SELECT_WRITE | ERL_NIF_SELECT_CUSTOM_MSG),
                obj, &to, msg, msg_env),
            0);
  enif_free_env(msg_env);  // the selection holds its own copy
  ASSERT_TRUE(eventually([&] { return host.sent().size() == 1; }));
  Term got = host.sent()[0].msg;
  ASSERT_TRUE(is_tuple(got));
  EXPECT_EQ(tuple_elements(got)[0], atom("writable"));
  EXPECT_EQ(tuple_elements(got)[1], make_small(9));
  EXPECT_EQ(enif_select(env, fds[1], ERL_NIF_SELECT_STOP, obj, nullptr, atom("undefined")),
            ERL_NIF_SELECT_STOP_CALLED);
  enif_release_resource(obj);
}

TEST_F(Select, CancelRemovesAPendingSelection) {
  void* obj = enif_alloc_resource(type, 4);
  ASSERT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_READ, obj, nullptr, atom("undefined")), 0);
  int r = enif_select(env, fds[0],
                      static_cast<ErlNifSelectFlags>(ERL_NIF_SELECT_READ | ERL_NIF_SELECT_CANCEL),
                      obj, nullptr, atom("undefined"));
  EXPECT_EQ(r, ERL_NIF_SELECT_READ_CANCELLED);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(host.sent().empty());
  // Nothing left to cancel.
  EXPECT_EQ(enif_select(env, fds[0],
                        static_cast<ErlNifSelectFlags>(ERL_NIF_SELECT_READ | ERL_NIF_SELECT_CANCEL),
                        obj, nullptr, atom("undefined")),
            0);
  EXPECT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_STOP, obj, nullptr, atom("undefined")),
            ERL_NIF_SELECT_STOP_CALLED);
  enif_release_resource(obj);
}

TEST_F(Select, ASelectedResourceIsKeptUntilStop) {
  void* obj = enif_alloc_resource(type, 4);
  std::int64_t live = Resource::live_count();
  ASSERT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_READ, obj, nullptr, atom("undefined")), 0);
  enif_release_resource(obj);
  EXPECT_EQ(Resource::live_count(), live);  // the selection holds it
  EXPECT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_STOP, obj, nullptr, atom("undefined")),
            ERL_NIF_SELECT_STOP_CALLED);
  EXPECT_EQ(Resource::live_count(), live - 1);
}

TEST_F(Select, InvalidEventsFail) {
  void* obj = enif_alloc_resource(type, 4);
  int r = enif_select(env, -1, ERL_NIF_SELECT_READ, obj, nullptr, atom("undefined"));
  EXPECT_LT(r, 0);
  EXPECT_TRUE(r & ERL_NIF_SELECT_INVALID_EVENT);
  int closed = dup(fds[0]);
  close(closed);
  r = enif_select(env, closed, ERL_NIF_SELECT_READ, obj, nullptr, atom("undefined"));
  EXPECT_LT(r, 0);
  EXPECT_TRUE(r & ERL_NIF_SELECT_INVALID_EVENT);
  // STOP on an fd never selected calls stop directly.
  EXPECT_EQ(enif_select(env, fds[0], ERL_NIF_SELECT_STOP, obj, nullptr, atom("undefined")),
            ERL_NIF_SELECT_STOP_CALLED);
  EXPECT_EQ(g_stop.calls.load(), 1);
  enif_release_resource(obj);
}

// ================================================================ I/O queues and vectors

std::string queued(ErlNifIOQueue* q) {
  int n = 0;
  SysIOVec* iov = enif_ioq_peek(q, &n);
  std::string out;
  for (int i = 0; i < n; ++i) out.append(iov[i].iov_base, iov[i].iov_len);
  return out;
}

TEST(IoQueues, EnqueueDequeuePeek) {
  EXPECT_EQ(enif_ioq_create(static_cast<ErlNifIOQueueOpts>(2)), nullptr);
  ErlNifIOQueue* q = enif_ioq_create(ERL_NIF_IOQ_NORMAL);
  ASSERT_NE(q, nullptr);
  std::int64_t binaries = RefcBinary::live_count();

  ErlNifBinary a;
  ASSERT_TRUE(enif_alloc_binary(5, &a));
  std::memcpy(a.data, "hello", 5);
  EXPECT_TRUE(enif_ioq_enq_binary(q, &a, 0));  // the queue owns it now
  ErlNifBinary b;
  ASSERT_TRUE(enif_alloc_binary(6, &b));
  std::memcpy(b.data, "XXworld", 6);
  EXPECT_TRUE(enif_ioq_enq_binary(q, &b, 2));  // skipping "XX"
  EXPECT_EQ(enif_ioq_size(q), 9u);
  EXPECT_EQ(queued(q), "helloworl");

  ErlNifBinary c;
  ASSERT_TRUE(enif_alloc_binary(2, &c));
  EXPECT_FALSE(enif_ioq_enq_binary(q, &c, 3));  // skip past the end; released anyway
  EXPECT_EQ(RefcBinary::live_count(), binaries + 2);

  size_t left = 0;
  EXPECT_FALSE(enif_ioq_deq(q, 10, &left));
  EXPECT_TRUE(enif_ioq_deq(q, 3, &left));
  EXPECT_EQ(left, 6u);
  EXPECT_EQ(queued(q), "loworl");

  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ERL_NIF_TERM head;
  size_t head_size = 0;
  ASSERT_TRUE(enif_ioq_peek_head(env.get(), q, &head_size, &head));
  ErlNifBinary view;
  ASSERT_TRUE(enif_inspect_binary(env.get(), head, &view));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(view.data), view.size), "lo");
  EXPECT_EQ(head_size, 2u);

  EXPECT_TRUE(enif_ioq_deq(q, 2, &left));             // the first binary is done with
  EXPECT_EQ(RefcBinary::live_count(), binaries + 2);  // ...but the head term still holds it
  heap.clear();
  EXPECT_EQ(RefcBinary::live_count(), binaries + 1);
  EXPECT_TRUE(enif_ioq_deq(q, 4, &left));
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(RefcBinary::live_count(), binaries);
  EXPECT_FALSE(enif_ioq_peek_head(env.get(), q, &head_size, &head));
  enif_ioq_destroy(q);
}

TEST(IoQueues, DestroyReleasesWhatIsQueued) {
  std::int64_t binaries = RefcBinary::live_count();
  ErlNifIOQueue* q = enif_ioq_create(ERL_NIF_IOQ_NORMAL);
  ErlNifBinary a;
  ASSERT_TRUE(enif_alloc_binary(100, &a));
  EXPECT_TRUE(enif_ioq_enq_binary(q, &a, 0));
  EXPECT_EQ(RefcBinary::live_count(), binaries + 1);
  enif_ioq_destroy(q);
  EXPECT_EQ(RefcBinary::live_count(), binaries);
}

TEST(IoVectors, InspectAListOfBinariesAndEnqueueIt) {
  Heap heap;
  EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
  ErlNifEnv* env = scope.get();
  std::string big(200, 'b');
  ERL_NIF_TERM parts[3] = {make_binary(heap, "ab"), make_binary(heap, big), make_binary(heap, "c")};
  ERL_NIF_TERM list = enif_make_list_from_array(env, parts, 3);

  ErlNifIOVec* iov = nullptr;
  ERL_NIF_TERM tail;
  ASSERT_TRUE(enif_inspect_iovec(env, 2, list, &tail, &iov));
  ASSERT_NE(iov, nullptr);
  EXPECT_EQ(iov->iovcnt, 2);
  EXPECT_EQ(iov->size, 202u);
  EXPECT_EQ(std::string(iov->iov[0].iov_base, iov->iov[0].iov_len), "ab");
  unsigned len;
  ASSERT_TRUE(enif_get_list_length(env, tail, &len));
  EXPECT_EQ(len, 1u);

  ErlNifIOQueue* q = enif_ioq_create(ERL_NIF_IOQ_NORMAL);
  EXPECT_TRUE(enif_ioq_enqv(q, iov, 1));
  EXPECT_EQ(queued(q), "b" + big);
  EXPECT_FALSE(enif_ioq_enqv(q, iov, 203));

  // Into a caller's vector; the whole list.
  ErlNifIOVec mine;
  ErlNifIOVec* minep = &mine;
  ASSERT_TRUE(enif_inspect_iovec(env, 100, list, &tail, &minep));
  EXPECT_EQ(minep, &mine);
  EXPECT_EQ(mine.iovcnt, 3);
  EXPECT_TRUE(enif_is_empty_list(env, tail));

  // Not a list of binaries.
  ERL_NIF_TERM bad = enif_make_list2(env, parts[0], enif_make_int(env, 1));
  EXPECT_FALSE(enif_inspect_iovec(env, 10, bad, &tail, &iov));
  ERL_NIF_TERM improper = enif_make_list_cell(env, parts[0], parts[1]);
  EXPECT_FALSE(enif_inspect_iovec(env, 10, improper, &tail, &iov));

  heap.clear();  // the queue keeps its own references
  EXPECT_EQ(queued(q), "b" + big);
  enif_ioq_destroy(q);
}

TEST(IoVectors, WithoutAnEnvTheVectorHoldsItsBytes) {
  std::int64_t binaries = RefcBinary::live_count();
  ErlNifIOVec* iov = nullptr;
  {
    Heap heap;
    EnvScope scope(EnvKind::kProcessBound, heap, nullptr, nullptr);
    ERL_NIF_TERM parts[2] = {make_binary(heap, "small"), make_binary(heap, std::string(300, 'L'))};
    ERL_NIF_TERM list = enif_make_list_from_array(scope.get(), parts, 2);
    ERL_NIF_TERM tail;
    ASSERT_TRUE(enif_inspect_iovec(nullptr, 10, list, &tail, &iov));
  }  // the terms are gone
  EXPECT_EQ(std::string(iov->iov[0].iov_base, iov->iov[0].iov_len), "small");
  EXPECT_EQ(std::string(iov->iov[1].iov_base, iov->iov[1].iov_len), std::string(300, 'L'));
  EXPECT_GT(RefcBinary::live_count(), binaries);
  enif_free_iovec(iov);
  EXPECT_EQ(RefcBinary::live_count(), binaries);
}

// ================================================================ system info

BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

// erlang:system_info(What) in the real BEAM, decoded into heap.
Term beam_system_info(Heap& heap, const char* what) {
  Term args = make_list(heap, {atom(what)});
  auto etf = encode(args);
  EXPECT_TRUE(etf.has_value());
  auto r = oracle().call("erlang", "system_info", *etf);
  EXPECT_TRUE(r.has_value()) << (r ? "" : nifhost::testing::describe(r.error()));
  if (!r || r->raised) return kNilTerm;
  auto t = decode(r->term, heap);
  EXPECT_TRUE(t.has_value());
  return t ? *t : kNilTerm;
}

std::string char_list(Term t) {
  std::string s;
  for (Term c : ListRange(t)) s.push_back(static_cast<char>(small_value(c)));
  return s;
}

TEST(SystemInfo, MatchesTheInstalledBeam) {
  ErlNifSysInfo info;
  std::memset(&info, 0xFF, sizeof info);
  enif_system_info(&info, sizeof info);
  Heap heap;
  EXPECT_EQ(std::string(info.erts_version), char_list(beam_system_info(heap, "version")));
  EXPECT_EQ(std::string(info.otp_release), char_list(beam_system_info(heap, "otp_release")));
  EXPECT_EQ(info.scheduler_threads, small_value(beam_system_info(heap, "schedulers")));
  EXPECT_EQ(info.async_threads, small_value(beam_system_info(heap, "thread_pool_size")));
  std::string nif = char_list(beam_system_info(heap, "nif_version"));
  EXPECT_EQ(std::to_string(info.nif_major_version) + "." + std::to_string(info.nif_minor_version),
            nif);
  std::string drv = char_list(beam_system_info(heap, "driver_version"));
  EXPECT_EQ(
      std::to_string(info.driver_major_version) + "." + std::to_string(info.driver_minor_version),
      drv);
  EXPECT_EQ(info.thread_support, 1);
  EXPECT_EQ(info.smp_support, beam_system_info(heap, "smp_support") == atom("true") ? 1 : 0);
  EXPECT_EQ(info.dirty_scheduler_support, 1);
  // The pools nifhost runs dirty NIFs on are the BEAM's default sizes here.
  SchedulerCounts counts = scheduler_counts();
  EXPECT_EQ(static_cast<long>(counts.dirty_cpu),
            small_value(beam_system_info(heap, "dirty_cpu_schedulers")));
  EXPECT_EQ(static_cast<long>(counts.dirty_io),
            small_value(beam_system_info(heap, "dirty_io_schedulers")));
}

TEST(SystemInfo, FillsOnlyWhatTheCallersStructHolds) {
  ErlNifSysInfo info;
  std::memset(&info, 0x5A, sizeof info);
  // A caller built against driver version 1.0 knows the fields up to smp_support.
  enif_system_info(&info, offsetof(ErlNifSysInfo, smp_support) + sizeof(int));
  EXPECT_EQ(info.smp_support, 1);
  int untouched;
  std::memset(&untouched, 0x5A, sizeof untouched);
  EXPECT_EQ(info.scheduler_threads, untouched);
  EXPECT_EQ(info.dirty_scheduler_support, untouched);
}

// ================================================================ dlopen, getenv

struct ErrorSink {
  std::string text;
  int calls = 0;
};
void collect_error(void* arg, const char* text) {
  auto* sink = static_cast<ErrorSink*>(arg);
  sink->text = text;
  ++sink->calls;
}

TEST(DynamicLibraries, OpenAppendsSoAndReportsErrorsThroughTheHandler) {
  // The path is given without ".so", as to erlang:load_nif/2: a link named
  // <dir>/libenif_dl_test.so to the (versioned) core library.
  Dl_info info;
  ASSERT_TRUE(dladdr(reinterpret_cast<void*>(&enif_dlopen), &info));
  auto dir = std::filesystem::temp_directory_path() / ("enif_dl_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink(std::filesystem::absolute(info.dli_fname),
                                  dir / "libenif_dl_test.so");
  std::string base = (dir / "libenif_dl_test").string();
  ErrorSink sink;
  void* handle = enif_dlopen(base.c_str(), collect_error, &sink);
  std::filesystem::remove_all(dir);
  ASSERT_NE(handle, nullptr) << sink.text;
  EXPECT_EQ(sink.calls, 0);
  EXPECT_EQ(enif_dlsym(handle, "enif_alloc", collect_error, &sink),
            reinterpret_cast<void*>(&enif_alloc));
  EXPECT_EQ(enif_dlsym(handle, "no_such_symbol_here", collect_error, &sink), nullptr);
  EXPECT_EQ(sink.calls, 1);
  EXPECT_NE(sink.text.find("no_such_symbol_here"), std::string::npos);
  EXPECT_EQ(enif_dlsym(handle, "no_such_symbol_here", nullptr, nullptr), nullptr);
  dlclose(handle);

  sink = ErrorSink{};
  EXPECT_EQ(enif_dlopen("/nonexistent/libnothing", collect_error, &sink), nullptr);
  EXPECT_EQ(sink.calls, 1);
  EXPECT_NE(sink.text.find("/nonexistent/libnothing.so"), std::string::npos) << sink.text;
  EXPECT_EQ(enif_dlopen("/nonexistent/libnothing", nullptr, nullptr), nullptr);
}

TEST(Environment, GetenvFollowsErlDrvGetenv) {
  ASSERT_EQ(setenv("NIFHOST_ENIF_TEST_VAR", "value-1", 1), 0);
  char buf[32];
  size_t size = sizeof buf;
  EXPECT_EQ(enif_getenv("NIFHOST_ENIF_TEST_VAR", buf, &size), 0);
  EXPECT_STREQ(buf, "value-1");
  EXPECT_EQ(size, 7u);  // the length, without the NUL
  size = 7;             // no room for the NUL
  EXPECT_GT(enif_getenv("NIFHOST_ENIF_TEST_VAR", buf, &size), 0);
  EXPECT_EQ(size, 8u);  // the buffer size needed
  size = sizeof buf;
  EXPECT_LT(enif_getenv("NIFHOST_ENIF_TEST_NOT_SET", buf, &size), 0);
  unsetenv("NIFHOST_ENIF_TEST_VAR");
}

}  // namespace
