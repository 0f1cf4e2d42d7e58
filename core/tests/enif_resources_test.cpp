// Resource types and resource objects through the C ABI: when types may be
// opened, ERL_NIF_RT_CREATE / ERL_NIF_RT_TAKEOVER as the erl_nif manual
// documents them, commit and rollback around load/upgrade, destructors
// running exactly once when the last reference goes, resource terms and
// resource binaries, and dynamic resource calls.
#include <atomic>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "fake_host.hpp"
#include "fake_library.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::testing::FakeHost;
using nifhost::core::testing::FakeLibrary;

// Destructor calls, by which destructor, with what it saw.
struct DtorLog {
  std::atomic<int> calls{0};
  std::atomic<int> calls2{0};
  std::atomic<void*> priv{nullptr};
  std::atomic<bool> had_self{false};
  std::atomic<int> value{0};
};
DtorLog g_log;

void dtor1(ErlNifEnv* env, void* obj) {
  ++g_log.calls;
  g_log.priv = enif_priv_data(env);
  ErlNifPid pid;
  g_log.had_self = enif_self(env, &pid) != nullptr;
  g_log.value = *static_cast<int*>(obj);
}
void dtor2(ErlNifEnv*, void*) { ++g_log.calls2; }

void dyncall_add(ErlNifEnv*, void* obj, void* call_data) {
  *static_cast<long*>(call_data) += *static_cast<int*>(obj);
}

class Resources : public ::testing::Test {
 protected:
  void SetUp() override {
    g_log.calls = 0;
    g_log.calls2 = 0;
    g_log.priv = nullptr;
    g_log.had_self = false;
    g_log.value = 0;
    live_before_ = Resource::live_count();
  }
  void TearDown() override {
    EXPECT_EQ(Resource::live_count(), live_before_) << "a resource leaked";
  }

  ErlNifResourceType* open(FakeLibrary& lib, const char* name, ErlNifResourceDtor* dtor, int flags,
                           ErlNifResourceFlags* tried = nullptr) {
    ErlNifResourceType* type = nullptr;
    EXPECT_TRUE(lib.load([&](ErlNifEnv* env) {
      type = enif_open_resource_type(env, nullptr, name, dtor,
                                     static_cast<ErlNifResourceFlags>(flags), tried);
      return true;
    }));
    return type;
  }

  static int* new_int(ErlNifResourceType* type, int v) {
    auto* p = static_cast<int*>(enif_alloc_resource(type, sizeof(int)));
    *p = v;
    return p;
  }

  std::int64_t live_before_ = 0;
};

TEST_F(Resources, TypesOpenOnlyWhileLoadOrUpgradeRuns) {
  FakeLibrary lib("res_open_window");
  Heap heap;
  EnvScope callback(EnvKind::kCallback, heap, &lib.ctx, nullptr);
  ErlNifResourceFlags tried = static_cast<ErlNifResourceFlags>(0);
  EXPECT_EQ(enif_open_resource_type(callback.get(), nullptr, "t", dtor1, ERL_NIF_RT_CREATE, &tried),
            nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_CREATE);  // tried echoes the flags when nothing was done
  EXPECT_EQ(enif_open_resource_type(nullptr, nullptr, "t", dtor1, ERL_NIF_RT_CREATE, nullptr),
            nullptr);

  // Nor from a NIF call.
  FakeHost host;
  ErlNifFunc fn{"open", 0,
                [](ErlNifEnv* env, int, const ERL_NIF_TERM[]) -> ERL_NIF_TERM {
                  ErlNifResourceType* t =
                      enif_open_resource_type(env, nullptr, "t", dtor1, ERL_NIF_RT_CREATE, nullptr);
                  return enif_make_atom(env, t == nullptr ? "null" : "opened");
                },
                0};
  CallOutcome r = run_nif(lib.ctx, fn, heap, host.spawn(), host, {});
  ASSERT_EQ(r.index(), 0u);
  EXPECT_EQ(std::get<Term>(r), atom("null"));

  // In load it works.
  ErlNifResourceType* t = open(lib, "t", dtor1, ERL_NIF_RT_CREATE, &tried);
  EXPECT_NE(t, nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_CREATE);
  EXPECT_FALSE(lib.ctx.opening_resource_types);
}

