#pragma once
// nifhost/process/channel.hpp — what carries frames between a host and a worker.
//
// The isolated backends share everything except this: a Channel is a control
// lane plus call lanes, each a bidirectional stream of whole frames that one
// request uses at a time. `process` implements it with sockets
// (socket_channel.hpp), `shm` with rings in a shared segment. The generic
// core (isolated_backend.hpp on the host, worker_server.hpp in the worker)
// only ever talks to these interfaces.
//
//   auto lane = channel.open_lane(1).value();         // host: a new call lane
//   lane->send(frame, Deadline::never()); auto f = lane->receive(deadline);
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/offheap.hpp"
#include "nifhost/process/protocol.hpp"

namespace nifhost::process {

using Clock = std::chrono::steady_clock;

// When a blocking send or receive gives up. `budget` is the duration the
// deadline was made from; a lane may use it to avoid re-arming a timer that
// already has (about) that value.
struct Deadline {
  Clock::time_point at = Clock::time_point::max();
  std::chrono::nanoseconds budget{0};
  static Deadline never() { return {}; }
  // Zero or negative: never.
  static Deadline after(std::chrono::nanoseconds d) {
    if (d <= std::chrono::nanoseconds::zero()) return never();
    return {Clock::now() + d, d};
  }
  // Do not block: take what is already there.
  static Deadline immediate() { return {Clock::time_point::min(), std::chrono::nanoseconds(0)}; }
  bool is_never() const { return at == Clock::time_point::max(); }
  bool is_immediate() const { return at == Clock::time_point::min(); }
};

enum class ChannelErrc {
  kClosed,      // the peer closed its end (or the lane was shut down)
  kTimeout,     // the deadline passed
  kWouldBlock,  // Deadline::immediate() and nothing (complete) to read
  kProtocol,    // bytes that are not a valid frame header, or a frame over the limit
  kIo,          // any other system error (the text says which)
};
const char* channel_errc_name(ChannelErrc code);

struct ChannelError {
  ChannelErrc code;
  std::string text;
};

// A received frame. The payload stays valid until the next receive on the
// same lane; if `owner` is set, the payload lives in that refcounted object and
// decoded binaries may share it (DecodeOptions::input_owner).
struct Frame {
  FrameHeader header;
  std::span<const std::uint8_t> payload;
  core::OffHeapObject* owner = nullptr;
};

class Lane {
 public:
  virtual ~Lane() = default;
  virtual std::uint32_t id() const = 0;
  // Sends one whole frame. Safe from several threads at once (frames do not
  // interleave); a lane used by one caller at a time pays an uncontended lock.
  virtual tl::expected<void, ChannelError> send(std::span<const std::uint8_t> frame,
                                                Deadline deadline) = 0;
  // Sends one frame given as consecutive pieces (FrameWriter::finish_parts:
  // large binaries are pieces of their own, pointing into the terms). A lane
  // that can gather does so without copying; by default the pieces are
  // joined and sent with send().
  virtual tl::expected<void, ChannelError> send_parts(
      std::span<const std::span<const std::uint8_t>> parts, Deadline deadline);
  // The next whole frame, its header validated by parse_header. One thread at
  // a time. After an error other than kWouldBlock the lane is unusable.
  virtual tl::expected<Frame, ChannelError> receive(Deadline deadline) = 0;
  // A descriptor that polls readable when receive(Deadline::immediate()) may
  // make progress (control lanes are served from a poll loop).
  virtual int poll_fd() const = 0;
  // Wakes any thread blocked in send or receive; they and all later calls
  // fail with kClosed. Safe from any thread, any number of times.
  virtual void shut_down() = 0;
};

// What the worker process must be started with for its end of a channel.
struct WorkerLaunch {
  std::vector<std::string> args;         // appended to the worker's command line
  std::vector<std::pair<int, int>> fds;  // (descriptor here, number in the worker)
};

// The host's end of one worker's channel.
class HostChannel {
 public:
  virtual ~HostChannel() = default;
  virtual Lane& control() = 0;
  // Creates call lane `id` and announces it to the worker (OPEN_LANE on the
  // control lane). Frames may be sent on it at once.
  virtual tl::expected<std::unique_ptr<Lane>, ChannelError> open_lane(std::uint32_t id) = 0;
  virtual WorkerLaunch launch() const = 0;
  // The worker has been started with launch(): release what was meant for it.
  virtual void launched() = 0;
  // The worker is gone: wake everything blocked on the control lane and in
  // open_lane. (The core shuts down the call lanes it holds itself.)
  virtual void shut_down() = 0;
};

struct ChannelLimits {
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
};

// Makes host channels: one kind per isolated backend.
class ChannelFactory {
 public:
  virtual ~ChannelFactory() = default;
  virtual const char* name() const = 0;  // what the worker's --channel option says
  virtual tl::expected<std::unique_ptr<HostChannel>, ChannelError> create(
      const ChannelLimits& limits) = 0;
};

// The worker's end of its channel.
class WorkerChannel {
 public:
  virtual ~WorkerChannel() = default;
  virtual Lane& control() = 0;
  // The call lane an OPEN_LANE frame just received on the control lane announced.
  virtual tl::expected<std::unique_ptr<Lane>, ChannelError> accept_lane(std::uint32_t id) = 0;
};

}  // namespace nifhost::process
