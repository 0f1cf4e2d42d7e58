// Names of backend kinds and load errors (backend.hpp, load_error.hpp).
#include "nifhost/core/backend.hpp"

#include <cassert>

namespace nifhost::core {

const char* backend_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kInproc:
      return "inproc";
    case BackendKind::kProcess:
      return "process";
    case BackendKind::kShm:
      return "shm";
  }
  assert(false && "unknown BackendKind");
  return "unknown";
}

std::optional<BackendKind> parse_backend_kind(std::string_view name) {
  for (BackendKind kind : {BackendKind::kInproc, BackendKind::kProcess, BackendKind::kShm})
    if (name == backend_name(kind)) return kind;
  return std::nullopt;
}

const char* load_errc_name(LoadErrc code) {
  switch (code) {
    case LoadErrc::kLoadFailed:
      return "load_failed";
    case LoadErrc::kBadLib:
      return "bad_lib";
    case LoadErrc::kLoad:
      return "load";
    case LoadErrc::kReload:
      return "reload";
    case LoadErrc::kUpgrade:
      return "upgrade";
    case LoadErrc::kOldCode:
      return "old_code";
    case LoadErrc::kNotLoaded:
      return "not_loaded";
    case LoadErrc::kNoFunction:
      return "no_function";
    case LoadErrc::kWorker:
      return "worker";
    case LoadErrc::kUnavailable:
      return "unavailable";
    case LoadErrc::kBadArg:
      return "badarg";
  }
  assert(false && "unknown LoadErrc");
  return "unknown";
}

}  // namespace nifhost::core