TEST_F(Resources, CreateFailsForAnExistingTypeAndTakeoverForAMissingOne) {
  FakeLibrary v1("res_flags");
  ErlNifResourceFlags tried;
  EXPECT_EQ(open(v1, "missing", dtor1, ERL_NIF_RT_TAKEOVER, &tried), nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_TAKEOVER);
  ErlNifResourceType* t = open(v1, "t", dtor1, ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, &tried);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_CREATE);

  FakeLibrary v2("res_flags");
  EXPECT_EQ(open(v2, "t", dtor2, ERL_NIF_RT_CREATE, &tried), nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_CREATE);
  EXPECT_EQ(open(v2, "t", dtor2, ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, &tried), t);
  EXPECT_EQ(tried, ERL_NIF_RT_TAKEOVER);

  // Types belong to a module: another module's "t" is a different type.
  FakeLibrary other("res_flags_other");
  ErlNifResourceType* t_other = open(other, "t", dtor1, ERL_NIF_RT_CREATE, &tried);
  EXPECT_NE(t_other, nullptr);
  EXPECT_NE(t_other, t);
}

TEST_F(Resources, DestructorRunsOnceWhenTheLastHeapReferenceGoes) {
  FakeHost host;
  FakeLibrary lib("res_heap", &host);
  int priv = 7;
  lib.ctx.priv_data = &priv;
  ErlNifResourceType* t = open(lib, "t", dtor1, ERL_NIF_RT_CREATE);
  int* obj = new_int(t, 41);
  EXPECT_EQ(enif_sizeof_resource(obj), sizeof(int));

  Heap h1, h2;
  EnvScope e1(EnvKind::kProcessBound, h1, &lib.ctx, &host, host.spawn());
  EnvScope e2(EnvKind::kProcessBound, h2, &lib.ctx, &host, host.spawn());
  ERL_NIF_TERM term1 = enif_make_resource(e1.get(), obj);
  ERL_NIF_TERM term2 = enif_make_copy(e2.get(), term1);
  enif_release_resource(obj);  // the terms hold it now
  void* got = nullptr;
  EXPECT_TRUE(enif_get_resource(e2.get(), term2, t, &got));
  EXPECT_EQ(got, obj);

  h1.clear();
  EXPECT_EQ(g_log.calls.load(), 0);
  h2.clear();
  EXPECT_EQ(g_log.calls.load(), 1);
  EXPECT_EQ(g_log.value.load(), 41);
  // The destructor ran in a callback env of the owning library: its private
  // data, and no calling process.
  EXPECT_EQ(g_log.priv.load(), &priv);
  EXPECT_FALSE(g_log.had_self.load());
}

TEST_F(Resources, KeepAndReleaseCountReferences) {
  FakeLibrary lib("res_keep");
  ErlNifResourceType* t = open(lib, "t", dtor1, ERL_NIF_RT_CREATE);
  int* obj = new_int(t, 5);
  enif_keep_resource(obj);
  enif_keep_resource(obj);
  enif_release_resource(obj);
  enif_release_resource(obj);
  EXPECT_EQ(g_log.calls.load(), 0);
  enif_release_resource(obj);
  EXPECT_EQ(g_log.calls.load(), 1);
}

TEST_F(Resources, GetResourceChecksTheType) {
  FakeLibrary lib("res_types");
  ErlNifResourceType* a = open(lib, "a", dtor1, ERL_NIF_RT_CREATE);
  ErlNifResourceType* b = open(lib, "b", dtor2, ERL_NIF_RT_CREATE);
  int* obj = new_int(a, 1);
  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, &lib.ctx, nullptr);
  ERL_NIF_TERM term = enif_make_resource(env.get(), obj);
  enif_release_resource(obj);

  void* got = nullptr;
  EXPECT_FALSE(enif_get_resource(env.get(), term, b, &got));
  EXPECT_EQ(got, nullptr);
  EXPECT_TRUE(enif_get_resource(env.get(), term, a, &got));
  EXPECT_EQ(got, obj);
  EXPECT_FALSE(enif_get_resource(env.get(), enif_make_ref(env.get()), a, &got));
  EXPECT_FALSE(enif_get_resource(env.get(), enif_make_int(env.get(), 1), a, &got));
  EXPECT_FALSE(enif_get_resource(env.get(), enif_make_tuple1(env.get(), term), a, &got));
  // A resource term is a reference to the other enif functions.
  EXPECT_TRUE(enif_is_ref(env.get(), term));
}

