#pragma once
// nifhost/backends/select.hpp — creates a backend by kind, and says which kinds exist here.
//
// The one place that knows every backend: a VM names the kind it wants (from a
// flag or NIFHOST_BACKEND) and gets the Backend interface, or a typed error
// saying why that kind cannot run on this machine.
//
//   auto backend = nifhost::backends::make_backend(BackendKind::kInproc, vm);  // expected<...>
//   for (auto& b : nifhost::backends::backend_catalog()) std::cout << b.name << '\n';
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"

namespace nifhost::backends {

using core::Backend;
using core::BackendKind;
using core::HostServices;
using core::LoadError;

// Creates a backend of `kind` serving `host` (which must outlive it).
// kUnavailable if that kind is not built into this program or cannot run here.
tl::expected<std::unique_ptr<Backend>, LoadError> make_backend(BackendKind kind,
                                                               HostServices& host);

struct BackendAvailability {
  BackendKind kind;
  const char* name;  // "inproc", "process", "shm"
  bool available;
  std::string why;  // for an unavailable kind: the reason
};
// Every kind, available or not, in a fixed order (inproc, process, shm).
std::vector<BackendAvailability> backend_catalog();
// The kinds make_backend can create here.
std::vector<BackendKind> available_backends();

}  // namespace nifhost::backends
