/* clang-format off */
/* nh_faults: native code failing in the ways real NIFs fail, one function
 * per failure, for the fault-isolation tests. Calling these in a VM that
 * runs NIFs in its own address space takes the VM down (that is the point).
 *
 *   function             what it does                          outcome ("lethal" = the
 *                                                              process running it dies)
 *   -------------------  ------------------------------------  --------------------------------
 *   segfault/0           stores through address 0x10           lethal: SIGSEGV
 *   abort/0              abort()                               lethal: SIGABRT
 *   wild_write/2         *(uint64_t*)Address = Value           unmapped Address: lethal SIGSEGV;
 *                                                              mapped: silent corruption of
 *                                                              whatever lives there
 *   read_secret/2        Len bytes at Address, as a binary     unmapped: lethal SIGSEGV;
 *                                                              mapped: returns (leaks) them
 *   infinite_loop/0      spins forever                         never returns (needs a timeout
 *                                                              and a kill)
 *   stack_overflow/1     non-tail recursion, 512-byte frames   Limit 0: lethal SIGSEGV on the
 *                                                              guard page; Limit N: returns N
 *   memory_bomb/0        malloc 64 MiB chunks and touch them   without a memory limit: lethal
 *                        until malloc fails                    (OOM killer, SIGKILL) and harmful
 *                                                              to the machine; under
 *                                                              RLIMIT_AS/RLIMIT_DATA: frees
 *                                                              everything and returns
 *                                                              {out_of_memory, Bytes}
 *   exit/1               exit(Status)                          lethal: exit status Status
 *   raise_from_thread/0  a created thread calls                lethal in the BEAM: SIGSEGV
 *                        enif_raise_exception(NULL, ...)       (returns `survived` if the host
 *                                                              tolerates it)
 *   double_free/0        free() of the same block twice        lethal: SIGABRT (glibc detects it)
 *   divide_by_zero/0     integer division by a volatile zero   lethal: SIGFPE
 *   raise_signal/1       raise(Signal)                         lethal for signals whose default
 *                                                              action terminates
 *   scribble_shm/0       overwrites every mapping of a nifhost returns {scribbled, Mappings, Bytes};
 *                        shared segment it finds in            what the peer does with the
 *                        /proc/self/maps with random bytes     garbage is the test; no_segment
 *                                                              where there is none (inproc,
 *                                                              process, the BEAM)
 *   sleep_ms/1           sleeps on the calling thread          returns ok after Ms milliseconds
 *   ok/0                 nothing                               returns ok (the next call works)
 *
 * Every trick that keeps the compiler from removing or "fixing" the fault
 * (volatile, noinline, non-constant addresses) is deliberate.
 */
/* clang-format on */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nh_common.h"

/* Bound on read_secret/2 so one call cannot ask for the whole address space. */
#define NH_MAX_READ ((size_t)1 << 20)

static ERL_NIF_TERM segfault(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  /* A constant null store would be rewritten into a trap instruction
   * (SIGILL); an address read from a volatile is opaque to the optimiser. */
  volatile uintptr_t address = 0x10;
  (void)argc;
  (void)argv;
  *(volatile int*)address = 42;
  return nh_ok(env);
}

static ERL_NIF_TERM abort_0(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)env;
  (void)argc;
  (void)argv;
  abort();
}

/* (Address, Value) -> ok after writing the 64-bit Value at Address. */
static ERL_NIF_TERM wild_write(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 address, value;
  ErlNifSInt64 signed_value;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &address)) return enif_make_badarg(env);
  if (enif_get_int64(env, argv[1], &signed_value))
    value = (ErlNifUInt64)signed_value;
  else if (!enif_get_uint64(env, argv[1], &value))
    return enif_make_badarg(env);
  *(volatile ErlNifUInt64*)(uintptr_t)address = value;
  return nh_ok(env);
}

/* (Address, Len) -> the Len bytes found at Address. */
static ERL_NIF_TERM read_secret(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 address;
  size_t len, i;
  ERL_NIF_TERM out;
  unsigned char* dst;
  const volatile unsigned char* src;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &address) || !nh_get_size(env, argv[1], NH_MAX_READ, &len))
    return enif_make_badarg(env);
  dst = enif_make_new_binary(env, len, &out);
  src = (const volatile unsigned char*)(uintptr_t)address;
  for (i = 0; i < len; ++i) dst[i] = src[i];
  return out;
}

