// The shm channel: a socket control lane and call lanes made of rings in a
// shared segment.
#include "nifhost/shm/shm_channel.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "nifhost/process/protocol.hpp"
#include "nifhost/process/socket_channel.hpp"
#include "nifhost/shm/ring.hpp"

namespace nifhost::shm {

namespace {

using process::ChannelErrc;
using process::ChannelError;
using process::Deadline;
using process::Frame;
using process::Lane;

ChannelError io_error(std::string text) { return ChannelError{ChannelErrc::kIo, std::move(text)}; }

class ShmLane final : public Lane {
 public:
  ShmLane(std::shared_ptr<Mapping> mapping, std::uint32_t id, const Geometry& g, Side side,
          const WaitPolicy& policy, std::size_t max_frame)
      : id_(id),
        region_(lane_region(mapping->data(), g)),
        out_(side == Side::kHost ? region_.control->to_worker : region_.control->to_host,
             {side == Side::kHost ? region_.ring_to_worker : region_.ring_to_host, g.ring_bytes},
             {side == Side::kHost ? region_.data_to_worker : region_.data_to_host,
              static_cast<std::size_t>(g.data_bytes)},
             g, policy),
        in_(side == Side::kHost ? region_.control->to_host : region_.control->to_worker,
            {side == Side::kHost ? region_.ring_to_host : region_.ring_to_worker, g.ring_bytes},
            {side == Side::kHost ? region_.data_to_host : region_.data_to_worker,
             static_cast<std::size_t>(g.data_bytes)},
            g, policy, max_frame, side == Side::kHost ? DataMode::kCopy : DataMode::kLease,
            mapping),
        mapping_(std::move(mapping)) {}

  ~ShmLane() override { out_.close(); }

  std::uint32_t id() const override { return id_; }
  // Call lanes are read by the thread that waits for them, never from a poll
  // loop: there is no descriptor to poll.
  int poll_fd() const override { return -1; }

  tl::expected<void, ChannelError> send(std::span<const std::uint8_t> frame,
                                        Deadline deadline) override {
    std::lock_guard lock(send_mutex_);
    if (shut_.load(std::memory_order_acquire))
      return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the lane was shut down"});
    return out_.write(frame, deadline, shut_);
  }

  tl::expected<void, ChannelError> send_parts(std::span<const std::span<const std::uint8_t>> parts,
                                              Deadline deadline) override {
    std::lock_guard lock(send_mutex_);
    if (shut_.load(std::memory_order_acquire))
      return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the lane was shut down"});
    return out_.write(parts, deadline, shut_);
  }

  tl::expected<Frame, ChannelError> receive(Deadline deadline) override {
    if (shut_.load(std::memory_order_acquire))
      return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the lane was shut down"});
    return in_.read(deadline, shut_);
  }

  void shut_down() override {
    shut_.store(true, std::memory_order_release);
    // Bump the bells this side's own threads may sleep on; the private flag
    // is what they act on.
    in_.wake();
    out_.wake();
  }

 private:
  const std::uint32_t id_;
  LaneRegion region_;
  std::atomic<bool> shut_{false};
  std::mutex send_mutex_;
  RingWriter out_;  // guarded by send_mutex_
  RingReader in_;   // one receiving thread at a time
  std::shared_ptr<Mapping> mapping_;
};

// ---------------------------------------------------------------- host

class ShmHostChannel final : public process::HostChannel {
 public:
  ShmHostChannel(int host_end, int worker_end, Segment segment, const ShmOptions& options,
                 const process::ChannelLimits& limits)
      : control_(process::make_socket_lane(host_end, process::kControlLane, limits)),
        worker_end_(worker_end),
        segment_(std::move(segment)),
        options_(options),
        limits_(limits) {}

  ~ShmHostChannel() override {
    if (worker_end_ >= 0) ::close(worker_end_);
  }

  Lane& control() override { return *control_; }

  tl::expected<std::unique_ptr<Lane>, ChannelError> open_lane(std::uint32_t id) override {
    const Geometry& g = options_.geometry;
    if (id == 0 || id > g.max_lanes)
      return tl::unexpected(
          io_error(fmt::format("lane {}: the segment has room for lanes 1..{}", id, g.max_lanes)));
    auto mapping = segment_.map(g.lane_offset(id), g.lane_stride());
    if (!mapping) return tl::unexpected(io_error(fmt::format("lane {}: {}", id, mapping.error())));
    auto lane = make_shm_lane(std::move(*mapping), id, g, Side::kHost, options_.host_wait,
                              limits_.max_frame_bytes);
    std::vector<std::uint8_t> buffer;
    process::FrameWriter w(buffer, process::MessageKind::kOpenLane, id, 0);
    if (auto sent = control_->send(w.finish(), Deadline::never()); !sent)
      return tl::unexpected(sent.error());
    return lane;
  }

  process::WorkerLaunch launch() const override {
    const Geometry& g = options_.geometry;
    return process::WorkerLaunch{
        {"--channel", "shm", "--control-fd", "3", "--shm-fd", "4", "--shm-ring",
         std::to_string(g.ring_bytes), "--shm-data", std::to_string(g.data_bytes), "--shm-lanes",
         std::to_string(g.max_lanes), "--shm-spin-ns",
         std::to_string(options_.worker_wait.spin.count()), "--shm-spin-alone-ns",
         std::to_string(options_.worker_wait.spin_alone.count()), "--shm-slice-ns",
         std::to_string(options_.worker_wait.slice.count())},
        {{worker_end_, 3}, {segment_.fd(), 4}}};
  }

  void launched() override {
    if (worker_end_ >= 0) ::close(worker_end_);
    worker_end_ = -1;
  }

  void shut_down() override { control_->shut_down(); }

