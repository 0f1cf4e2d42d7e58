#pragma once
// nifhost/shm/shm_channel.hpp — the `shm` backend's channel: each call lane
// is a pair of rings (one per direction) with their data areas in a segment
// shared with the worker; the control lane stays a socket.
//
// The control lane carries what is rare (HELLO, OPEN_LANE, releases, sends from
// NIF threads) and must be pollable by the host's control thread; a socket
// does that and tells each side when the other is gone. The call lanes carry
// every call and are where the time goes: no system call on the way when
// both sides are spinning, one FUTEX_WAKE when the peer sleeps.
//
//   auto backend = IsolatedBackend(BackendKind::kShm, vm, std::make_unique<ShmChannelFactory>(),
//   {});
//   // worker: static constexpr ChannelKind kChannels[] = {{"shm", &attach_shm_channel}};
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "nifhost/process/channel.hpp"
#include "nifhost/shm/layout.hpp"
#include "nifhost/shm/segment.hpp"
#include "nifhost/shm/wait.hpp"

namespace nifhost::shm {

struct ShmOptions {
  Geometry geometry;
  // How a caller waits for its answer, and how a worker's lane thread waits
  // for the next request (it spins after each answer, ready for the next).
  WaitPolicy host_wait;
  WaitPolicy worker_wait;
};

class ShmChannelFactory final : public process::ChannelFactory {
 public:
  explicit ShmChannelFactory(ShmOptions options = {}) : options_(options) {}
  const char* name() const override { return "shm"; }
  tl::expected<std::unique_ptr<process::HostChannel>, process::ChannelError> create(
      const process::ChannelLimits& limits) override;

 private:
  ShmOptions options_;
};

// The worker's end, from its command-line options (--control-fd, --shm-fd,
// --shm-ring, --shm-data, --shm-lanes, --shm-spin-ns, --shm-spin-alone-ns, --shm-slice-ns).
tl::expected<std::unique_ptr<process::WorkerChannel>, std::string> attach_shm_channel(
    const std::map<std::string, std::string>& options, const process::ChannelLimits& limits);

// Which end of a lane.
enum class Side { kHost, kWorker };

// One call lane over a mapping of its region (Geometry::lane_stride() bytes).
// The host's end copies data-area frames out; the worker's decodes them in
// place. Exposed for tests and benchmarks.
std::unique_ptr<process::Lane> make_shm_lane(std::shared_ptr<Mapping> region, std::uint32_t id,
                                             const Geometry& geometry, Side side,
                                             const WaitPolicy& policy, std::size_t max_frame_bytes);

}  // namespace nifhost::shm