static ERL_NIF_TERM infinite_loop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  volatile ErlNifUInt64 spins = 0;
  (void)argc;
  (void)argv;
  for (;;) spins = spins + 1;
  return nh_ok(env); /* not reached */
}

/* Each frame keeps 512 bytes alive across the recursive call and reads them
 * after it returns, so the call is not a tail call and the frames stay. */
__attribute__((noinline)) static ErlNifUInt64 recurse(const volatile unsigned char* parent,
                                                      ErlNifUInt64 depth, ErlNifUInt64 limit) {
  volatile unsigned char frame[512];
  ErlNifUInt64 reached;
  frame[0] = (unsigned char)depth;
  frame[sizeof(frame) - 1] = parent != NULL ? parent[0] : 0;
  if (limit != 0 && depth >= limit) return depth;
  reached = recurse(frame, depth + 1, limit);
  return reached + frame[0] - (unsigned char)depth;
}

/* Limit -> {depth, Limit} when Limit > 0; Limit 0 recurses until the stack
 * runs out. */
static ERL_NIF_TERM stack_overflow(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifUInt64 limit;
  (void)argc;
  if (!enif_get_uint64(env, argv[0], &limit)) return enif_make_badarg(env);
  return enif_make_tuple2(env, nh_atom(env, "depth"),
                          enif_make_uint64(env, recurse(NULL, 1, limit)));
}

#define NH_BOMB_CHUNK ((size_t)64 << 20)
#define NH_PAGE 4096

static ERL_NIF_TERM memory_bomb(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  void* last = NULL; /* chunks form a list through their first word */
  ErlNifUInt64 total = 0;
  size_t off;
  (void)argc;
  (void)argv;
  for (;;) {
    unsigned char* chunk = malloc(NH_BOMB_CHUNK);
    if (chunk == NULL) break;
    /* Touch every page so the memory is really committed. */
    for (off = 0; off < NH_BOMB_CHUNK; off += NH_PAGE) ((volatile unsigned char*)chunk)[off] = 1;
    memcpy(chunk, &last, sizeof(last));
    last = chunk;
    total += NH_BOMB_CHUNK;
  }
  while (last != NULL) {
    void* prev;
    memcpy(&prev, last, sizeof(prev));
    free(last);
    last = prev;
  }
  return enif_make_tuple2(env, nh_atom(env, "out_of_memory"), enif_make_uint64(env, total));
}

static ERL_NIF_TERM exit_1(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int status;
  (void)argc;
  if (!enif_get_int(env, argv[0], &status)) return enif_make_badarg(env);
  exit(status);
}

typedef struct {
  ERL_NIF_TERM reason;
} raise_job_t;

/* enif_raise_exception is not among the functions the NIF documentation
 * allows from created threads: it needs the env of the NIF call that raises,
 * and a created thread has none. Passing NULL is the deterministic form of
 * that misuse; the BEAM dereferences the env at once and the node dies with
 * SIGSEGV in this thread. */
static void* raise_main(void* arg) {
  raise_job_t* job = arg;
  volatile ErlNifEnv* no_env = NULL;
  enif_raise_exception((ErlNifEnv*)no_env, job->reason);
  return NULL;
}

static ERL_NIF_TERM raise_from_thread(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  raise_job_t job;
  ErlNifTid tid;
  (void)argc;
  (void)argv;
  job.reason = nh_atom(env, "raised_from_thread"); /* atoms are valid in any env */
  if (enif_thread_create("nh_raise", &tid, raise_main, &job, NULL) != 0) return nh_error(env);
  enif_thread_join(tid, NULL);
  return nh_atom(env, "survived");
}

static ERL_NIF_TERM double_free(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  /* malloc, not enif_alloc: the C library's checks are what detect it. The
   * volatile pointer hides the second free from the compiler's warnings. */
  void* volatile block = malloc(64);
  (void)argc;
  (void)argv;
  if (block == NULL) return nh_error(env);
  memset(block, 0xAB, 64);
  free(block);
  free(block);
  return nh_atom(env, "survived");
}