TEST_F(Resources, ResourceBinariesShareTheResourcesBytesAndKeepItAlive) {
  FakeLibrary lib("res_binary");
  ErlNifResourceType* t = open(lib, "t", dtor1, ERL_NIF_RT_CREATE);
  auto* obj = static_cast<char*>(enif_alloc_resource(t, 16));
  std::memcpy(obj, "\x07\0\0\0payload-bytes", 16);  // an int 7, then bytes
  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, &lib.ctx, nullptr);
  ERL_NIF_TERM bin = enif_make_resource_binary(env.get(), obj, obj + 4, 7);
  enif_release_resource(obj);
  EXPECT_EQ(g_log.calls.load(), 0);

  ErlNifBinary view;
  ASSERT_TRUE(enif_inspect_binary(env.get(), bin, &view));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(view.data), view.size), "payload");
  EXPECT_EQ(view.data, reinterpret_cast<unsigned char*>(obj + 4));  // not a copy
  void* got = nullptr;
  EXPECT_TRUE(enif_get_resource(env.get(), bin, t, &got));  // accepted as a handle, as the BEAM
  EXPECT_EQ(got, obj);

  heap.clear();
  EXPECT_EQ(g_log.calls.load(), 1);
  EXPECT_EQ(g_log.value.load(), 7);
}

TEST_F(Resources, TakeoverSwitchesExistingResourcesToTheNewCallbacksOnCommit) {
  FakeLibrary v1("res_takeover");
  ErlNifResourceType* t = open(v1, "t", dtor1, ERL_NIF_RT_CREATE);
  int* before = new_int(t, 1);
  int* during = new_int(t, 2);
  int* after = new_int(t, 3);
  EXPECT_TRUE(resources_pending_for(v1.ctx));

  FakeLibrary v2("res_takeover");
  ASSERT_TRUE(v2.load([&](ErlNifEnv* env) {
    ErlNifResourceFlags tried;
    ErlNifResourceType* t2 =
        enif_open_resource_type(env, nullptr, "t", dtor2, ERL_NIF_RT_TAKEOVER, &tried);
    EXPECT_EQ(t2, t);
    EXPECT_EQ(tried, ERL_NIF_RT_TAKEOVER);
    // Until the upgrade succeeds the old callbacks stay.
    enif_release_resource(during);
    return true;
  }));
  EXPECT_EQ(g_log.calls.load(), 1);
  EXPECT_EQ(g_log.calls2.load(), 0);
  // The old library's instances now belong to the new one.
  EXPECT_FALSE(resources_pending_for(v1.ctx));
  EXPECT_TRUE(resources_pending_for(v2.ctx));
  enif_release_resource(before);
  enif_release_resource(after);
  EXPECT_EQ(g_log.calls.load(), 1);
  EXPECT_EQ(g_log.calls2.load(), 2);
  EXPECT_FALSE(resources_pending_for(v2.ctx));
}

TEST_F(Resources, AFailedLoadRollsBackWhatItOpened) {
  FakeLibrary v1("res_rollback");
  ErlNifResourceType* t = open(v1, "t", dtor1, ERL_NIF_RT_CREATE);

  FakeLibrary v2("res_rollback");
  EXPECT_FALSE(v2.load([&](ErlNifEnv* env) {
    EXPECT_EQ(enif_open_resource_type(env, nullptr, "t", dtor2, ERL_NIF_RT_TAKEOVER, nullptr), t);
    EXPECT_NE(enif_open_resource_type(env, nullptr, "fresh", dtor2, ERL_NIF_RT_CREATE, nullptr),
              nullptr);
    return false;  // the load callback fails
  }));
  // The takeover did not happen...
  int* obj = new_int(t, 9);
  enif_release_resource(obj);
  EXPECT_EQ(g_log.calls.load(), 1);
  EXPECT_EQ(g_log.calls2.load(), 0);
  // ...and the created type never became visible: taking it over finds nothing.
  FakeLibrary v3("res_rollback");
  ErlNifResourceFlags tried;
  EXPECT_EQ(open(v3, "fresh", dtor2, ERL_NIF_RT_TAKEOVER, &tried), nullptr);
}

TEST_F(Resources, UnloadingForgetsTheLibrarysTypes) {
  ErlNifResourceType* first = nullptr;
  {
    FakeLibrary v1("res_forget");
    first = open(v1, "t", dtor1, ERL_NIF_RT_CREATE);
    ASSERT_NE(first, nullptr);
  }  // unloaded
  FakeLibrary v2("res_forget");
  ErlNifResourceFlags tried;
  EXPECT_EQ(open(v2, "t", dtor1, ERL_NIF_RT_TAKEOVER, &tried), nullptr);
  EXPECT_NE(open(v2, "t", dtor1, ERL_NIF_RT_CREATE, &tried), nullptr);
  EXPECT_EQ(tried, ERL_NIF_RT_CREATE);
}

