/* nh_binaries: the enif binary API (alloc/realloc/release, make_binary,
 * make_new_binary, sub-binaries, inspect, iolists, iovecs and I/O queues)
 * and a few byte-moving functions the benchmarks use (fill, echo_bin,
 * checksum). Every function is deterministic and loads in the BEAM.
 */
#include <stdint.h>
#include <string.h>

#include "nh_common.h"

/* Upper bound for sizes a caller may ask for (fill/2, realloc/3). The
 * benchmarks use up to 16 MiB; the bound keeps a typo from exhausting RAM. */
#define NH_MAX_BINARY ((size_t)256 << 20)

/* The byte realloc/3 writes at offset i of the grown area. */
static unsigned char pattern_byte(size_t i) { return (unsigned char)(0x5A ^ (i & 0xFF)); }

/* Bin -> a copy made with enif_alloc_binary + enif_make_binary. */
static ERL_NIF_TERM alloc(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in, out;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  if (!enif_alloc_binary(in.size, &out)) return enif_make_badarg(env);
  if (in.size > 0) memcpy(out.data, in.data, in.size);
  return enif_make_binary(env, &out);
}

/* (Bin, GrowTo, ShrinkTo): copies Bin into an allocated binary, grows it to
 * GrowTo (new bytes filled with pattern_byte(offset)), shrinks it to ShrinkTo
 * and returns it. Needs size(Bin) =< GrowTo and ShrinkTo =< GrowTo. */
static ERL_NIF_TERM realloc_3(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in, out;
  size_t grow, shrink, i;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in) || !nh_get_size(env, argv[1], NH_MAX_BINARY, &grow) ||
      !nh_get_size(env, argv[2], NH_MAX_BINARY, &shrink) || grow < in.size || shrink > grow)
    return enif_make_badarg(env);
  if (!enif_alloc_binary(in.size, &out)) return enif_make_badarg(env);
  if (in.size > 0) memcpy(out.data, in.data, in.size);
  if (!enif_realloc_binary(&out, grow)) {
    enif_release_binary(&out);
    return enif_make_badarg(env);
  }
  for (i = in.size; i < grow; ++i) out.data[i] = pattern_byte(i);
  if (!enif_realloc_binary(&out, shrink)) {
    enif_release_binary(&out);
    return enif_make_badarg(env);
  }
  return enif_make_binary(env, &out);
}

/* N -> ok: allocates N bytes, writes them, doubles the size, releases the
 * binary without making a term of it. */
static ERL_NIF_TERM alloc_release(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  size_t n;
  (void)argc;
  if (!nh_get_size(env, argv[0], NH_MAX_BINARY / 2, &n)) return enif_make_badarg(env);
  if (!enif_alloc_binary(n, &bin)) return enif_make_badarg(env);
  if (n > 0) memset(bin.data, 0xEE, n);
  if (!enif_realloc_binary(&bin, 2 * n)) {
    enif_release_binary(&bin);
    return enif_make_badarg(env);
  }
  if (bin.size != 2 * n || (n > 0 && bin.data[n - 1] != 0xEE)) {
    enif_release_binary(&bin);
    return nh_error(env);
  }
  enif_release_binary(&bin);
  return nh_ok(env);
}

/* Bin -> a copy made with enif_make_new_binary. */
static ERL_NIF_TERM make_new_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  ERL_NIF_TERM out;
  unsigned char* dst;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  dst = enif_make_new_binary(env, in.size, &out);
  if (in.size > 0) memcpy(dst, in.data, in.size);
  return out;
}

static int get_range(ErlNifEnv* env, const ERL_NIF_TERM* args, size_t size, size_t* pos,
                     size_t* len) {
  return nh_get_size(env, args[0], size, pos) && nh_get_size(env, args[1], size, len) &&
         *len <= size - *pos;
}

/* (Bin, Pos, Len) -> binary:part(Bin, Pos, Len); badarg when out of range. */
static ERL_NIF_TERM sub_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  size_t pos, len;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in) || !get_range(env, argv + 1, in.size, &pos, &len))
    return enif_make_badarg(env);
  return enif_make_sub_binary(env, argv[0], pos, len);
}

