/* nh_terms: coverage of the enif term API.
 *
 * Every enif_make_*, enif_get_* and enif_is_* function is called by at least
 * one function here (the binaries, resources and messages suites go deeper
 * into their areas). Results are deterministic so the same calls can be
 * compared byte for byte (term_to_binary) against the BEAM; the exceptions
 * are listed in README.md (refs, times, internal hash, system_info strings).
 *
 * Two resource types are opened in load: nh_term_res (holds an integer)
 * and nh_term_watch (has a down callback, for monitor_term/1).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nh_common.h"

/* Largest scratch buffer a caller may ask for in the *_buf functions. */
#define NH_MAX_BUF 65536

typedef struct {
  ErlNifResourceType* res;
  ErlNifResourceType* watch;
} priv_t;

typedef struct {
  ErlNifSInt64 value;
  size_t text_len;
  char text[24]; /* decimal value, exposed as a resource binary */
} term_res_t;

typedef struct {
  ErlNifMonitor mon;
} term_watch_t;

static void watch_down(ErlNifEnv* env, void* obj, ErlNifPid* pid, ErlNifMonitor* mon) {
  (void)env;
  (void)obj;
  (void)pid;
  (void)mon;
}

static int open_types(ErlNifEnv* env, void** priv, ErlNifResourceFlags flags) {
  ErlNifResourceTypeInit init;
  ErlNifResourceFlags tried;
  priv_t* p = enif_alloc(sizeof(priv_t));
  if (p == NULL) return 1;
  memset(&init, 0, sizeof(init));
  init.down = watch_down;
  p->res = enif_open_resource_type(env, NULL, "nh_term_res", NULL, flags, &tried);
  p->watch = enif_open_resource_type_x(env, "nh_term_watch", &init, flags, &tried);
  if (p->res == NULL || p->watch == NULL) {
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

/* Collects the elements of a list into an enif_alloc'ed array. Returns the
 * number of elements through *count and the tail (the empty list for a proper
 * list) through *tail. Returns NULL only when allocation fails. */
static ERL_NIF_TERM* collect_list(ErlNifEnv* env, ERL_NIF_TERM list, unsigned* count,
                                  ERL_NIF_TERM* tail) {
  size_t cap = 16;
  size_t n = 0;
  ERL_NIF_TERM head;
  ERL_NIF_TERM* items = enif_alloc(cap * sizeof(ERL_NIF_TERM));
  if (items == NULL) return NULL;
  while (enif_get_list_cell(env, list, &head, &list)) {
    if (n == cap) {
      ERL_NIF_TERM* grown = enif_realloc(items, 2 * cap * sizeof(ERL_NIF_TERM));
      if (grown == NULL) {
        enif_free(items);
        return NULL;
      }
      items = grown;
      cap *= 2;
    }
    items[n++] = head;
  }
  *count = (unsigned)n;
  *tail = list;
  return items;
}

/* ---- basics ------------------------------------------------------------ */

static ERL_NIF_TERM noop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_ok(env);
}

/* Integer addition without bignums: both arguments and the sum must fit in
 * 64 signed bits, anything else is badarg. */
static ERL_NIF_TERM add(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 a, b, sum;
  (void)argc;
  if (!enif_get_int64(env, argv[0], &a) || !enif_get_int64(env, argv[1], &b))
    return enif_make_badarg(env);
  if (__builtin_add_overflow(a, b, &sum)) return enif_make_badarg(env);
  return enif_make_int64(env, sum);
}

static ERL_NIF_TERM echo(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)env;
  (void)argc;
  return argv[0];
}

/* Copies the argument into a process-independent env and back again; the
 * env is cleared and refilled once on the way, as a reused message env
 * would be. */
static ERL_NIF_TERM make_copy(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifEnv* scratch = enif_alloc_env();
  ERL_NIF_TERM there, back;
  (void)argc;
  (void)enif_make_copy(scratch, argv[0]);
  enif_clear_env(scratch);
  there = enif_make_copy(scratch, argv[0]);
  back = enif_make_copy(env, there);
  enif_free_env(scratch);
  return back;
}

/* ---- round trips: get, then make the same value back ---------------------- */

