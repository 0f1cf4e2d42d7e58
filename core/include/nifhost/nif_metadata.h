/* nif_metadata.h — the metadata loading convention for NIF libraries.
 *
 * Besides the BEAM's own convention (an exported `nif_init` returning an
 * ErlNifEntry), nifhost loads libraries that describe themselves with a
 * table: they export `nif_get_metadata`, which returns a
 * nifhost_nif_metadata, and one C symbol per function. The loader reads the
 * table, then finds each function with dlsym(symbol). A function has the
 * ErlNifFunc signature:
 *     ERL_NIF_TERM fn(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]);
 * and runs with the same enif_* API as any NIF. Such a library has no
 * load/upgrade/unload callbacks and no priv_data (enif_priv_data is NULL).
 * `nif_init` wins when a library exports both.
 *
 * This is a C header (the libraries are C); it is also valid C++.
 *
 *   static const nifhost_nif_function_metadata fns[] = {{"hello", 0, "my_hello", 0}};
 *   NIFHOST_NIF_METADATA_DEFINE("my_module", "1.0.0", fns)
 *
 * Versioning. `magic` identifies the table. `abi_version` is the layout the
 * library was built against; a loader accepts versions it knows
 * (NIFHOST_NIF_METADATA_ABI_VERSION and below) and refuses newer ones.
 * Later versions only append fields, and `struct_size` says how many bytes
 * of the table the library provides, so a loader reads no further than that.
 *
 * What a loader checks, refusing the library with a reason otherwise:
 *   - magic == NIFHOST_NIF_METADATA_MAGIC, 1 <= abi_version <= the loader's,
 *     struct_size >= the size of the version-1 table;
 *   - module_name is a non-empty Latin-1 atom name of at most 255 bytes;
 *     module_version is a NUL-terminated string (it may be empty);
 *   - function_count <= NIFHOST_NIF_METADATA_MAX_FUNCTIONS and functions is
 *     non-NULL when function_count > 0;
 *   - every name is a valid atom name, arity <= 255, no name/arity repeats,
 *     flags is 0, NIFHOST_NIF_FLAG_DIRTY_CPU or NIFHOST_NIF_FLAG_DIRTY_IO,
 *     and symbol resolves in the library.
 */
#ifndef NIFHOST_NIF_METADATA_H
#define NIFHOST_NIF_METADATA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "NIFM" read as a little-endian 32-bit word. */
#define NIFHOST_NIF_METADATA_MAGIC 0x4D46494EU

/* Layout version described by this header. */
#define NIFHOST_NIF_METADATA_ABI_VERSION 1U

/* The symbol a metadata library exports. */
#define NIFHOST_NIF_METADATA_SYMBOL "nif_get_metadata"

/* Upper bound on function_count, so a corrupt table cannot make a loader
 * walk arbitrary memory. */
#define NIFHOST_NIF_METADATA_MAX_FUNCTIONS 4096U

/* Function flags: the same values as ErlNifFunc.flags
 * (ERL_NIF_DIRTY_JOB_CPU_BOUND / ERL_NIF_DIRTY_JOB_IO_BOUND). */
#define NIFHOST_NIF_FLAG_DIRTY_CPU 1U
#define NIFHOST_NIF_FLAG_DIRTY_IO 2U

typedef struct nifhost_nif_function_metadata {
  const char* name;   /* Erlang function name */
  unsigned arity;     /* 0..255 */
  const char* symbol; /* exported C symbol implementing it */
  unsigned flags;     /* 0 or one NIFHOST_NIF_FLAG_* */
} nifhost_nif_function_metadata;

typedef struct nifhost_nif_metadata {
  uint32_t magic;          /* NIFHOST_NIF_METADATA_MAGIC */
  uint32_t abi_version;    /* NIFHOST_NIF_METADATA_ABI_VERSION at build time */
  uint32_t struct_size;    /* sizeof(nifhost_nif_metadata) at build time */
  uint32_t function_count; /* entries in `functions` */
  const char* module_name; /* the Erlang module the functions belong to */
  const char* module_version;
  const nifhost_nif_function_metadata* functions;
} nifhost_nif_metadata;

/* Type of the exported nif_get_metadata. It must return the same table
 * (with static storage duration) on every call. */
typedef const nifhost_nif_metadata* (*nifhost_nif_get_metadata_fn)(void);

#if defined(__GNUC__)
#define NIFHOST_NIF_EXPORT __attribute__((visibility("default")))
#else
#define NIFHOST_NIF_EXPORT
#endif

#ifdef __cplusplus
#define NIFHOST_NIF_EXTERN_C extern "C"
#define NIFHOST_NIF_U32(x) static_cast<uint32_t>(x)
#else
#define NIFHOST_NIF_EXTERN_C
#define NIFHOST_NIF_U32(x) ((uint32_t)(x))
#endif

/* Defines and exports nif_get_metadata for a module whose functions are
 * listed in the array FUNCTIONS (an array, not a pointer). */
#define NIFHOST_NIF_METADATA_DEFINE(MODULE_NAME, MODULE_VERSION, FUNCTIONS)                    \
  NIFHOST_NIF_EXTERN_C NIFHOST_NIF_EXPORT const nifhost_nif_metadata* nif_get_metadata(void);  \
  NIFHOST_NIF_EXTERN_C NIFHOST_NIF_EXPORT const nifhost_nif_metadata* nif_get_metadata(void) { \
    static const nifhost_nif_metadata metadata = {                                             \
        NIFHOST_NIF_METADATA_MAGIC,                                                            \
        NIFHOST_NIF_METADATA_ABI_VERSION,                                                      \
        NIFHOST_NIF_U32(sizeof(nifhost_nif_metadata)),                                         \
        NIFHOST_NIF_U32(sizeof(FUNCTIONS) / sizeof((FUNCTIONS)[0])),                           \
        (MODULE_NAME),                                                                         \
        (MODULE_VERSION),                                                                      \
        (FUNCTIONS),                                                                           \
    };                                                                                         \
    return &metadata;                                                                          \
  }

#ifdef __cplusplus
}
#endif

#endif /* NIFHOST_NIF_METADATA_H */