/* (Bin, Pos1, Len1, Pos2, Len2) -> a sub-binary of a sub-binary. */
static ERL_NIF_TERM sub_sub_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  size_t pos1, len1, pos2, len2;
  ERL_NIF_TERM outer;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in) || !get_range(env, argv + 1, in.size, &pos1, &len1) ||
      !get_range(env, argv + 3, len1, &pos2, &len2))
    return enif_make_badarg(env);
  outer = enif_make_sub_binary(env, argv[0], pos1, len1);
  return enif_make_sub_binary(env, outer, pos2, len2);
}

/* (Bin, Pos) -> {Before, After} as two sub-binaries. */
static ERL_NIF_TERM split(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  size_t pos;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in) || !nh_get_size(env, argv[1], in.size, &pos))
    return enif_make_badarg(env);
  return enif_make_tuple2(env, enif_make_sub_binary(env, argv[0], 0, pos),
                          enif_make_sub_binary(env, argv[0], pos, in.size - pos));
}

/* Bin -> sum of its bytes (reads every byte; used to measure data access). */
static ERL_NIF_TERM checksum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  ErlNifUInt64 sum = 0;
  size_t i;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  for (i = 0; i < in.size; ++i) sum += in.data[i];
  return enif_make_uint64(env, sum);
}

/* iolist_to_binary/1 through enif_inspect_iolist_as_binary (copied out
 * with make_new_binary: the inspected data belongs to the env). */
static ERL_NIF_TERM iolist_to_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  ERL_NIF_TERM out;
  unsigned char* dst;
  (void)argc;
  if (!enif_inspect_iolist_as_binary(env, argv[0], &in)) return enif_make_badarg(env);
  dst = enif_make_new_binary(env, in.size, &out);
  if (in.size > 0) memcpy(dst, in.data, in.size);
  return out;
}

static ERL_NIF_TERM reverse(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  ERL_NIF_TERM out;
  unsigned char* dst;
  size_t i;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  dst = enif_make_new_binary(env, in.size, &out);
  for (i = 0; i < in.size; ++i) dst[i] = in.data[in.size - 1 - i];
  return out;
}

static ERL_NIF_TERM concat(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary a, b;
  ERL_NIF_TERM out;
  unsigned char* dst;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &a) || !enif_inspect_binary(env, argv[1], &b))
    return enif_make_badarg(env);
  dst = enif_make_new_binary(env, a.size + b.size, &out);
  if (a.size > 0) memcpy(dst, a.data, a.size);
  if (b.size > 0) memcpy(dst + a.size, b.data, b.size);
  return out;
}

/* (N, Byte) -> a binary of N copies of Byte. */
static ERL_NIF_TERM fill(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary bin;
  size_t n;
  unsigned byte;
  (void)argc;
  if (!nh_get_size(env, argv[0], NH_MAX_BINARY, &n) || !enif_get_uint(env, argv[1], &byte) ||
      byte > 255)
    return enif_make_badarg(env);
  if (!enif_alloc_binary(n, &bin)) return enif_make_badarg(env);
  if (n > 0) memset(bin.data, (int)byte, n);
  return enif_make_binary(env, &bin);
}

static ERL_NIF_TERM size(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  return enif_make_uint64(env, in.size);
}

/* Bin -> Bin, after checking it is a binary (the data is not touched). */
static ERL_NIF_TERM echo_bin(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifBinary in;
  (void)argc;
  if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
  return argv[0];
}

/* Concatenates the data of an ErlNifIOVec (or a peeked SysIOVec array). */
static ERL_NIF_TERM flatten_iov(ErlNifEnv* env, const SysIOVec* iov, int count, size_t total) {
  ERL_NIF_TERM out;
  unsigned char* dst = enif_make_new_binary(env, total, &out);
  size_t at = 0;
  int i;
  for (i = 0; i < count; ++i) {
    if (iov[i].iov_len > 0) memcpy(dst + at, iov[i].iov_base, iov[i].iov_len);
    at += iov[i].iov_len;
  }
  return out;
}