static ERL_NIF_TERM roundtrip_int(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int v;
  (void)argc;
  if (!enif_get_int(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_int(env, v);
}

static ERL_NIF_TERM roundtrip_uint(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned v;
  (void)argc;
  if (!enif_get_uint(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_uint(env, v);
}

static ERL_NIF_TERM roundtrip_long(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  long v;
  (void)argc;
  if (!enif_get_long(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_long(env, v);
}

static ERL_NIF_TERM roundtrip_ulong(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned long v;
  (void)argc;
  if (!enif_get_ulong(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_ulong(env, v);
}

static ERL_NIF_TERM roundtrip_int64(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 v;
  (void)argc;
  if (!enif_get_int64(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_int64(env, v);
}

static ERL_NIF_TERM roundtrip_uint64(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 v;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_uint64(env, v);
}

static ERL_NIF_TERM roundtrip_double(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  double v;
  (void)argc;
  if (!enif_get_double(env, argv[0], &v)) return enif_make_badarg(env);
  return enif_make_double(env, v);
}

/* Latin-1 atom: length, then the bytes, then a new atom. enif_make_atom stops
 * at the first NUL, so atoms that contain one go through enif_make_atom_len. */
static ERL_NIF_TERM roundtrip_atom(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned len;
  char buf[256 * 4 + 1];
  int got;
  (void)argc;
  if (!enif_get_atom_length(env, argv[0], &len, ERL_NIF_LATIN1) || len >= sizeof(buf))
    return enif_make_badarg(env);
  got = enif_get_atom(env, argv[0], buf, (unsigned)sizeof(buf), ERL_NIF_LATIN1);
  if (got != (int)len + 1) return enif_make_badarg(env);
  if (memchr(buf, 0, len) != NULL) return enif_make_atom_len(env, buf, len);
  return enif_make_atom(env, buf);
}

/* Latin-1 string (a list of bytes) through a buffer sized from the length. */
static ERL_NIF_TERM roundtrip_string(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned len;
  char* buf;
  int got;
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_get_list_length(env, argv[0], &len)) return enif_make_badarg(env);
  buf = enif_alloc((size_t)len + 1);
  if (buf == NULL) return enif_make_badarg(env);
  got = enif_get_string(env, argv[0], buf, len + 1, ERL_NIF_LATIN1);
  if (got != (int)len + 1) {
    enif_free(buf);
    return enif_make_badarg(env);
  }
  out = enif_make_string_len(env, buf, len, ERL_NIF_LATIN1);
  enif_free(buf);
  return out;
}

static ERL_NIF_TERM roundtrip_tuple(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int arity;
  const ERL_NIF_TERM* elems;
  (void)argc;
  if (!enif_get_tuple(env, argv[0], &arity, &elems)) return enif_make_badarg(env);
  return enif_make_tuple_from_array(env, elems, (unsigned)arity);
}

/* Rebuilds a list cell by cell, keeping an improper tail. Proper lists are
 * rebuilt with enif_make_list_from_array, improper ones with
 * enif_make_list_cell from the tail outwards. */
static ERL_NIF_TERM roundtrip_list(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned n;
  ERL_NIF_TERM tail, out;
  ERL_NIF_TERM* items;
  (void)argc;
  if (!enif_is_list(env, argv[0])) return enif_make_badarg(env);
  items = collect_list(env, argv[0], &n, &tail);
  if (items == NULL) return enif_make_badarg(env);
  if (enif_is_empty_list(env, tail)) {
    out = enif_make_list_from_array(env, items, n);
  } else {
    out = tail;
    while (n > 0) out = enif_make_list_cell(env, items[--n], out);
  }
  enif_free(items);
  return out;
}

/* Reads every pair with an iterator, then builds a new map with map_put. */
static ERL_NIF_TERM roundtrip_map(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  size_t size;
  ErlNifMapIterator it;
  ERL_NIF_TERM key, value, out;
  (void)argc;
  if (!enif_get_map_size(env, argv[0], &size)) return enif_make_badarg(env);
  out = enif_make_new_map(env);
  if (!enif_map_iterator_create(env, argv[0], &it, ERL_NIF_MAP_ITERATOR_FIRST))
    return enif_make_badarg(env);
  while (enif_map_iterator_get_pair(env, &it, &key, &value)) {
    if (!enif_make_map_put(env, out, key, value, &out)) {
      enif_map_iterator_destroy(env, &it);
      return enif_make_badarg(env);
    }
    enif_map_iterator_next(env, &it);
  }
  enif_map_iterator_destroy(env, &it);
  return out;
}

/* ---- type inspection ------------------------------------------------------ */

static ERL_NIF_TERM term_type_atom(ErlNifEnv* env, ErlNifTermType type) {
  switch (type) {
    case ERL_NIF_TERM_TYPE_ATOM:
      return nh_atom(env, "atom");
    case ERL_NIF_TERM_TYPE_BITSTRING:
      return nh_atom(env, "bitstring");
    case ERL_NIF_TERM_TYPE_FLOAT:
      return nh_atom(env, "float");
    case ERL_NIF_TERM_TYPE_FUN:
      return nh_atom(env, "fun");
    case ERL_NIF_TERM_TYPE_INTEGER:
      return nh_atom(env, "integer");
    case ERL_NIF_TERM_TYPE_LIST:
      return nh_atom(env, "list");
    case ERL_NIF_TERM_TYPE_MAP:
      return nh_atom(env, "map");
    case ERL_NIF_TERM_TYPE_PID:
      return nh_atom(env, "pid");
    case ERL_NIF_TERM_TYPE_PORT:
      return nh_atom(env, "port");
    case ERL_NIF_TERM_TYPE_REFERENCE:
      return nh_atom(env, "reference");
    case ERL_NIF_TERM_TYPE_TUPLE:
      return nh_atom(env, "tuple");
    default:
      return nh_atom(env, "unknown");
  }
}

/* {Type, {is_atom, is_binary, is_empty_list, is_exception, is_fun, is_list,
 *         is_map, is_number, is_pid, is_port, is_ref, is_tuple}} */
static ERL_NIF_TERM type_of(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM t = argv[0];
  ERL_NIF_TERM checks[12];
  (void)argc;
  checks[0] = nh_bool(env, enif_is_atom(env, t));
  checks[1] = nh_bool(env, enif_is_binary(env, t));
  checks[2] = nh_bool(env, enif_is_empty_list(env, t));
  checks[3] = nh_bool(env, enif_is_exception(env, t));
  checks[4] = nh_bool(env, enif_is_fun(env, t));
  checks[5] = nh_bool(env, enif_is_list(env, t));
  checks[6] = nh_bool(env, enif_is_map(env, t));
  checks[7] = nh_bool(env, enif_is_number(env, t));
  checks[8] = nh_bool(env, enif_is_pid(env, t));
  checks[9] = nh_bool(env, enif_is_port(env, t));
  checks[10] = nh_bool(env, enif_is_ref(env, t));
  checks[11] = nh_bool(env, enif_is_tuple(env, t));
  return enif_make_tuple2(env, term_type_atom(env, enif_term_type(env, t)),
                          enif_make_tuple_from_array(env, checks, NH_COUNT_OF(checks)));
}

/* ---- lists ---------------------------------------------------------------- */

static ERL_NIF_TERM list_from_tuple(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int arity;
  const ERL_NIF_TERM* elems;
  (void)argc;
  if (!enif_get_tuple(env, argv[0], &arity, &elems)) return enif_make_badarg(env);
  return enif_make_list_from_array(env, elems, (unsigned)arity);
}

static ERL_NIF_TERM reverse_list(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_make_reverse_list(env, argv[0], &out)) return enif_make_badarg(env);
  return out;
}

static ERL_NIF_TERM list_cell(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM head, tail;
  (void)argc;
  if (!enif_get_list_cell(env, argv[0], &head, &tail)) return enif_make_badarg(env);
  return enif_make_tuple2(env, head, tail);
}

static ERL_NIF_TERM list_length(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned len;
  (void)argc;
  if (!enif_get_list_length(env, argv[0], &len)) return enif_make_badarg(env);
  return enif_make_uint(env, len);
}

/* [H | T] for any T, so callers can build improper lists. */
static ERL_NIF_TERM prepend(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return enif_make_list_cell(env, argv[0], argv[1]);
}

static ERL_NIF_TERM make_list3(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return enif_make_list(env, 3, argv[0], argv[1], argv[2]);
}

/* ---- tuples --------------------------------------------------------------- */

static ERL_NIF_TERM tuple_size(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int arity;
  const ERL_NIF_TERM* elems;
  (void)argc;
  if (!enif_get_tuple(env, argv[0], &arity, &elems)) return enif_make_badarg(env);
  return enif_make_int(env, arity);
}

/* element(Index, Tuple) with a 1-based index; badarg when out of range. */
static ERL_NIF_TERM tuple_element(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int arity, index;
  const ERL_NIF_TERM* elems;
  (void)argc;
  if (!enif_get_tuple(env, argv[0], &arity, &elems) || !enif_get_int(env, argv[1], &index) ||
      index < 1 || index > arity)
    return enif_make_badarg(env);
  return elems[index - 1];
}

static ERL_NIF_TERM tuple_from_list(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned n;
  ERL_NIF_TERM tail, out;
  ERL_NIF_TERM* items;
  (void)argc;
  if (!enif_get_list_length(env, argv[0], &n)) return enif_make_badarg(env);
  items = collect_list(env, argv[0], &n, &tail);
  if (items == NULL) return enif_make_badarg(env);
  out = enif_make_tuple_from_array(env, items, n);
  enif_free(items);
  return out;
}

static ERL_NIF_TERM make_tuple3(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return enif_make_tuple(env, 3, argv[0], argv[1], argv[2]);
}

/* The fixed-arity constructors: {{}, {a}, ..., {a..i}, [], [a], ..., [a..i]}
 * built with enif_make_tuple/list(env, 0) and the inline 1..9 helpers. */
static ERL_NIF_TERM fixed_arity(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM e[9];
  ERL_NIF_TERM out[20];
  static const char* const names[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
  unsigned i;
  (void)argc;
  (void)argv;
  for (i = 0; i < 9; ++i) e[i] = enif_make_atom(env, names[i]);
  out[0] = enif_make_tuple(env, 0);
  out[1] = enif_make_tuple1(env, e[0]);
  out[2] = enif_make_tuple2(env, e[0], e[1]);
  out[3] = enif_make_tuple3(env, e[0], e[1], e[2]);
  out[4] = enif_make_tuple4(env, e[0], e[1], e[2], e[3]);
  out[5] = enif_make_tuple5(env, e[0], e[1], e[2], e[3], e[4]);
  out[6] = enif_make_tuple6(env, e[0], e[1], e[2], e[3], e[4], e[5]);
  out[7] = enif_make_tuple7(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
  out[8] = enif_make_tuple8(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
  out[9] = enif_make_tuple9(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]);
  out[10] = enif_make_list(env, 0);
  out[11] = enif_make_list1(env, e[0]);
  out[12] = enif_make_list2(env, e[0], e[1]);
  out[13] = enif_make_list3(env, e[0], e[1], e[2]);
  out[14] = enif_make_list4(env, e[0], e[1], e[2], e[3]);
  out[15] = enif_make_list5(env, e[0], e[1], e[2], e[3], e[4]);
  out[16] = enif_make_list6(env, e[0], e[1], e[2], e[3], e[4], e[5]);
  out[17] = enif_make_list7(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
  out[18] = enif_make_list8(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
  out[19] = enif_make_list9(env, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]);
  return enif_make_tuple_from_array(env, out, NH_COUNT_OF(out));
}

/* ---- maps ----------------------------------------------------------------- */

static ERL_NIF_TERM new_map(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_new_map(env);
}

static ERL_NIF_TERM map_put(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_make_map_put(env, argv[0], argv[1], argv[2], &out)) return enif_make_badarg(env);
  return out;
}

/* {ok, Map} | error (the key is not present) */
static ERL_NIF_TERM map_update(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_is_map(env, argv[0])) return enif_make_badarg(env);
  if (!enif_make_map_update(env, argv[0], argv[1], argv[2], &out)) return nh_error(env);
  return nh_ok_tuple(env, out);
}

static ERL_NIF_TERM map_remove(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_make_map_remove(env, argv[0], argv[1], &out)) return enif_make_badarg(env);
  return out;
}

/* {ok, Value} | error */
static ERL_NIF_TERM map_get(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM value;
  (void)argc;
  if (!enif_is_map(env, argv[0])) return enif_make_badarg(env);
  if (!enif_get_map_value(env, argv[0], argv[1], &value)) return nh_error(env);
  return nh_ok_tuple(env, value);
}

static ERL_NIF_TERM map_size(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  size_t size;
  (void)argc;
  if (!enif_get_map_size(env, argv[0], &size)) return enif_make_badarg(env);
  return enif_make_uint64(env, size);
}

/* Walks a map with an iterator and returns the [{K, V}] pairs in visiting
 * order. `first` selects FIRST/next or LAST/prev. The head/tail predicates
 * are checked at both ends; a mismatch raises {iterator, Where}. */
static ERL_NIF_TERM iterate_map(ErlNifEnv* env, ERL_NIF_TERM map, int first) {
  size_t size, n = 0;
  ErlNifMapIterator it;
  ERL_NIF_TERM key, value, out;
  ERL_NIF_TERM* pairs;
  const char* bad = NULL;
  if (!enif_get_map_size(env, map, &size)) return enif_make_badarg(env);
  if (!enif_map_iterator_create(env, map, &it,
                                first ? ERL_NIF_MAP_ITERATOR_FIRST : ERL_NIF_MAP_ITERATOR_LAST))
    return enif_make_badarg(env);
  pairs = enif_alloc((size + 1) * sizeof(ERL_NIF_TERM));
  if (pairs == NULL) {
    enif_map_iterator_destroy(env, &it);
    return enif_make_badarg(env);
  }
  if (size > 0 &&
      (first ? enif_map_iterator_is_head(env, &it) : enif_map_iterator_is_tail(env, &it)))
    bad = "start";
  while (bad == NULL && enif_map_iterator_get_pair(env, &it, &key, &value)) {
    if (n == size) {
      bad = "overrun";
      break;
    }
    pairs[n++] = enif_make_tuple2(env, key, value);
    if (first)
      enif_map_iterator_next(env, &it);
    else
      enif_map_iterator_prev(env, &it);
  }
  if (bad == NULL && n != size) bad = "count";
  if (bad == NULL &&
      !(first ? enif_map_iterator_is_tail(env, &it) : enif_map_iterator_is_head(env, &it)))
    bad = "end";
  enif_map_iterator_destroy(env, &it);
  out = enif_make_list_from_array(env, pairs, (unsigned)n);
  enif_free(pairs);
  if (bad != NULL)
    return enif_raise_exception(env,
                                enif_make_tuple2(env, nh_atom(env, "iterator"), nh_atom(env, bad)));
  return out;
}

static ERL_NIF_TERM map_iter_forward(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return iterate_map(env, argv[0], 1);
}

static ERL_NIF_TERM map_iter_backward(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return iterate_map(env, argv[0], 0);
}

/* (Keys, Values) -> {ok, Map} | error (duplicate keys); badarg when the
 * lists are improper or of different lengths. */
static ERL_NIF_TERM map_from_arrays(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned nk, nv;
  ERL_NIF_TERM tk, tv, out, result;
  ERL_NIF_TERM *keys, *values;
  (void)argc;
  if (!enif_get_list_length(env, argv[0], &nk) || !enif_get_list_length(env, argv[1], &nv) ||
      nk != nv)
    return enif_make_badarg(env);
  keys = collect_list(env, argv[0], &nk, &tk);
  values = collect_list(env, argv[1], &nv, &tv);
  if (keys == NULL || values == NULL) {
    result = enif_make_badarg(env);
  } else if (enif_make_map_from_arrays(env, keys, values, nk, &out)) {
    result = nh_ok_tuple(env, out);
  } else {
    result = nh_error(env);
  }
  if (keys != NULL) enif_free(keys);
  if (values != NULL) enif_free(values);
  return result;
}

/* ---- comparison and hashing ----------------------------------------------- */

static ERL_NIF_TERM compare(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int c;
  (void)argc;
  c = enif_compare(argv[0], argv[1]);
  return enif_make_int(env, (c > 0) - (c < 0));
}

static ERL_NIF_TERM is_identical(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return nh_bool(env, enif_is_identical(argv[0], argv[1]));
}

/* (phash2 | internal, Term[, Salt]) -> integer. phash2 must equal
 * erlang:phash2/1; the internal hash is only stable within one VM. */
static ERL_NIF_TERM hash(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifHash type;
  ErlNifUInt64 salt = 0;
  if (nh_is_atom(env, argv[0], "phash2"))
    type = ERL_NIF_PHASH2;
  else if (nh_is_atom(env, argv[0], "internal"))
    type = ERL_NIF_INTERNAL_HASH;
  else
    return enif_make_badarg(env);
  if (argc == 3 && !enif_get_uint64(env, argv[2], &salt)) return enif_make_badarg(env);
  return enif_make_uint64(env, enif_hash(type, argv[1], salt));
}

/* ---- external term format -------------------------------------------------- */

static ERL_NIF_TERM term_to_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  (void)argc;
  if (!enif_term_to_binary(env, argv[0], &bin)) return enif_make_badarg(env);
  return enif_make_binary(env, &bin);
}

/* (Binary, safe | unsafe) -> {Term, BytesUsed}; badarg when decoding fails. */
static ERL_NIF_TERM binary_to_term(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  ERL_NIF_TERM term;
  unsigned opts;
  size_t used;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &bin)) return enif_make_badarg(env);
  if (nh_is_atom(env, argv[1], "safe"))
    opts = ERL_NIF_BIN2TERM_SAFE;
  else if (nh_is_atom(env, argv[1], "unsafe"))
    opts = 0;
  else
    return enif_make_badarg(env);
  used = enif_binary_to_term(env, bin.data, bin.size, &term, opts);
  if (used == 0) return enif_make_badarg(env);
  return enif_make_tuple2(env, term, enif_make_uint64(env, used));
}

/* ---- formatting ---------------------------------------------------------- */

static int format_term(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = enif_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

/* Largest %T rendering snprintf/1 will produce. */
#define NH_MAX_FORMAT ((size_t)64 << 20)

/* enif_snprintf("%T") of the argument, as a binary. The BEAM's return value
 * is only meaningful when the text fitted (after truncation it is not the
 * would-be length), so the buffer doubles until the text fits with room to
 * spare. Retries go through enif_vsnprintf. */
static ERL_NIF_TERM snprintf_1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  char small[256];
  char* buf = small;
  size_t size = sizeof(small);
  int n;
  ERL_NIF_TERM out;
  (void)argc;
  n = enif_snprintf(small, size, "%T", argv[0]);
  while (n < 0 || (size_t)n >= size - 1) {
    if (buf != small) enif_free(buf);
    size *= 2;
    if (size > NH_MAX_FORMAT) return enif_make_badarg(env);
    buf = enif_alloc(size);
    if (buf == NULL) return enif_make_badarg(env);
    n = format_term(buf, size, "%T", argv[0]);
  }
  memcpy(enif_make_new_binary(env, (size_t)n, &out), buf, (size_t)n);
  if (buf != small) enif_free(buf);
  return out;
}

static int print_term(FILE* f, const char* fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = enif_vfprintf(f, fmt, ap);
  va_end(ap);
  return n;
}

/* enif_fprintf("%T") into a temporary file, read back as a binary (the
 * same text snprintf/1 produces). The term is written a second time with
 * enif_vfprintf; both copies must agree. */
static ERL_NIF_TERM fprintf_1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  FILE* f = tmpfile();
  long first, total;
  size_t len;
  char* text;
  ERL_NIF_TERM out;
  int ok = 0;
  (void)argc;
  if (f == NULL) return enif_make_badarg(env);
  if (enif_fprintf(f, "%T", argv[0]) < 0 || fflush(f) != 0 || (first = ftell(f)) < 0 ||
      print_term(f, "%T", argv[0]) < 0 || fflush(f) != 0 || (total = ftell(f)) < 0 ||
      total != 2 * first || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return enif_make_badarg(env);
  }
  len = (size_t)first;
  text = enif_alloc(2 * len + 1);
  if (text != NULL && fread(text, 1, 2 * len, f) == 2 * len && memcmp(text, text + len, len) == 0) {
    memcpy(enif_make_new_binary(env, len, &out), text, len);
    ok = 1;
  }
  if (text != NULL) enif_free(text);
  fclose(f);
  return ok ? out : enif_make_badarg(env);
}

/* (Term, BufSize) -> the whole buffer after enif_snprintf("%T") into it
 * (pre-filled with '#'), so truncation and NUL placement are visible. */
static ERL_NIF_TERM snprintf_2(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  size_t size;
  ERL_NIF_TERM out;
  unsigned char* dst;
  (void)argc;
  if (!nh_get_size(env, argv[1], NH_MAX_BUF, &size)) return enif_make_badarg(env);
  dst = enif_make_new_binary(env, size, &out);
  memset(dst, '#', size);
  (void)enif_snprintf((char*)dst, size, "%T", argv[0]);
  return out;
}

/* ---- references, unique integers, time ----------------------------------- */

static ERL_NIF_TERM make_ref(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_ref(env);
}

static ERL_NIF_TERM ref_is_unique(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM a = enif_make_ref(env);
  ERL_NIF_TERM b = enif_make_ref(env);
  (void)argc;
  (void)argv;
  return nh_bool(env, enif_is_ref(env, a) && enif_is_ref(env, b) && !enif_is_identical(a, b) &&
                          enif_compare(a, b) != 0);
}

/* unique_integer() is positive and monotonic; unique_integer(Flags) takes a
 * list of positive | monotonic like erlang:unique_integer/1. */
static ERL_NIF_TERM unique_integer(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned props = ERL_NIF_UNIQUE_POSITIVE | ERL_NIF_UNIQUE_MONOTONIC;
  if (argc == 1) {
    ERL_NIF_TERM list = argv[0], head;
    props = 0;
    while (enif_get_list_cell(env, list, &head, &list)) {
      if (nh_is_atom(env, head, "positive"))
        props |= ERL_NIF_UNIQUE_POSITIVE;
      else if (nh_is_atom(env, head, "monotonic"))
        props |= ERL_NIF_UNIQUE_MONOTONIC;
      else
        return enif_make_badarg(env);
    }
    if (!enif_is_empty_list(env, list)) return enif_make_badarg(env);
  }
  return enif_make_unique_integer(env, (ErlNifUniqueInteger)props);
}

static ERL_NIF_TERM monotonic_time(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifTimeUnit unit = ERL_NIF_NSEC;
  ErlNifTime t;
  if (argc == 1 && !nh_get_time_unit(env, argv[0], &unit)) return enif_make_badarg(env);
  t = enif_monotonic_time(unit);
  if (t == ERL_NIF_TIME_ERROR) return nh_error(env);
  return enif_make_int64(env, t);
}

static ERL_NIF_TERM time_offset(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifTimeUnit unit = ERL_NIF_NSEC;
  ErlNifTime t;
  if (argc == 1 && !nh_get_time_unit(env, argv[0], &unit)) return enif_make_badarg(env);
  t = enif_time_offset(unit);
  if (t == ERL_NIF_TIME_ERROR) return nh_error(env);
  return enif_make_int64(env, t);
}

/* (Value, From, To) -> integer | error (ERL_NIF_TIME_ERROR: a bad unit). */
static ERL_NIF_TERM convert_time_unit(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 value;
  ErlNifTimeUnit from, to;
  ErlNifTime t;
  (void)argc;
  if (!enif_get_int64(env, argv[0], &value) || !nh_get_time_unit(env, argv[1], &from) ||
      !nh_get_time_unit(env, argv[2], &to))
    return enif_make_badarg(env);
  t = enif_convert_time_unit(value, from, to);
  if (t == ERL_NIF_TIME_ERROR) return nh_error(env);
  return enif_make_int64(env, t);
}

static ERL_NIF_TERM now_time(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_now_time(env);
}

static ERL_NIF_TERM cpu_time(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_cpu_time(env);
}

/* ---- exceptions ---------------------------------------------------------- */

static ERL_NIF_TERM raise_1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return enif_raise_exception(env, argv[0]);
}

static ERL_NIF_TERM badarg(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_badarg(env);
}

/* Raises Reason after checking the pending-exception API around it: nothing
 * pending before, Reason pending after, and the returned term an exception.
 * If any check fails the raised reason becomes {pending_exception, Check}. */
static ERL_NIF_TERM pending_exception(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ERL_NIF_TERM reason, exc;
  const char* bad = NULL;
  (void)argc;
  if (enif_has_pending_exception(env, NULL)) bad = "before";
  exc = enif_raise_exception(env, argv[0]);
  if (bad == NULL && !enif_has_pending_exception(env, &reason)) bad = "after";
  if (bad == NULL && !enif_is_identical(reason, argv[0])) bad = "reason";
  if (bad == NULL && !enif_is_exception(env, exc)) bad = "is_exception";
  if (bad != NULL)
    return enif_raise_exception(
        env, enif_make_tuple2(env, nh_atom(env, "pending_exception"), nh_atom(env, bad)));
  return exc;
}

/* ---- atoms, strings and the Latin-1 encoding ------------------------------ */

/* Binary -> {ok, Atom} | error, through both enif_make_existing_atom_len and
 * (when the name has no NUL) enif_make_existing_atom; the two must agree. */
static ERL_NIF_TERM make_existing_atom(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  ERL_NIF_TERM by_len, by_cstr;
  int found_len, found_cstr;
  char buf[1024];
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &bin)) return enif_make_badarg(env);
  found_len =
      enif_make_existing_atom_len(env, (const char*)bin.data, bin.size, &by_len, ERL_NIF_LATIN1);
  if (bin.size < sizeof(buf) && memchr(bin.data, 0, bin.size) == NULL) {
    memcpy(buf, bin.data, bin.size);
    buf[bin.size] = '\0';
    found_cstr = enif_make_existing_atom(env, buf, &by_cstr, ERL_NIF_LATIN1);
    if (found_cstr != found_len || (found_len && !enif_is_identical(by_len, by_cstr)))
      return enif_raise_exception(env, nh_atom(env, "existing_atom_mismatch"));
  }
  return found_len ? nh_ok_tuple(env, by_len) : nh_error(env);
}

/* Atom -> number of Latin-1 characters; badarg if not representable. */
static ERL_NIF_TERM atom_length(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned len;
  (void)argc;
  if (!enif_get_atom_length(env, argv[0], &len, ERL_NIF_LATIN1)) return enif_make_badarg(env);
  return enif_make_uint(env, len);
}

/* Atom -> its Latin-1 bytes as a binary. */
static ERL_NIF_TERM atom_to_latin1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  char buf[256];
  int got;
  ERL_NIF_TERM out;
  (void)argc;
  got = enif_get_atom(env, argv[0], buf, (unsigned)sizeof(buf), ERL_NIF_LATIN1);
  if (got <= 0) return enif_make_badarg(env);
  memcpy(enif_make_new_binary(env, (size_t)got - 1, &out), buf, (size_t)got - 1);
  return out;
}

