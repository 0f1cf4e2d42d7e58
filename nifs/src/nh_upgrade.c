/* nh_upgrade: the library lifecycle (load, upgrade, unload).
 *
 * Built twice from this file: nh_upgrade.so (NH_UPGRADE_VERSION=1) and
 * nh_upgrade_v2.so (NH_UPGRADE_VERSION=2). Both declare the module
 * nh_upgrade, so v2 can replace v1 in a code upgrade, as a new release of
 * a NIF library would.
 *
 * Counts live in a block shared along the upgrade chain: load creates it,
 * upgrade hands it to the new instance, unload (of any instance) counts
 * itself there and the last one frees it. So after load v1, upgrade to v2
 * and purge of v1, priv_counts() in v2 reports {1, 1, 1}.
 *
 * A load_info of {fail, N} makes load or upgrade return N (non-zero
 * fails), to exercise the loader's failure paths.
 */
#include <stdatomic.h>
#include <string.h>

#include "nh_common.h"

#ifndef NH_UPGRADE_VERSION
#define NH_UPGRADE_VERSION 1
#endif

typedef struct {
  atomic_int refs; /* instances holding this block */
  atomic_int loads;
  atomic_int upgrades;
  atomic_int unloads;
} counts_t;

typedef struct {
  counts_t* counts;
  ErlNifEnv* info_env; /* owns `info` */
  ERL_NIF_TERM info;   /* copy of the term given to load/upgrade */
} priv_t;

/* Returns the N of {fail, N}, or 0 for any other load_info. */
static int requested_failure(ErlNifEnv* env, ERL_NIF_TERM info) {
  int arity, n;
  const ERL_NIF_TERM* elems;
  if (enif_get_tuple(env, info, &arity, &elems) && arity == 2 &&
      nh_is_atom(env, elems[0], "fail") && enif_get_int(env, elems[1], &n))
    return n;
  return 0;
}

static priv_t* new_priv(ERL_NIF_TERM info, counts_t* counts) {
  priv_t* p = enif_alloc(sizeof(priv_t));
  if (p == NULL) return NULL;
  p->counts = counts;
  p->info_env = enif_alloc_env();
  p->info = enif_make_copy(p->info_env, info);
  atomic_fetch_add(&counts->refs, 1);
  return p;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  int fail = requested_failure(env, info);
  counts_t* counts;
  if (fail != 0) return fail;
  counts = enif_alloc(sizeof(counts_t));
  if (counts == NULL) return 1;
  atomic_init(&counts->refs, 0);
  atomic_init(&counts->loads, 1);
  atomic_init(&counts->upgrades, 0);
  atomic_init(&counts->unloads, 0);
  *priv = new_priv(info, counts);
  if (*priv == NULL) {
    enif_free(counts);
    return 1;
  }
  return 0;
}

static int upgrade(ErlNifEnv* env, void** priv, void** old_priv, ERL_NIF_TERM info) {
  int fail = requested_failure(env, info);
  priv_t* old = *old_priv;
  if (fail != 0) return fail;
  if (old == NULL) return load(env, priv, info);
  atomic_fetch_add(&old->counts->upgrades, 1);
  *priv = new_priv(info, old->counts);
  return *priv == NULL ? 1 : 0;
}

static void unload(ErlNifEnv* env, void* priv) {
  priv_t* p = priv;
  (void)env;
  if (p == NULL) return;
  atomic_fetch_add(&p->counts->unloads, 1);
  if (atomic_fetch_sub(&p->counts->refs, 1) == 1) enif_free(p->counts);
  enif_free_env(p->info_env);
  enif_free(p);
}

static ERL_NIF_TERM version(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_int(env, NH_UPGRADE_VERSION);
}

/* The term this instance was loaded (or upgraded) with. */
static ERL_NIF_TERM load_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  priv_t* p = enif_priv_data(env);
  (void)argc;
  (void)argv;
  return enif_make_copy(env, p->info);
}

/* {Loads, Upgrades, Unloads} along this instance's upgrade chain. */
static ERL_NIF_TERM priv_counts(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  priv_t* p = enif_priv_data(env);
  (void)argc;
  (void)argv;
  return enif_make_tuple3(env, enif_make_int(env, atomic_load(&p->counts->loads)),
                          enif_make_int(env, atomic_load(&p->counts->upgrades)),
                          enif_make_int(env, atomic_load(&p->counts->unloads)));
}

static ErlNifFunc funcs[] = {
    {"version", 0, version, 0},
    {"load_info", 0, load_info, 0},
    {"priv_counts", 0, priv_counts, 0},
};

ERL_NIF_INIT(nh_upgrade, funcs, load, NULL, upgrade, unload)
