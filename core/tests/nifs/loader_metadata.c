/* Metadata tables (nifhost/nif_metadata.h) a loader must refuse, one library
 * per defect, for loader_test.cpp. Built with LM_MODULE and one of:
 * LM_BAD_MAGIC, LM_NEWER_ABI, LM_DUPLICATE, LM_MISSING_SYMBOL, LM_BAD_FLAGS.
 */
#include <erl_nif.h>
#include <nifhost/nif_metadata.h>

#define LM_STR2(x) #x
#define LM_STR(x) LM_STR2(x)

NIFHOST_NIF_EXPORT ERL_NIF_TERM lm_one(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]);
NIFHOST_NIF_EXPORT ERL_NIF_TERM lm_one(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_int(env, 1);
}

static const nifhost_nif_function_metadata functions[] = {
    {"one", 0, "lm_one", 0},
#if defined(LM_DUPLICATE)
    {"one", 0, "lm_one", 0},
#elif defined(LM_MISSING_SYMBOL)
    {"two", 0, "lm_two_is_not_exported", 0},
#elif defined(LM_BAD_FLAGS)
    {"three", 0, "lm_one", 3},
#endif
};

NIFHOST_NIF_EXPORT const nifhost_nif_metadata* nif_get_metadata(void);
NIFHOST_NIF_EXPORT const nifhost_nif_metadata* nif_get_metadata(void) {
  static const nifhost_nif_metadata metadata = {
#ifdef LM_BAD_MAGIC
      0x12345678U,
#else
      NIFHOST_NIF_METADATA_MAGIC,
#endif
#ifdef LM_NEWER_ABI
      NIFHOST_NIF_METADATA_ABI_VERSION + 1,
#else
      NIFHOST_NIF_METADATA_ABI_VERSION,
#endif
      (uint32_t)sizeof(nifhost_nif_metadata),
      (uint32_t)(sizeof(functions) / sizeof(functions[0])),
      LM_STR(LM_MODULE),
      "0.1",
      functions,
  };
  return &metadata;
}
