/* nh_resources: resource objects and their lifecycle.
 *
 * Three resource types are opened in load (and taken over in upgrade):
 *   nh_counter  enif_open_resource_type     an integer plus a text label
 *   nh_other    enif_open_resource_type_x   an integer; used to check that a
 *                                           resource of the wrong type is badarg
 *   nh_dyn      enif_init_resource_type     an integer and a dyncall callback
 * Every destructor bumps a library-wide counter, so tests can observe when
 * the VM (or a backend) lets go of an object: live_count() is the number of
 * objects allocated and not yet destructed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "nh_common.h"

typedef struct {
  ErlNifResourceType* counter;
  ErlNifResourceType* other;
  ErlNifResourceType* dyn;
} priv_t;

typedef struct {
  _Atomic ErlNifSInt64 value;
  size_t label_len;
  char label[40]; /* "counter:<initial value>", exposed by make_binary_from_resource */
} counter_t;

typedef struct {
  ErlNifSInt64 value;
} plain_t;

/* Counters are statics rather than priv_data: they must survive an upgrade
 * (which swaps priv_data) and be readable after the old instance is gone. */
static atomic_long g_allocated;
static atomic_long g_destructed;

static void count_dtor(ErlNifEnv* env, void* obj) {
  (void)env;
  (void)obj;
  atomic_fetch_add(&g_destructed, 1);
}

/* dyncall: call_data points at an ErlNifSInt64 that gets the object's value
 * added to it. */
static void dyn_call_cb(ErlNifEnv* env, void* obj, void* call_data) {
  (void)env;
  *(ErlNifSInt64*)call_data += ((plain_t*)obj)->value;
}

static int open_types(ErlNifEnv* env, void** priv, ErlNifResourceFlags flags) {
  ErlNifResourceFlags tried;
  ErlNifResourceTypeInit other_init;
  ErlNifResourceTypeInit dyn_init;
  priv_t* p = enif_alloc(sizeof(priv_t));
  if (p == NULL) return 1;
  memset(&other_init, 0, sizeof(other_init));
  other_init.dtor = count_dtor;
  memset(&dyn_init, 0, sizeof(dyn_init));
  dyn_init.dtor = count_dtor;
  dyn_init.dyncall = dyn_call_cb;
  dyn_init.members = 4; /* dtor, stop, down, dyncall */
  p->counter = enif_open_resource_type(env, NULL, "nh_counter", count_dtor, flags, &tried);
  p->other = enif_open_resource_type_x(env, "nh_other", &other_init, flags, &tried);
  p->dyn = enif_init_resource_type(env, "nh_dyn", &dyn_init, flags, &tried);
  if (p->counter == NULL || p->other == NULL || p->dyn == NULL) {
    enif_free(p);
    return 2;
  }
  *priv = p;
  return 0;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  (void)info;
  return open_types(env, priv, ERL_NIF_RT_CREATE);
}

static int upgrade(ErlNifEnv* env, void** priv, void** old_priv, ERL_NIF_TERM info) {
  (void)old_priv;
  (void)info;
  return open_types(env, priv, (ErlNifResourceFlags)(ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER));
}

static void unload(ErlNifEnv* env, void* priv) {
  (void)env;
  enif_free(priv);
}

static priv_t* types(ErlNifEnv* env) { return (priv_t*)enif_priv_data(env); }

static ERL_NIF_TERM make_owned(ErlNifEnv* env, void* obj) {
  ERL_NIF_TERM term = enif_make_resource(env, obj);
  /* The term now holds the only reference the object needs. */
  enif_release_resource(obj);
  return term;
}

/* Int -> a new nh_counter resource holding Int. */
static ERL_NIF_TERM new_counter(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 v;
  counter_t* c;
  int n;
  (void)argc;
  if (!enif_get_int64(env, argv[0], &v)) return enif_make_badarg(env);
  c = enif_alloc_resource(types(env)->counter, sizeof(counter_t));
  if (c == NULL) return enif_make_badarg(env);
  memset(c, 0, sizeof(*c));
  atomic_store(&c->value, v);
  n = snprintf(c->label, sizeof(c->label), "counter:%lld", (long long)v);
  c->label_len = (size_t)n;
  atomic_fetch_add(&g_allocated, 1);
  return make_owned(env, c);
}

static int get_counter(ErlNifEnv* env, ERL_NIF_TERM term, counter_t** out) {
  return enif_get_resource(env, term, types(env)->counter, (void**)out);
}

static ERL_NIF_TERM get(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_t* c;
  (void)argc;
  if (!get_counter(env, argv[0], &c)) return enif_make_badarg(env);
  return enif_make_int64(env, atomic_load(&c->value));
}

static ERL_NIF_TERM set(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_t* c;
  ErlNifSInt64 v;
  (void)argc;
  if (!get_counter(env, argv[0], &c) || !enif_get_int64(env, argv[1], &v))
    return enif_make_badarg(env);
  atomic_store(&c->value, v);
  return nh_ok(env);
}

