#include "nifhost/backends/select.hpp"

#include <span>

#include <fmt/format.h>

#include "nifhost/inproc/inproc_backend.hpp"
#include "nifhost/process/process_backend.hpp"
#include "nifhost/shm/shm_backend.hpp"

namespace nifhost::backends {

namespace {

using Factory = tl::expected<std::unique_ptr<Backend>, LoadError> (*)(HostServices&);

struct Entry {
  BackendKind kind;
  Factory make;  // nullptr: not built into this program
};

// One line per backend. A kind without a factory is reported unavailable.
constexpr Entry kBackends[] = {
    {BackendKind::kInproc, &inproc::make_inproc_backend},
    {BackendKind::kProcess, &process::make_process_backend},
    {BackendKind::kShm, &shm::make_shm_backend},
};

const Entry& entry_for(BackendKind kind) {
  for (const Entry& e : kBackends)
    if (e.kind == kind) return e;
  // Every BackendKind has a row above.
  return kBackends[0];
}

std::string unavailable_reason(BackendKind kind) {
  return fmt::format("the {} backend is not built into this program", core::backend_name(kind));
}

}  // namespace

tl::expected<std::unique_ptr<Backend>, LoadError> make_backend(BackendKind kind,
                                                               HostServices& host) {
  const Entry& e = entry_for(kind);
  if (e.kind != kind || e.make == nullptr)
    return tl::make_unexpected(LoadError{core::LoadErrc::kUnavailable, unavailable_reason(kind)});
  return e.make(host);
}

std::vector<BackendAvailability> backend_catalog() {
  std::vector<BackendAvailability> out;
  for (const Entry& e : kBackends)
    out.push_back({e.kind, core::backend_name(e.kind), e.make != nullptr,
                   e.make != nullptr ? std::string() : unavailable_reason(e.kind)});
  return out;
}

std::vector<BackendKind> available_backends() {
  std::vector<BackendKind> out;
  for (const Entry& e : kBackends)
    if (e.make != nullptr) out.push_back(e.kind);
  return out;
}

}  // namespace nifhost::backends
