#pragma once
// nifhost/process/process_backend.hpp — the `process` backend: NIF libraries in
// worker processes, frames over Unix sockets.
//
// The isolated core (isolated_backend.hpp) with the socket channel
// (socket_channel.hpp). The selector (nifhost/backends/select.hpp) makes it
// with the default configuration; embedders and tests may pass their own.
//
//   auto backend = nifhost::process::make_process_backend(vm).value();
//   auto lib = backend->load({.path = "nifs/nh_faults.so", .call_deadline = 200ms});
#include <memory>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/process/isolated_backend.hpp"

namespace nifhost::process {

// kUnavailable if no worker executable is found (the text says where it looked).
tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_process_backend(
    core::HostServices& host);
tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_process_backend(
    core::HostServices& host, IsolatedConfig config);

}  // namespace nifhost::process