static ERL_NIF_TERM destructor_count(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_long(env, atomic_load(&g_destructed));
}

static ERL_NIF_TERM live_count(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_long(env, atomic_load(&g_allocated) - atomic_load(&g_destructed));
}

/* Adds a reference that only release/1 takes away: the object outlives
 * every term that refers to it until then. */
static ERL_NIF_TERM keep(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_t* c;
  (void)argc;
  if (!get_counter(env, argv[0], &c)) return enif_make_badarg(env);
  enif_keep_resource(c);
  return nh_ok(env);
}

/* Drops a reference added by keep/1. Calling it more often than keep/1 is a
 * use-after-free, as it would be in any NIF. */
static ERL_NIF_TERM release(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_t* c;
  (void)argc;
  if (!get_counter(env, argv[0], &c)) return enif_make_badarg(env);
  enif_release_resource(c);
  return nh_ok(env);
}

/* A binary whose data is the counter's label, owned by the resource: the
 * resource lives at least as long as the binary. */
static ERL_NIF_TERM make_binary_from_resource(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  counter_t* c;
  (void)argc;
  if (!get_counter(env, argv[0], &c)) return enif_make_badarg(env);
  return enif_make_resource_binary(env, c, c->label, c->label_len);
}

/* Term -> counter | other | dyn | false */
static ERL_NIF_TERM is_resource(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  void* obj;
  priv_t* p = types(env);
  (void)argc;
  if (enif_get_resource(env, argv[0], p->counter, &obj)) return nh_atom(env, "counter");
  if (enif_get_resource(env, argv[0], p->other, &obj)) return nh_atom(env, "other");
  if (enif_get_resource(env, argv[0], p->dyn, &obj)) return nh_atom(env, "dyn");
  return nh_atom(env, "false");
}

static ERL_NIF_TERM new_plain(ErlNifEnv* env, ErlNifResourceType* type, ERL_NIF_TERM arg) {
  ErlNifSInt64 v;
  plain_t* o;
  if (!enif_get_int64(env, arg, &v)) return enif_make_badarg(env);
  o = enif_alloc_resource(type, sizeof(plain_t));
  if (o == NULL) return enif_make_badarg(env);
  o->value = v;
  atomic_fetch_add(&g_allocated, 1);
  return make_owned(env, o);
}

static ERL_NIF_TERM new_other(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return new_plain(env, types(env)->other, argv[0]);
}

static ERL_NIF_TERM get_other(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  plain_t* o;
  (void)argc;
  if (!enif_get_resource(env, argv[0], types(env)->other, (void**)&o)) return enif_make_badarg(env);
  return enif_make_int64(env, o->value);
}

static ERL_NIF_TERM new_dyn(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return new_plain(env, types(env)->dyn, argv[0]);
}

/* (Resource, Int) -> {ok, Int + value} through enif_dynamic_resource_call
 * on nh_resources:nh_dyn | error when Resource is not an nh_dyn. */
static ERL_NIF_TERM dyn_call(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 data;
  (void)argc;
  if (!enif_get_int64(env, argv[1], &data)) return enif_make_badarg(env);
  if (enif_dynamic_resource_call(env, nh_atom(env, "nh_resources"), nh_atom(env, "nh_dyn"), argv[0],
                                 &data) != 0)
    return nh_error(env);
  return nh_ok_tuple(env, enif_make_int64(env, data));
}

/* Resource -> the size it was allocated with (enif_sizeof_resource). */
static ERL_NIF_TERM size_of(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  void* obj;
  priv_t* p = types(env);
  (void)argc;
  if (!enif_get_resource(env, argv[0], p->counter, &obj) &&
      !enif_get_resource(env, argv[0], p->other, &obj) &&
      !enif_get_resource(env, argv[0], p->dyn, &obj))
    return enif_make_badarg(env);
  return enif_make_uint64(env, enif_sizeof_resource(obj));
}

static ErlNifFunc funcs[] = {
    {"new", 1, new_counter, 0},
    {"get", 1, get, 0},
    {"set", 2, set, 0},
    {"destructor_count", 0, destructor_count, 0},
    {"live_count", 0, live_count, 0},
    {"keep", 1, keep, 0},
    {"release", 1, release, 0},
    {"make_binary_from_resource", 1, make_binary_from_resource, 0},
    {"is_resource", 1, is_resource, 0},
    {"new_other", 1, new_other, 0},
    {"get_other", 1, get_other, 0},
    {"new_dyn", 1, new_dyn, 0},
    {"dyn_call", 2, dyn_call, 0},
    {"size_of", 1, size_of, 0},
};

ERL_NIF_INIT(nh_resources, funcs, load, NULL, upgrade, unload)