/* Binary of Latin-1 bytes -> atom (enif_make_atom_len; too long is badarg). */
static ERL_NIF_TERM latin1_to_atom(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &bin)) return enif_make_badarg(env);
  return enif_make_atom_len(env, (const char*)bin.data, bin.size);
}

/* Binary of Latin-1 bytes -> string through the NUL-terminated
 * enif_make_string, which stops at the first NUL byte. */
static ERL_NIF_TERM latin1_to_string(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  char* buf;
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &bin)) return enif_make_badarg(env);
  buf = enif_alloc(bin.size + 1);
  if (buf == NULL) return enif_make_badarg(env);
  memcpy(buf, bin.data, bin.size);
  buf[bin.size] = '\0';
  out = enif_make_string(env, buf, ERL_NIF_LATIN1);
  enif_free(buf);
  return out;
}

/* String (bytes 0..255) -> binary; badarg for anything else. */
static ERL_NIF_TERM string_to_latin1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned len;
  char* buf;
  int got;
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_get_list_length(env, argv[0], &len)) return enif_make_badarg(env);
  buf = enif_alloc((size_t)len + 1);
  if (buf == NULL) return enif_make_badarg(env);
  got = enif_get_string(env, argv[0], buf, len + 1, ERL_NIF_LATIN1);
  if (got <= 0) {
    enif_free(buf);
    return enif_make_badarg(env);
  }
  memcpy(enif_make_new_binary(env, (size_t)got - 1, &out), buf, (size_t)got - 1);
  enif_free(buf);
  return out;
}

