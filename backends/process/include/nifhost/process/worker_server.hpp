#pragma once
// nifhost/process/worker_server.hpp — the worker side of the isolated backends.
//
// A worker process serves one channel: its control thread reads the control
// lane (new lanes, host replies to requests from NIF-created threads, resource
// releases, monitor downs), and one thread per call lane reads requests (load,
// upgrade, unload, call, ping) and runs them with the loader and run_nif, so
// yielding and dirty NIFs complete inside the worker. HostServices calls a NIF
// makes go back to the host on the lane of the call they belong to, or on the
// control lane from threads that serve no call. Resources stay here; the host
// gets handles (ids in this worker's handle table) and releases them.
//
//   static constexpr ChannelKind kChannels[] = {{"socket", &attach_socket_channel}};
//   int main(int argc, char** argv) { return worker_main(argc, argv, kChannels); }
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include <tl/expected.hpp>

#include "nifhost/process/channel.hpp"

namespace nifhost::process {

struct WorkerOptions {
  std::uint64_t domain = 0;      // the host's number for this worker (in handle words)
  std::uint64_t generation = 0;  // which incarnation of it this process is
  ChannelLimits limits;
};

// Serves `channel` until the host closes the control lane. Returns the exit
// status for the process (0 when the host went away, non-zero when it broke
// the protocol); the caller should _exit with it, as NIF threads may still run.
int run_worker(WorkerChannel& channel, const WorkerOptions& options);

// How the worker attaches to its end of one kind of channel.
using AttachChannel = tl::expected<std::unique_ptr<WorkerChannel>, std::string> (*)(
    const std::map<std::string, std::string>& options, const ChannelLimits& limits);
struct ChannelKind {
  const char* name;  // the value of --channel
  AttachChannel attach;
};

// The worker executable's main: reads the options the host starts it with
// (--channel, --parent-pid, --domain, --generation, --max-frame,
// --address-space, --cpu-seconds, --core-dumps, --keep-fds, and the channel's
// own), makes sure it dies with its parent, closes inherited descriptors,
// applies the resource limits, attaches the channel and serves it.
int worker_main(int argc, char** argv, std::span<const ChannelKind> channels);

}  // namespace nifhost::process
