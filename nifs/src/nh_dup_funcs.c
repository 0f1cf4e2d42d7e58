/* nh_dup_funcs: a library that declares twice/1 twice. The BEAM refuses it
 * with {error, {bad_lib, "Duplicate NIF entry for nh_dup_funcs:twice/1"}};
 * a loader must not pick one of the two silently.
 */
#include "nh_common.h"

static ERL_NIF_TERM first(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_atom(env, "first");
}

static ERL_NIF_TERM second(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_atom(env, "second");
}

static ErlNifFunc funcs[] = {
    {"twice", 1, first, 0},
    {"once", 0, first, 0},
    {"twice", 1, second, 0},
};

ERL_NIF_INIT(nh_dup_funcs, funcs, NULL, NULL, NULL, NULL)