/* Runs enif_get_atom / enif_get_string into a caller-sized buffer pre-filled
 * with 0xAA and returns {Return, WholeBuffer}, exposing the exact
 * truncation and terminator behaviour. */
static ERL_NIF_TERM get_into_buffer(ErlNifEnv* env, const ERL_NIF_TERM argv[], int atom) {
  size_t size;
  ERL_NIF_TERM out;
  unsigned char* dst;
  int got;
  if (!nh_get_size(env, argv[1], NH_MAX_BUF, &size)) return enif_make_badarg(env);
  dst = enif_make_new_binary(env, size, &out);
  memset(dst, 0xAA, size);
  if (atom)
    got = enif_get_atom(env, argv[0], (char*)dst, (unsigned)size, ERL_NIF_LATIN1);
  else
    got = enif_get_string(env, argv[0], (char*)dst, (unsigned)size, ERL_NIF_LATIN1);
  return enif_make_tuple2(env, enif_make_int(env, got), out);
}

static ERL_NIF_TERM get_atom_buf(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return get_into_buffer(env, argv, 1);
}

static ERL_NIF_TERM get_string_buf(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  return get_into_buffer(env, argv, 0);
}

/* ---- numbers ------------------------------------------------------------- */

/* A / B on floats through enif_make_double: non-finite results are badarg. */
static ERL_NIF_TERM fdiv(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  double a, b;
  (void)argc;
  if (!enif_get_double(env, argv[0], &a) || !enif_get_double(env, argv[1], &b))
    return enif_make_badarg(env);
  return enif_make_double(env, a / b);
}

