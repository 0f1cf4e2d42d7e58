#pragma once
// nifhost/shm/shm_backend.hpp — the `shm` backend: NIF libraries in worker
// processes, calls through rings in a shared segment.
//
// The isolated core (nifhost/process/isolated_backend.hpp: workers, lanes,
// restarts, deadlines, handles, host requests) with the shm channel
// (shm_channel.hpp). The selector (nifhost/backends/select.hpp) makes it with
// the default configuration; embedders, tests and benchmarks may pass their own.
//
//   auto backend = nifhost::shm::make_shm_backend(vm).value();
//   auto lib = backend->load({.path = "nifs/nh_terms.so"});
#include <memory>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/process/isolated_backend.hpp"
#include "nifhost/shm/shm_channel.hpp"

namespace nifhost::shm {

// kUnavailable if no worker executable is found (the text says where it looked).
tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_shm_backend(
    core::HostServices& host);
// The segment has room for config.max_lanes lanes (options.geometry.max_lanes
// is set from it).
tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_shm_backend(
    core::HostServices& host, process::IsolatedConfig config, ShmOptions options = {});

}  // namespace nifhost::shm