 private:
  std::unique_ptr<Lane> control_;
  int worker_end_;
  Segment segment_;
  ShmOptions options_;
  process::ChannelLimits limits_;
};

// ---------------------------------------------------------------- worker

class ShmWorkerChannel final : public process::WorkerChannel {
 public:
  ShmWorkerChannel(int control_fd, Segment segment, const ShmOptions& options,
                   const process::ChannelLimits& limits)
      : control_(process::make_socket_lane(control_fd, process::kControlLane, limits)),
        segment_(std::move(segment)),
        options_(options),
        limits_(limits) {}

  Lane& control() override { return *control_; }

  tl::expected<std::unique_ptr<Lane>, ChannelError> accept_lane(std::uint32_t id) override {
    const Geometry& g = options_.geometry;
    if (id == 0 || id > g.max_lanes)
      return tl::unexpected(
          ChannelError{ChannelErrc::kProtocol,
                       fmt::format("lane {} is outside the segment (1..{})", id, g.max_lanes)});
    auto mapping = segment_.map(g.lane_offset(id), g.lane_stride());
    if (!mapping) return tl::unexpected(io_error(fmt::format("lane {}: {}", id, mapping.error())));
    return make_shm_lane(std::move(*mapping), id, g, Side::kWorker, options_.worker_wait,
                         limits_.max_frame_bytes);
  }

 private:
  std::unique_ptr<Lane> control_;
  Segment segment_;
  ShmOptions options_;
  process::ChannelLimits limits_;
};

std::optional<std::uint64_t> number(const std::map<std::string, std::string>& o,
                                    const std::string& key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  try {
    std::size_t used = 0;
    unsigned long long v = std::stoull(it->second, &used);
    if (used != it->second.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::unique_ptr<Lane> make_shm_lane(std::shared_ptr<Mapping> region, std::uint32_t id,
                                    const Geometry& geometry, Side side, const WaitPolicy& policy,
                                    std::size_t max_frame_bytes) {
  return std::make_unique<ShmLane>(std::move(region), id, geometry, side, policy, max_frame_bytes);
}

tl::expected<std::unique_ptr<process::HostChannel>, ChannelError> ShmChannelFactory::create(
    const process::ChannelLimits& limits) {
  const Geometry& g = options_.geometry;
  if (std::string bad = g.check(); !bad.empty()) return tl::unexpected(io_error(bad));
  auto segment = Segment::create(kSegmentName, g.segment_bytes());
  if (!segment) return tl::unexpected(io_error(segment.error()));
  {
    auto header = segment->map(0, kPageBytes);
    if (!header) return tl::unexpected(io_error(header.error()));
    SegmentHeader h{kSegmentMagic, kLayoutVersion, g.max_lanes, g.ring_bytes, g.data_bytes};
    std::memcpy((*header)->data(), &h, sizeof h);
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return tl::unexpected(io_error(fmt::format("socketpair: {}", std::strerror(errno))));
  return std::make_unique<ShmHostChannel>(sv[0], sv[1], std::move(*segment), options_, limits);
}

tl::expected<std::unique_ptr<process::WorkerChannel>, std::string> attach_shm_channel(
    const std::map<std::string, std::string>& options, const process::ChannelLimits& limits) {
  auto control = number(options, "control-fd");
  auto shm_fd = number(options, "shm-fd");
  auto ring = number(options, "shm-ring");
  auto data = number(options, "shm-data");
  auto lanes = number(options, "shm-lanes");
  if (!control || !shm_fd || !ring || !data || !lanes || *control > INT32_MAX ||
      *shm_fd > INT32_MAX || *ring > UINT32_MAX || *lanes > UINT32_MAX)
    return tl::unexpected(std::string(
        "--control-fd, --shm-fd, --shm-ring, --shm-data and --shm-lanes must be numbers"));
  int cfd = static_cast<int>(*control);
  int type = 0;
  socklen_t len = sizeof type;
  if (::fcntl(cfd, F_GETFD) < 0 || ::getsockopt(cfd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_STREAM)
    return tl::unexpected(fmt::format("--control-fd {} is not a stream socket", cfd));
  ::fcntl(cfd, F_SETFD, FD_CLOEXEC);

  ShmOptions o;
  o.geometry =
      Geometry{static_cast<std::uint32_t>(*ring), *data, static_cast<std::uint32_t>(*lanes)};
  if (std::string bad = o.geometry.check(); !bad.empty()) return tl::unexpected(bad);
  o.worker_wait.spin = std::chrono::nanoseconds(
      static_cast<std::int64_t>(number(options, "shm-spin-ns").value_or(50'000)));
  o.worker_wait.spin_alone = std::chrono::nanoseconds(
      static_cast<std::int64_t>(number(options, "shm-spin-alone-ns").value_or(3'000)));
  o.worker_wait.slice = std::chrono::nanoseconds(
      static_cast<std::int64_t>(number(options, "shm-slice-ns").value_or(1'000'000'000)));
  auto segment = Segment::adopt(static_cast<int>(*shm_fd), o.geometry.segment_bytes());
  if (!segment) return tl::unexpected(segment.error());
  auto header = segment->map(0, kPageBytes);
  if (!header) return tl::unexpected(header.error());
  SegmentHeader h;
  std::memcpy(&h, (*header)->data(), sizeof h);
  if (h.magic != kSegmentMagic || h.version != kLayoutVersion || h.max_lanes != *lanes ||
      h.ring_bytes != *ring || h.data_bytes != *data)
    return tl::unexpected(std::string("the segment header does not match the command line"));
  return std::make_unique<ShmWorkerChannel>(cfd, std::move(*segment), o, limits);
}

}  // namespace nifhost::shm