/* Boundary values of every integer constructor, around the small/big
 * integer boundary (60-bit fixnums on 64-bit) and the C type limits. */
static ERL_NIF_TERM big_ints(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  const ErlNifSInt64 small_max = ((ErlNifSInt64)1 << 59) - 1;
  ERL_NIF_TERM out[14];
  (void)argc;
  (void)argv;
  out[0] = enif_make_int(env, INT_MIN);
  out[1] = enif_make_int(env, INT_MAX);
  out[2] = enif_make_uint(env, UINT_MAX);
  out[3] = enif_make_long(env, LONG_MIN);
  out[4] = enif_make_long(env, LONG_MAX);
  out[5] = enif_make_ulong(env, ULONG_MAX);
  out[6] = enif_make_int64(env, INT64_MIN);
  out[7] = enif_make_int64(env, INT64_MAX);
  out[8] = enif_make_uint64(env, UINT64_MAX);
  out[9] = enif_make_int64(env, small_max);
  out[10] = enif_make_int64(env, small_max + 1);
  out[11] = enif_make_int64(env, -small_max - 1);
  out[12] = enif_make_int64(env, -small_max - 2);
  out[13] = enif_make_uint64(env, (ErlNifUInt64)1 << 63);
  return enif_make_tuple_from_array(env, out, NH_COUNT_OF(out));
}