/* (ListOfBinaries, MaxElements) -> {Data, Tail}: enif_inspect_iovec takes
 * up to MaxElements binaries, Tail is the rest of the list. The vector is
 * inspected into a caller-provided struct with the call's env, so it belongs
 * to the env and is not freed here. */
static ERL_NIF_TERM iovec(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  size_t max;
  ERL_NIF_TERM tail;
  ErlNifIOVec vec;
  ErlNifIOVec* iov = &vec;
  (void)argc;
  if (!nh_get_size(env, argv[1], SIZE_MAX, &max)) return enif_make_badarg(env);
  if (!enif_inspect_iovec(env, max, argv[0], &tail, &iov)) return enif_make_badarg(env);
  return enif_make_tuple2(env, flatten_iov(env, iov->iov, iov->iovcnt, iov->size), tail);
}

/* (ListOfBinaries, Skip) -> {Head, SizeBefore, SizeAfter, Rest}: enqueues
 * the binaries (enif_ioq_enqv) followed by "!" (enif_ioq_enq_binary),
 * peeks the first queued binary as a term, dequeues Skip bytes and returns
 * what remains. The vector is inspected without an env, so it owns its data
 * and is released with enif_free_iovec. */
static ERL_NIF_TERM ioq(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  size_t skip, before, after = 0, head_size;
  ERL_NIF_TERM tail, head, rest;
  ErlNifIOVec* iov = NULL;
  ErlNifIOQueue* q;
  ErlNifBinary bang;
  SysIOVec* peek;
  int count;
  (void)argc;
  if (!nh_get_size(env, argv[1], SIZE_MAX, &skip)) return enif_make_badarg(env);
  if (!enif_inspect_iovec(NULL, SIZE_MAX, argv[0], &tail, &iov)) return enif_make_badarg(env);
  if (!enif_is_empty_list(env, tail)) {
    enif_free_iovec(iov);
    return enif_make_badarg(env);
  }
  q = enif_ioq_create(ERL_NIF_IOQ_NORMAL);
  if (q == NULL || !enif_ioq_enqv(q, iov, 0) || !enif_alloc_binary(1, &bang)) {
    if (q != NULL) enif_ioq_destroy(q);
    enif_free_iovec(iov);
    return enif_make_badarg(env);
  }
  enif_free_iovec(iov);
  bang.data[0] = '!';
  if (!enif_ioq_enq_binary(q, &bang, 0)) {
    enif_ioq_destroy(q);
    return enif_make_badarg(env);
  }
  before = enif_ioq_size(q);
  if (!enif_ioq_peek_head(env, q, &head_size, &head) || skip > before ||
      !enif_ioq_deq(q, skip, &after)) {
    enif_ioq_destroy(q);
    return enif_make_badarg(env);
  }
  peek = enif_ioq_peek(q, &count);
  rest = flatten_iov(env, peek, count, enif_ioq_size(q));
  enif_ioq_destroy(q);
  return enif_make_tuple4(env, head, enif_make_uint64(env, before), enif_make_uint64(env, after),
                          rest);
}

static ErlNifFunc funcs[] = {
    {"alloc", 1, alloc, 0},
    {"realloc", 3, realloc_3, 0},
    {"alloc_release", 1, alloc_release, 0},
    {"make_new_binary", 1, make_new_binary, 0},
    {"sub_binary", 3, sub_binary, 0},
    {"sub_sub_binary", 5, sub_sub_binary, 0},
    {"split", 2, split, 0},
    {"checksum", 1, checksum, 0},
    {"iolist_to_binary", 1, iolist_to_binary, 0},
    {"reverse", 1, reverse, 0},
    {"concat", 2, concat, 0},
    {"fill", 2, fill, 0},
    {"size", 1, size, 0},
    {"echo_bin", 1, echo_bin, 0},
    {"iovec", 2, iovec, 0},
    {"ioq", 2, ioq, 0},
};

ERL_NIF_INIT(nh_binaries, funcs, nh_load_stateless, NULL, nh_upgrade_stateless, nh_unload_stateless)
