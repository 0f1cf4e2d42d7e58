/* Small helpers shared by the NIF suites.
 *
 * Everything here is static inline and uses only the public erl_nif.h API, so
 * each suite stays a self-contained NIF library that loads in the real BEAM.
 *
 *   return nh_ok_tuple(env, enif_make_int(env, 1));   -> {ok, 1}
 *   if (!nh_get_size(env, argv[0], 4096, &n)) return enif_make_badarg(env);
 */
#ifndef NIFHOST_NIFS_NH_COMMON_H
#define NIFHOST_NIFS_NH_COMMON_H

#include <erl_nif.h>
#include <stddef.h>
#include <string.h>

#define NH_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static inline ERL_NIF_TERM nh_atom(ErlNifEnv* env, const char* name) {
  return enif_make_atom(env, name);
}

static inline ERL_NIF_TERM nh_ok(ErlNifEnv* env) { return enif_make_atom(env, "ok"); }

static inline ERL_NIF_TERM nh_error(ErlNifEnv* env) { return enif_make_atom(env, "error"); }

static inline ERL_NIF_TERM nh_bool(ErlNifEnv* env, int value) {
  return enif_make_atom(env, value ? "true" : "false");
}

static inline ERL_NIF_TERM nh_ok_tuple(ErlNifEnv* env, ERL_NIF_TERM value) {
  return enif_make_tuple2(env, nh_ok(env), value);
}

static inline ERL_NIF_TERM nh_error_tuple(ErlNifEnv* env, ERL_NIF_TERM reason) {
  return enif_make_tuple2(env, nh_error(env), reason);
}

/* True when term is the atom `name` (compared by identity, atoms are unique). */
static inline int nh_is_atom(ErlNifEnv* env, ERL_NIF_TERM term, const char* name) {
  ERL_NIF_TERM atom;
  return enif_make_existing_atom(env, name, &atom, ERL_NIF_LATIN1) && enif_is_identical(atom, term);
}

/* A non-negative integer no larger than `max`, as a size_t. */
static inline int nh_get_size(ErlNifEnv* env, ERL_NIF_TERM term, size_t max, size_t* out) {
  ErlNifUInt64 value;
  if (!enif_get_uint64(env, term, &value) || value > max) return 0;
  *out = (size_t)value;
  return 1;
}

/* second | millisecond | microsecond | nanosecond, or a raw ErlNifTimeUnit
 * integer (so callers can also pass values the API must reject). */
static inline int nh_get_time_unit(ErlNifEnv* env, ERL_NIF_TERM term, ErlNifTimeUnit* unit) {
  int raw;
  if (nh_is_atom(env, term, "second")) {
    *unit = ERL_NIF_SEC;
  } else if (nh_is_atom(env, term, "millisecond")) {
    *unit = ERL_NIF_MSEC;
  } else if (nh_is_atom(env, term, "microsecond")) {
    *unit = ERL_NIF_USEC;
  } else if (nh_is_atom(env, term, "nanosecond")) {
    *unit = ERL_NIF_NSEC;
  } else if (enif_get_int(env, term, &raw)) {
    *unit = (ErlNifTimeUnit)raw;
  } else {
    return 0;
  }
  return 1;
}

/* The value of enif_thread_type() as an atom. */
static inline ERL_NIF_TERM nh_thread_type_atom(ErlNifEnv* env, int type) {
  switch (type) {
    case ERL_NIF_THR_UNDEFINED:
      return nh_atom(env, "undefined");
    case ERL_NIF_THR_NORMAL_SCHEDULER:
      return nh_atom(env, "normal");
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER:
      return nh_atom(env, "dirty_cpu");
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER:
      return nh_atom(env, "dirty_io");
    default:
      return enif_make_int(env, type);
  }
}

/* Callbacks for suites without library state: loading and upgrading always
 * succeed (an upgrade keeps working because the BEAM refuses to upgrade a
 * library that has no upgrade callback). */
static inline int nh_load_stateless(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  (void)env;
  (void)info;
  *priv = NULL;
  return 0;
}

static inline int nh_upgrade_stateless(ErlNifEnv* env, void** priv, void** old_priv,
                                       ERL_NIF_TERM info) {
  (void)env;
  (void)old_priv;
  (void)info;
  *priv = NULL;
  return 0;
}

static inline void nh_unload_stateless(ErlNifEnv* env, void* priv) {
  (void)env;
  (void)priv;
}

#endif /* NIFHOST_NIFS_NH_COMMON_H */
