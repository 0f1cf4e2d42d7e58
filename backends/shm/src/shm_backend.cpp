// The `shm` backend: the isolated core with the shm channel.
#include "nifhost/shm/shm_backend.hpp"

#include <utility>

namespace nifhost::shm {

tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_shm_backend(
    core::HostServices& host) {
  return make_shm_backend(host, process::IsolatedConfig{});
}

tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_shm_backend(
    core::HostServices& host, process::IsolatedConfig config, ShmOptions options) {
  if (config.worker_path.empty()) {
    auto found = process::locate_worker();
    if (!found)
      return tl::make_unexpected(core::LoadError{core::LoadErrc::kUnavailable, found.error()});
    config.worker_path = *found;
  }
  options.geometry.max_lanes = config.max_lanes;
  if (std::string bad = options.geometry.check(); !bad.empty())
    return tl::make_unexpected(
        core::LoadError{core::LoadErrc::kUnavailable, "shm segment layout: " + bad});
  return std::make_unique<process::IsolatedBackend>(core::BackendKind::kShm, host,
                                                    std::make_unique<ShmChannelFactory>(options),
                                                    std::move(config));
}

}  // namespace nifhost::shm