static ERL_NIF_TERM divide_by_zero(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  /* Both operands volatile: with a constant dividend the compiler may
   * replace the division by a comparison (division by zero being undefined),
   * and no divide instruction would run. */
  volatile int dividend = 1;
  volatile int zero = 0;
  volatile int result;
  (void)argc;
  (void)argv;
  result = dividend / zero;
  return enif_make_int(env, result);
}

/* Signal -> ok (if the signal did not end the process). */
static ERL_NIF_TERM raise_signal(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int sig;
  (void)argc;
  if (!enif_get_int(env, argv[0], &sig) || sig <= 0 || sig >= 65) return enif_make_badarg(env);
  raise(sig);
  return nh_ok(env);
}

/* The shm backend's segment is a memfd named "nifhost-shm": its mappings
 * show in /proc/self/maps as "/memfd:nifhost-shm (deleted)". A NIF needs no
 * help to find them, as this shows. */
#define NH_SHM_MARK "/memfd:nifhost-shm"
#define NH_MAX_SCRIBBLED 256

/* -> {scribbled, Mappings, Bytes} after filling every writable mapping of a
 * nifhost segment with random bytes, or no_segment if there is none. */
static ERL_NIF_TERM scribble_shm(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  uintptr_t starts[NH_MAX_SCRIBBLED], ends[NH_MAX_SCRIBBLED];
  int found = 0, i;
  char line[4096];
  unsigned long long bytes = 0;
  uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull + 1;
  FILE* maps;
  (void)argc;
  (void)argv;
  /* Collect first, write after: the file is generated as it is read. */
  maps = fopen("/proc/self/maps", "r");
  if (maps == NULL) return nh_atom(env, "no_segment");
  while (found < NH_MAX_SCRIBBLED && fgets(line, sizeof line, maps) != NULL) {
    char* end;
    uintptr_t lo, hi;
    if (strstr(line, NH_SHM_MARK) == NULL) continue;
    lo = (uintptr_t)strtoull(line, &end, 16);
    if (*end != '-') continue;
    hi = (uintptr_t)strtoull(end + 1, &end, 16);
    /* "lo-hi rw-s ...": only what this process may write. */
    if (end[0] != ' ' || end[1] != 'r' || end[2] != 'w' || hi <= lo) continue;
    starts[found] = lo;
    ends[found] = hi;
    ++found;
  }
  fclose(maps);
  if (found == 0) return nh_atom(env, "no_segment");
  for (i = 0; i < found; ++i) {
    volatile uint64_t* p = (volatile uint64_t*)starts[i];
    volatile uint64_t* e = (volatile uint64_t*)ends[i];
    for (; p < e; ++p) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      *p = x;
    }
    bytes += (unsigned long long)(ends[i] - starts[i]);
  }
  return enif_make_tuple3(env, nh_atom(env, "scribbled"), enif_make_int(env, found),
                          enif_make_uint64(env, (ErlNifUInt64)bytes));
}

/* Ms -> ok after blocking the calling thread for Ms milliseconds. */
static ERL_NIF_TERM sleep_ms(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned ms;
  struct timespec ts;
  (void)argc;
  if (!enif_get_uint(env, argv[0], &ms) || ms > 600000) return enif_make_badarg(env);
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return nh_ok(env);
}

static ERL_NIF_TERM ok(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_ok(env);
}

static ErlNifFunc funcs[] = {
    {"segfault", 0, segfault, 0},
    {"abort", 0, abort_0, 0},
    {"wild_write", 2, wild_write, 0},
    {"read_secret", 2, read_secret, 0},
    {"infinite_loop", 0, infinite_loop, 0},
    {"stack_overflow", 1, stack_overflow, 0},
    {"memory_bomb", 0, memory_bomb, 0},
    {"exit", 1, exit_1, 0},
    {"raise_from_thread", 0, raise_from_thread, 0},
    {"double_free", 0, double_free, 0},
    {"divide_by_zero", 0, divide_by_zero, 0},
    {"raise_signal", 1, raise_signal, 0},
    {"scribble_shm", 0, scribble_shm, 0},
    {"sleep_ms", 1, sleep_ms, 0},
    {"ok", 0, ok, 0},
};

ERL_NIF_INIT(nh_faults, funcs, nh_load_stateless, NULL, nh_upgrade_stateless, nh_unload_stateless)
