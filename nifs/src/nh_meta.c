/* nh_meta: a library using the metadata convention (nifhost/nif_metadata.h)
 * instead of nif_init: it exports nif_get_metadata and one symbol per
 * function, whose C names differ from the Erlang names so a loader has to
 * go through the table. It does not load in the BEAM, which only knows
 * nif_init.
 *
 *   hello/0      -> <<"hello from nh_meta">>
 *   sum/2        -> A + B for 64-bit integers; badarg on overflow
 *   dirty_sum/1  -> 1 + ... + N, flagged dirty CPU
 */
#include <nifhost/nif_metadata.h>

#include "nh_common.h"

NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_hello(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]);
NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_sum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]);
NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_dirty_sum(ErlNifEnv* env, int argc,
                                                  const ERL_NIF_TERM argv[]);

NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_hello(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  static const char text[] = "hello from nh_meta";
  ERL_NIF_TERM out;
  (void)argc;
  (void)argv;
  memcpy(enif_make_new_binary(env, sizeof(text) - 1, &out), text, sizeof(text) - 1);
  return out;
}

NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_sum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 a, b, sum;
  (void)argc;
  if (!enif_get_int64(env, argv[0], &a) || !enif_get_int64(env, argv[1], &b) ||
      __builtin_add_overflow(a, b, &sum))
    return enif_make_badarg(env);
  return enif_make_int64(env, sum);
}

NIFHOST_NIF_EXPORT ERL_NIF_TERM nh_meta_dirty_sum(ErlNifEnv* env, int argc,
                                                  const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 n, i, acc = 0;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &n) || n > ((ErlNifUInt64)1 << 32))
    return enif_make_badarg(env);
  for (i = 1; i <= n; ++i) acc += i;
  return enif_make_uint64(env, acc);
}

static const nifhost_nif_function_metadata functions[] = {
    {"hello", 0, "nh_meta_hello", 0},
    {"sum", 2, "nh_meta_sum", 0},
    {"dirty_sum", 1, "nh_meta_dirty_sum", NIFHOST_NIF_FLAG_DIRTY_CPU},
};

NIFHOST_NIF_METADATA_DEFINE("nh_meta", "1.0.0", functions)
