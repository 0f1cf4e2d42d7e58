/* nh_no_init: a shared library that exports no nif_init (and no
 * nif_get_metadata), only an unrelated symbol. Loading it as a NIF library
 * must fail cleanly; the BEAM answers {error, {bad_lib, "Failed to find
 * library init function: ..."}}.
 */
__attribute__((visibility("default"))) int nh_no_init_marker(void);

__attribute__((visibility("default"))) int nh_no_init_marker(void) { return 1; }