TEST_F(Resources, DynamicResourceCallReachesTheNamedTypesCallback) {
  FakeLibrary lib("res_dyn");
  ErlNifResourceType* dyn = nullptr;
  ErlNifResourceType* plain = nullptr;
  ASSERT_TRUE(lib.load([&](ErlNifEnv* env) {
    ErlNifResourceTypeInit init{};
    init.dtor = dtor1;
    init.dyncall = dyncall_add;
    init.members = 4;
    dyn = enif_init_resource_type(env, "dyn", &init, ERL_NIF_RT_CREATE, nullptr);
    plain = enif_open_resource_type_x(env, "plain", &init, ERL_NIF_RT_CREATE, nullptr);
    return dyn != nullptr && plain != nullptr;
  }));
  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, &lib.ctx, nullptr);
  int* d = new_int(dyn, 5);
  int* p = new_int(plain, 6);
  ERL_NIF_TERM dt = enif_make_resource(env.get(), d);
  ERL_NIF_TERM pt = enif_make_resource(env.get(), p);
  enif_release_resource(d);
  enif_release_resource(p);
  ERL_NIF_TERM mod = enif_make_atom(env.get(), "res_dyn");

  long acc = 100;
  EXPECT_EQ(enif_dynamic_resource_call(env.get(), mod, enif_make_atom(env.get(), "dyn"), dt, &acc),
            0);
  EXPECT_EQ(acc, 105);
  // The wrong name, the wrong module, a type without dyncall (_x reads three
  // members only), a non-resource: 1, and nothing is called.
  EXPECT_EQ(
      enif_dynamic_resource_call(env.get(), mod, enif_make_atom(env.get(), "plain"), dt, &acc), 1);
  EXPECT_EQ(enif_dynamic_resource_call(env.get(), enif_make_atom(env.get(), "other"),
                                       enif_make_atom(env.get(), "dyn"), dt, &acc),
            1);
  EXPECT_EQ(
      enif_dynamic_resource_call(env.get(), mod, enif_make_atom(env.get(), "plain"), pt, &acc), 1);
  EXPECT_EQ(enif_dynamic_resource_call(env.get(), mod, enif_make_atom(env.get(), "dyn"),
                                       enif_make_int(env.get(), 1), &acc),
            1);
  EXPECT_EQ(acc, 105);
}

TEST_F(Resources, NoMoreOfTheInitStructIsReadThanTheLibraryWasBuiltWith) {
  // A library built against 2.12-2.15 headers has a three-member
  // ErlNifResourceTypeInit: a dyncall beyond it is never read.
  FakeLibrary lib("res_old_init");
  ErlNifResourceType* t = nullptr;
  ASSERT_TRUE(lib.load(
      [&](ErlNifEnv* env) {
        ErlNifResourceTypeInit init{};
        init.dtor = dtor1;
        init.dyncall = dyncall_add;
        init.members = 4;
        t = enif_init_resource_type(env, "t", &init, ERL_NIF_RT_CREATE, nullptr);
        return t != nullptr;
      },
      3 * sizeof(void*)));
  Heap heap;
  EnvScope env(EnvKind::kProcessBound, heap, &lib.ctx, nullptr);
  int* obj = new_int(t, 1);
  ERL_NIF_TERM term = enif_make_resource(env.get(), obj);
  enif_release_resource(obj);
  long acc = 0;
  EXPECT_EQ(enif_dynamic_resource_call(env.get(), enif_make_atom(env.get(), "res_old_init"),
                                       enif_make_atom(env.get(), "t"), term, &acc),
            1);
  heap.clear();
  EXPECT_EQ(g_log.calls.load(), 1);  // the dtor, inside the struct, is used
}

TEST_F(Resources, LiveResourcesKeepTheLibraryPending) {
  FakeLibrary lib("res_pending");
  ErlNifResourceType* t = open(lib, "t", dtor1, ERL_NIF_RT_CREATE);
  EXPECT_FALSE(resources_pending_for(lib.ctx));
  int* obj = new_int(t, 1);
  EXPECT_TRUE(resources_pending_for(lib.ctx));
  enif_release_resource(obj);
  EXPECT_FALSE(resources_pending_for(lib.ctx));
}

}  // namespace