/* ---- processes and ports (without messaging) ------------------------------ */

static ERL_NIF_TERM self_alive(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_bool(env, enif_is_current_process_alive(env));
}

static ERL_NIF_TERM pid_roundtrip(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  return enif_make_pid(env, &pid);
}

/* {IsUndefinedAfterSet, IsUndefinedForSelf} -> {true, false} */
static ERL_NIF_TERM undefined_pid(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid undef, self;
  (void)argc;
  (void)argv;
  enif_set_pid_undefined(&undef);
  if (enif_self(env, &self) == NULL) return enif_make_badarg(env);
  return enif_make_tuple2(env, nh_bool(env, enif_is_pid_undefined(&undef)),
                          nh_bool(env, enif_is_pid_undefined(&self)));
}

static ERL_NIF_TERM port_alive(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPort port;
  (void)argc;
  if (!enif_get_local_port(env, argv[0], &port)) return enif_make_badarg(env);
  return nh_bool(env, enif_is_port_alive(env, &port));
}

/* (Name, BufSize) -> {ok, Value} | not_found | {too_small, Needed} */
static ERL_NIF_TERM getenv_2(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary name;
  size_t bufsize, size;
  char key[256];
  char* value;
  int rc;
  ERL_NIF_TERM out;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &name) || name.size >= sizeof(key) ||
      memchr(name.data, 0, name.size) != NULL || !nh_get_size(env, argv[1], NH_MAX_BUF, &bufsize))
    return enif_make_badarg(env);
  memcpy(key, name.data, name.size);
  key[name.size] = '\0';
  value = enif_alloc(bufsize + 1);
  if (value == NULL) return enif_make_badarg(env);
  size = bufsize;
  rc = enif_getenv(key, value, &size);
  if (rc == 0) {
    memcpy(enif_make_new_binary(env, size, &out), value, size);
    out = nh_ok_tuple(env, out);
  } else if (rc < 0) {
    out = nh_atom(env, "not_found");
  } else {
    out = enif_make_tuple2(env, nh_atom(env, "too_small"), enif_make_uint64(env, size));
  }
  enif_free(value);
  return out;
}

