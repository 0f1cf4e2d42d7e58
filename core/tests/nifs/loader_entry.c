/* ErlNifEntry variants for loader_test.cpp: one library per way an entry can
 * differ from what ERL_NIF_INIT writes today (older or newer versions, the
 * pre-2.7 ErlNifFunc layout, another vm variant, illegal flags, an arity no
 * Erlang function has). The test loads each in the real BEAM and here and
 * compares the answers.
 *
 * Built with: LE_MODULE (the module name), and optionally LE_MAJOR, LE_MINOR,
 * LE_VARIANT, LE_FLAGS (of a/0), LE_ARITY (of b), LE_V1_FUNCS (the 2.0-2.6
 * ErlNifFunc without a flags field), LE_MISSING_ENIF (needs an enif_ function
 * no VM has).
 */
#include <erl_nif.h>

#ifndef LE_MAJOR
#define LE_MAJOR ERL_NIF_MAJOR_VERSION
#endif
#ifndef LE_MINOR
#define LE_MINOR ERL_NIF_MINOR_VERSION
#endif
#ifndef LE_VARIANT
#define LE_VARIANT ERL_NIF_VM_VARIANT
#endif
#ifndef LE_FLAGS
#define LE_FLAGS 0
#endif
#ifndef LE_ARITY
#define LE_ARITY 1
#endif
#define LE_STR2(x) #x
#define LE_STR(x) LE_STR2(x)

#ifdef LE_MISSING_ENIF
/* A function no VM exports: dlopen(RTLD_NOW) must fail on it. */
extern int enif_no_such_function(ErlNifEnv* env);
#endif

/* Returns its arity, so a caller sees which entry it reached. */
static ERL_NIF_TERM arity_of(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argv;
#ifdef LE_MISSING_ENIF
  if (argc > 100) return enif_make_int(env, enif_no_such_function(env));
#endif
  return enif_make_int(env, argc);
}

#ifdef LE_V1_FUNCS
typedef struct {
  const char* name;
  unsigned arity;
  ERL_NIF_TERM (*fptr)(ErlNifEnv*, int, const ERL_NIF_TERM[]);
} le_func_v1;
static le_func_v1 funcs[] = {{"a", 0, arity_of}, {"b", LE_ARITY, arity_of}};
#else
static ErlNifFunc funcs[] = {{"a", 0, arity_of, LE_FLAGS}, {"b", LE_ARITY, arity_of, 0}};
#endif

static ErlNifEntry entry = {
    LE_MAJOR,
    LE_MINOR,
    LE_STR(LE_MODULE),
    2,
    (ErlNifFunc*)funcs,
    NULL,
    NULL,
    NULL,
    NULL,
    LE_VARIANT,
    1,
    sizeof(ErlNifResourceTypeInit),
    ERL_NIF_MIN_ERTS_VERSION,
};

ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void);
ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void) { return &entry; }
