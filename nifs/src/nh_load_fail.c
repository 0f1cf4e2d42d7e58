/* nh_load_fail: a well-formed NIF library whose load callback fails with 42.
 * The BEAM answers erlang:load_nif/2 with
 * {error, {load, "Library load-call unsuccessful (42)."}}.
 */
#include "nh_common.h"

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  (void)env;
  (void)info;
  *priv = NULL;
  return 42;
}

static ERL_NIF_TERM never(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_atom(env, "unreachable");
}

static ErlNifFunc funcs[] = {
    {"never", 0, never, 0},
};

ERL_NIF_INIT(nh_load_fail, funcs, load, NULL, NULL, NULL)