/* (Pid) -> true | false (enif_is_process_alive on a local pid). */
static ERL_NIF_TERM pid_alive(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  return nh_bool(env, enif_is_process_alive(env, &pid));
}

/* Pid -> true (a monitor could be set, its term is a reference, and it
 * could be removed again) | noproc. */
static ERL_NIF_TERM monitor_term(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  term_watch_t* w;
  ERL_NIF_TERM result;
  int rc;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  w = enif_alloc_resource(((priv_t*)enif_priv_data(env))->watch, sizeof(term_watch_t));
  if (w == NULL) return enif_make_badarg(env);
  rc = enif_monitor_process(env, w, &pid, &w->mon);
  if (rc > 0) {
    result = nh_atom(env, "noproc");
  } else if (rc < 0) {
    result = nh_error(env);
  } else {
    int is_ref = enif_is_ref(env, enif_make_monitor_term(env, &w->mon));
    result = nh_bool(env, is_ref && enif_demonitor_process(env, w, &w->mon) == 0);
  }
  enif_release_resource(w);
  return result;
}

/* ---- resources and binaries (the basics; nh_resources/nh_binaries go
 * further) ----------------------------------------------------------------- */

/* Int -> {Int, Text}: a resource holding Int is made into a term, read back
 * with enif_get_resource, and its decimal text returned as a resource
 * binary. */
static ERL_NIF_TERM resource_roundtrip(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSInt64 v;
  term_res_t* r;
  term_res_t* back;
  ERL_NIF_TERM term, text;
  priv_t* p = enif_priv_data(env);
  (void)argc;
  if (!enif_get_int64(env, argv[0], &v)) return enif_make_badarg(env);
  r = enif_alloc_resource(p->res, sizeof(term_res_t));
  if (r == NULL) return enif_make_badarg(env);
  r->value = v;
  r->text_len = (size_t)snprintf(r->text, sizeof(r->text), "%lld", (long long)v);
  term = enif_make_resource(env, r);
  enif_release_resource(r);
  if (!enif_get_resource(env, term, p->res, (void**)&back)) return enif_make_badarg(env);
  text = enif_make_resource_binary(env, back, back->text, back->text_len);
  return enif_make_tuple2(env, enif_make_int64(env, back->value), text);
}

/* (Bin, Pos, Len) -> binary:part/3 via enif_make_sub_binary. */
static ERL_NIF_TERM binary_part(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  size_t pos, len;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &bin) || !nh_get_size(env, argv[1], bin.size, &pos) ||
      !nh_get_size(env, argv[2], bin.size - pos, &len))
    return enif_make_badarg(env);
  return enif_make_sub_binary(env, argv[0], pos, len);
}

/* (Library, Symbol) -> true | false: whether enif_dlopen/enif_dlsym find
 * Symbol in Library. Both are strings; like erlang:load_nif/2, Library is a
 * path without the ".so" extension, which the VM adds. */
static void ignore_dl_error(void* arg, const char* msg) {
  (void)arg;
  (void)msg;
}

static ERL_NIF_TERM dlsym_found(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  char lib[256], sym[256];
  void* handle;
  (void)argc;
  if (enif_get_string(env, argv[0], lib, sizeof(lib), ERL_NIF_LATIN1) <= 0 ||
      enif_get_string(env, argv[1], sym, sizeof(sym), ERL_NIF_LATIN1) <= 0)
    return enif_make_badarg(env);
  handle = enif_dlopen(lib, ignore_dl_error, NULL);
  if (handle == NULL) return nh_atom(env, "false");
  return nh_bool(env, enif_dlsym(handle, sym, ignore_dl_error, NULL) != NULL);
}

/* ---- runtime information --------------------------------------------------- */

