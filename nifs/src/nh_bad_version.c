/* nh_bad_version: nif_init returns an ErlNifEntry whose major version is one
 * above the API this was compiled against, as a library built for a future
 * VM would. A loader must refuse it before using anything else in the entry
 * (callbacks, functions). OTP 25 answers {error, {bad_lib, "That
 * 'nh_bad_version' NIF library needs erts-12.0 or newer. Either try to
 * recompile the NIF lib or use a newer erts runtime."}} (the version it
 * names is the entry's min_erts field).
 *
 * The entry is written out by hand because ERL_NIF_INIT always stamps the
 * current version.
 */
#include "nh_common.h"

static ERL_NIF_TERM never(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return nh_atom(env, "unreachable");
}

static ErlNifFunc funcs[] = {
    {"never", 0, never, 0},
};

static ErlNifEntry entry = {
    ERL_NIF_MAJOR_VERSION + 1,
    ERL_NIF_MINOR_VERSION,
    "nh_bad_version",
    (int)NH_COUNT_OF(funcs),
    funcs,
    NULL, /* load */
    NULL, /* reload */
    NULL, /* upgrade */
    NULL, /* unload */
    ERL_NIF_VM_VARIANT,
    1,
    sizeof(ErlNifResourceTypeInit),
    ERL_NIF_MIN_ERTS_VERSION,
};

ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void);
ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void) { return &entry; }
