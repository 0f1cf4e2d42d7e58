#pragma once
// nifhost/process/socket_channel.hpp — the `process` backend's channel: Unix stream sockets.
//
// The control lane is the socketpair the worker inherits as a known
// descriptor; every call lane is a socketpair of its own whose worker end
// travels to the worker in an OPEN_LANE frame (SCM_RIGHTS). One socket per
// lane means the caller that sent a request is the only reader of its reply:
// a round trip is two writes and two reads, with no hand-off between threads.
//
//   SocketChannelFactory factory;
//   auto channel = factory.create({}).value();   // then spawn with channel->launch()
#include <map>
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "nifhost/process/channel.hpp"

namespace nifhost::process {

class SocketChannelFactory final : public ChannelFactory {
 public:
  const char* name() const override { return "socket"; }
  tl::expected<std::unique_ptr<HostChannel>, ChannelError> create(
      const ChannelLimits& limits) override;
};

// The worker's end, from its command-line options (--control-fd N).
tl::expected<std::unique_ptr<WorkerChannel>, std::string> attach_socket_channel(
    const std::map<std::string, std::string>& options, const ChannelLimits& limits);

// One lane over a connected stream socket, which it owns (closes). accept_fds:
// descriptors sent with SCM_RIGHTS are kept (the worker's control lane);
// otherwise the kernel discards them. Exposed for tests.
std::unique_ptr<Lane> make_socket_lane(int fd, std::uint32_t id, const ChannelLimits& limits,
                                       bool accept_fds = false);

}  // namespace nifhost::process
