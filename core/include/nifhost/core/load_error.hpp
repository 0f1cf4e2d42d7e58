#pragma once
// nifhost/core/load_error.hpp — why a NIF library did not load, in the BEAM's terms.
//
//   tl::expected<LibraryHandle, LoadError> r = backend.load(spec);
//   if (!r) std::cerr << r.error().message() << '\n';   // "bad_lib: ..."
#include <string>

namespace nifhost::core {

// The reasons erlang:load_nif/2 returns ({error, {Reason, Text}}), plus the
// handle errors a backend adds.
enum class LoadErrc {
  kLoadFailed,   // load_failed: file missing, not a shared object, dlopen failed
  kBadLib,       // bad_lib: no init function, bad entry (version, variant, name, functions)
  kLoad,         // load: the load callback returned non-zero
  kReload,       // reload: already loaded (and no upgrade asked for)
  kUpgrade,      // upgrade: the upgrade callback returned non-zero
  kOldCode,      // old_code: an older version is still in use
  kNotLoaded,    // no such library (unknown or stale handle)
  kNoFunction,   // no function with that name/arity
  kWorker,       // an isolated backend's worker could not be started or died while loading
  kUnavailable,  // the backend is not available on this machine
  kBadArg,       // badarg: the request itself is malformed (e.g. load info that is not ETF)
};

const char* load_errc_name(LoadErrc code);  // the BEAM's atom text, e.g. "bad_lib"

struct LoadError {
  LoadErrc code;
  std::string text;  // what and why, e.g. "Library version (3.0) not compatible (with 2.16)."
  std::string message() const { return std::string(load_errc_name(code)) + ": " + text; }
};

}  // namespace nifhost::core