/* {DriverMajor, DriverMinor, ErtsVersion, OtpRelease, ThreadSupport,
 *  SmpSupport, AsyncThreads, SchedulerThreads, NifMajor, NifMinor,
 *  DirtySchedulerSupport} from enif_system_info. */
static ERL_NIF_TERM system_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifSysInfo si;
  ERL_NIF_TERM out[11];
  (void)argc;
  (void)argv;
  memset(&si, 0, sizeof(si));
  enif_system_info(&si, sizeof(si));
  out[0] = enif_make_int(env, si.driver_major_version);
  out[1] = enif_make_int(env, si.driver_minor_version);
  out[2] = enif_make_string(env, si.erts_version ? si.erts_version : "", ERL_NIF_LATIN1);
  out[3] = enif_make_string(env, si.otp_release ? si.otp_release : "", ERL_NIF_LATIN1);
  out[4] = nh_bool(env, si.thread_support);
  out[5] = nh_bool(env, si.smp_support);
  out[6] = enif_make_int(env, si.async_threads);
  out[7] = enif_make_int(env, si.scheduler_threads);
  out[8] = enif_make_int(env, si.nif_major_version);
  out[9] = enif_make_int(env, si.nif_minor_version);
  out[10] = nh_bool(env, si.dirty_scheduler_support);
  return enif_make_tuple_from_array(env, out, NH_COUNT_OF(out));
}

static ErlNifFunc funcs[] = {
    {"noop", 0, noop, 0},
    {"add", 2, add, 0},
    {"echo", 1, echo, 0},
    {"make_copy", 1, make_copy, 0},
    {"roundtrip_int", 1, roundtrip_int, 0},
    {"roundtrip_uint", 1, roundtrip_uint, 0},
    {"roundtrip_long", 1, roundtrip_long, 0},
    {"roundtrip_ulong", 1, roundtrip_ulong, 0},
    {"roundtrip_int64", 1, roundtrip_int64, 0},
    {"roundtrip_uint64", 1, roundtrip_uint64, 0},
    {"roundtrip_double", 1, roundtrip_double, 0},
    {"roundtrip_atom", 1, roundtrip_atom, 0},
    {"roundtrip_string", 1, roundtrip_string, 0},
    {"roundtrip_tuple", 1, roundtrip_tuple, 0},
    {"roundtrip_list", 1, roundtrip_list, 0},
    {"roundtrip_map", 1, roundtrip_map, 0},
    {"type_of", 1, type_of, 0},
    {"list_from_tuple", 1, list_from_tuple, 0},
    {"reverse_list", 1, reverse_list, 0},
    {"list_cell", 1, list_cell, 0},
    {"list_length", 1, list_length, 0},
    {"prepend", 2, prepend, 0},
    {"make_list3", 3, make_list3, 0},
    {"tuple_size", 1, tuple_size, 0},
    {"tuple_element", 2, tuple_element, 0},
    {"tuple_from_list", 1, tuple_from_list, 0},
    {"make_tuple3", 3, make_tuple3, 0},
    {"fixed_arity", 0, fixed_arity, 0},
    {"new_map", 0, new_map, 0},
    {"map_put", 3, map_put, 0},
    {"map_update", 3, map_update, 0},
    {"map_remove", 2, map_remove, 0},
    {"map_get", 2, map_get, 0},
    {"map_size", 1, map_size, 0},
    {"map_iter_forward", 1, map_iter_forward, 0},
    {"map_iter_backward", 1, map_iter_backward, 0},
    {"map_from_arrays", 2, map_from_arrays, 0},
    {"compare", 2, compare, 0},
    {"is_identical", 2, is_identical, 0},
    {"hash", 2, hash, 0},
    {"hash", 3, hash, 0},
    {"term_to_binary", 1, term_to_binary, 0},
    {"binary_to_term", 2, binary_to_term, 0},
    {"snprintf", 1, snprintf_1, 0},
    {"snprintf", 2, snprintf_2, 0},
    {"make_ref", 0, make_ref, 0},
    {"ref_is_unique", 0, ref_is_unique, 0},
    {"unique_integer", 0, unique_integer, 0},
    {"unique_integer", 1, unique_integer, 0},
    {"monotonic_time", 0, monotonic_time, 0},
    {"monotonic_time", 1, monotonic_time, 0},
    {"time_offset", 0, time_offset, 0},
    {"time_offset", 1, time_offset, 0},
    {"convert_time_unit", 3, convert_time_unit, 0},
    {"now_time", 0, now_time, 0},
    {"cpu_time", 0, cpu_time, 0},
    {"raise", 1, raise_1, 0},
    {"badarg", 0, badarg, 0},
    {"pending_exception", 1, pending_exception, 0},
    {"make_existing_atom", 1, make_existing_atom, 0},
    {"atom_length", 1, atom_length, 0},
    {"atom_to_latin1", 1, atom_to_latin1, 0},
    {"latin1_to_atom", 1, latin1_to_atom, 0},
    {"latin1_to_string", 1, latin1_to_string, 0},
    {"string_to_latin1", 1, string_to_latin1, 0},
    {"get_atom_buf", 2, get_atom_buf, 0},
    {"get_string_buf", 2, get_string_buf, 0},
    {"fdiv", 2, fdiv, 0},
    {"big_ints", 0, big_ints, 0},
    {"self_alive", 0, self_alive, 0},
    {"pid_roundtrip", 1, pid_roundtrip, 0},
    {"undefined_pid", 0, undefined_pid, 0},
    {"port_alive", 1, port_alive, 0},
    {"getenv", 2, getenv_2, 0},
    {"system_info", 0, system_info, 0},
    {"fprintf", 1, fprintf_1, 0},
    {"pid_alive", 1, pid_alive, 0},
    {"monitor_term", 1, monitor_term, 0},
    {"resource_roundtrip", 1, resource_roundtrip, 0},
    {"binary_part", 3, binary_part, 0},
    {"dlsym_found", 2, dlsym_found, 0},
};

ERL_NIF_INIT(nh_terms, funcs, load, NULL, upgrade, unload)
