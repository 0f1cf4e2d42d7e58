// The socket channel: frames over Unix stream sockets, one socket per lane.
#include "nifhost/process/socket_channel.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

#include "fd.hpp"
#include "nifhost/core/offheap.hpp"

namespace nifhost::process {

namespace {

using std::chrono::nanoseconds;

// Frames up to this size (header included) are read into the lane's own
// buffer and decoded by copying; larger ones get a refcounted buffer of their
// own that decoded binaries share.
constexpr std::size_t kLaneBufferBytes = std::size_t{64} << 10;
// A large frame's buffer is allocated whole up to this size (its pages are
// only touched as bytes arrive), and beyond it doubles as bytes arrive, so a
// peer that claims a huge payload and sends little costs little. Growing by
// realloc may copy, so frames up to this size never grow.
constexpr std::size_t kLargeInitialBytes = std::size_t{64} << 20;
// A large frame's buffer that nothing refers to any more (no decoded binary
// kept it) is kept for the next large frame, up to this size: fresh pages
// cost more than the copy into them.
constexpr std::size_t kRetainBytes = std::size_t{32} << 20;
// A socket timeout this much longer than needed is left as it is (the clock is
// checked when it fires); re-arming it would cost a system call per call.
constexpr nanoseconds kTimeoutSlack = std::chrono::milliseconds(2);
constexpr int kMaxFdsPerRead = 8;

ChannelError sys_error(const char* what, int err) {
  return ChannelError{ChannelErrc::kIo, fmt::format("{}: {}", what, std::strerror(err))};
}

class SocketLane final : public Lane {
 public:
  SocketLane(int fd, std::uint32_t id, std::size_t max_frame, bool accept_fds)
      : fd_(fd),
        id_(id),
        max_frame_(max_frame),
        accept_fds_(accept_fds),
        buf_(new std::uint8_t[kLaneBufferBytes]) {}

  ~SocketLane() override {
    if (delivered_ != nullptr) delivered_->release();
    if (pending_ != nullptr) pending_->release();
    if (spare_ != nullptr) spare_->release();
    for (int fd : fds_) ::close(fd);
  }

  std::uint32_t id() const override { return id_; }
  int poll_fd() const override { return fd_.get(); }

  void shut_down() override {
    shut_.store(true, std::memory_order_release);
    ::shutdown(fd_.get(), SHUT_RDWR);
  }

  tl::expected<void, ChannelError> send(std::span<const std::uint8_t> frame,
                                        Deadline deadline) override {
    iovec iov{const_cast<std::uint8_t*>(frame.data()), frame.size()};
    return send_iov(&iov, 1, -1, deadline);
  }

  tl::expected<void, ChannelError> send_parts(std::span<const std::span<const std::uint8_t>> parts,
                                              Deadline deadline) override {
    constexpr std::size_t kMaxParts = 64;
    if (parts.size() > kMaxParts) return Lane::send_parts(parts, deadline);
    iovec iov[kMaxParts];
    int n = 0;
    for (auto p : parts)
      if (!p.empty()) iov[n++] = iovec{const_cast<std::uint8_t*>(p.data()), p.size()};
    return send_iov(iov, n, -1, deadline);
  }

  tl::expected<void, ChannelError> send_with_fd(std::span<const std::uint8_t> frame, int fd) {
    iovec iov{const_cast<std::uint8_t*>(frame.data()), frame.size()};
    return send_iov(&iov, 1, fd, Deadline::never());
  }

  int take_fd() {
    if (fds_.empty()) return -1;
    int fd = fds_.front();
    fds_.pop_front();
    return fd;
  }

  tl::expected<Frame, ChannelError> receive(Deadline deadline) override {
    if (delivered_ != nullptr) {
      // Only this lane holds it (nothing else can take a new reference then).
      if (delivered_->refcount() == 1 && delivered_->size() <= kRetainBytes &&
          (spare_ == nullptr || spare_->size() < delivered_->size())) {
        if (spare_ != nullptr) spare_->release();
        spare_ = delivered_;
      } else {
        delivered_->release();
      }
      delivered_ = nullptr;
    }
    for (;;) {
      if (pending_ != nullptr) {
        std::size_t length = pending_header_.length;
        if (pending_have_ == length) {
          Frame f{pending_header_, {pending_->data(), length}, pending_};
          delivered_ = pending_;
          pending_ = nullptr;
          return f;
        }
        // The buffer may be larger than the frame (a kept one): read no further.
        std::size_t room = std::min(pending_->size(), length);
        if (pending_have_ == room) {
          std::size_t next = std::min<std::size_t>(length, pending_->size() * 2);
          if (!pending_->resize(next))
            return tl::unexpected(
                ChannelError{ChannelErrc::kIo, fmt::format("no memory for a {}-byte frame", next)});
          room = next;
        }
        auto n = read_some(pending_->data() + pending_have_, room - pending_have_, deadline);
        if (!n) return tl::unexpected(n.error());
        pending_have_ += *n;
        continue;
      }
      std::size_t avail = end_ - begin_;
      if (avail >= kFrameHeaderSize) {
        auto h = parse_header({buf_.get() + begin_, avail}, max_frame_);
        if (!h) return tl::unexpected(ChannelError{ChannelErrc::kProtocol, h.error()});
        std::size_t need = kFrameHeaderSize + h->length;
        if (need <= kLaneBufferBytes) {
          if (avail >= need) {
            Frame f{*h, {buf_.get() + begin_ + kFrameHeaderSize, h->length}, nullptr};
            begin_ += need;
            return f;
          }
          if (begin_ + need > kLaneBufferBytes) compact();
        } else {
          std::size_t have = std::min<std::size_t>(avail - kFrameHeaderSize, h->length);
          std::size_t initial =
              std::min<std::size_t>(h->length, std::max(have, kLargeInitialBytes));
          if (spare_ != nullptr && spare_->size() >= std::min(initial, std::size_t{h->length})) {
            pending_ = std::exchange(spare_, nullptr);
          } else {
            pending_ = core::RefcBinary::create(initial);
            if (pending_ == nullptr)
              return tl::unexpected(ChannelError{
                  ChannelErrc::kIo, fmt::format("no memory for a {}-byte frame", initial)});
          }
          if (have != 0)
            std::memcpy(pending_->data(), buf_.get() + begin_ + kFrameHeaderSize, have);
          begin_ += kFrameHeaderSize + have;
          pending_have_ = have;
          pending_header_ = *h;
          continue;
        }
      } else if (begin_ + kFrameHeaderSize > kLaneBufferBytes) {
        compact();
      }
      if (begin_ == end_) begin_ = end_ = 0;
      auto n = read_some(buf_.get() + end_, kLaneBufferBytes - end_, deadline);
      if (!n) return tl::unexpected(n.error());
      end_ += *n;
    }
  }

 private:
  void compact() {
    std::size_t avail = end_ - begin_;
    if (avail != 0 && begin_ != 0) std::memmove(buf_.get(), buf_.get() + begin_, avail);
    begin_ = 0;
    end_ = avail;
  }

  // Sets SO_RCVTIMEO/SO_SNDTIMEO so that a blocking call returns by `deadline`.
  tl::expected<void, ChannelError> arm(int option, Deadline deadline, nanoseconds& current) {
    nanoseconds want{0};  // zero: wait forever
    if (!deadline.is_never()) {
      want = deadline.at - Clock::now();
      if (want <= nanoseconds::zero())
        return tl::unexpected(ChannelError{ChannelErrc::kTimeout, "the deadline passed"});
    }
    if (want == current) return {};
    if (want != nanoseconds::zero() && current != nanoseconds::zero() && current >= want &&
        current - want <= kTimeoutSlack)
      return {};
    auto us = std::chrono::ceil<std::chrono::microseconds>(want).count();
    timeval tv{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
    if (::setsockopt(fd_.get(), SOL_SOCKET, option, &tv, sizeof tv) != 0)
      return tl::unexpected(sys_error("setsockopt", errno));
    current = want;
    return {};
  }

  tl::expected<std::size_t, ChannelError> read_some(std::uint8_t* dst, std::size_t n,
                                                    Deadline deadline) {
    for (;;) {
      if (shut_.load(std::memory_order_acquire))
        return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the lane was shut down"});
      int flags = 0;
      if (deadline.is_immediate()) {
        flags = MSG_DONTWAIT;
      } else if (auto a = arm(SO_RCVTIMEO, deadline, rcv_timeout_); !a) {
        return tl::unexpected(a.error());
      }
      ssize_t r;
      if (accept_fds_) {
        iovec iov{dst, n};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRead)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        r = ::recvmsg(fd_.get(), &msg, flags | MSG_CMSG_CLOEXEC);
        if (r > 0) collect_fds(msg);
      } else {
        r = ::recv(fd_.get(), dst, n, flags);
      }
      if (r > 0) return static_cast<std::size_t>(r);
      if (r == 0)
        return tl::unexpected(
            ChannelError{ChannelErrc::kClosed, shut_.load(std::memory_order_acquire)
                                                   ? "the lane was shut down"
                                                   : "the peer closed the lane"});
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (deadline.is_immediate())
          return tl::unexpected(ChannelError{ChannelErrc::kWouldBlock, "nothing to read"});
        if (!deadline.is_never() && Clock::now() >= deadline.at)
          return tl::unexpected(ChannelError{ChannelErrc::kTimeout, "the deadline passed"});
        continue;
      }
      if (err == ECONNRESET)
        return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the peer reset the lane"});
      return tl::unexpected(sys_error("recv", err));
    }
  }

  void collect_fds(msghdr& msg) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds_.push_back(fd);
      }
    }
  }

  // One frame in `count` pieces; `fd`, if not -1, travels with its first byte.
  tl::expected<void, ChannelError> send_iov(iovec* iov, int count, int fd, Deadline deadline) {
    std::lock_guard lock(send_mutex_);
    bool first = true;
    while (count > 0) {
      if (shut_.load(std::memory_order_acquire))
        return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the lane was shut down"});
      if (auto a = arm(SO_SNDTIMEO, deadline, snd_timeout_); !a) return tl::unexpected(a.error());
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(count);
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      if (fd >= 0 && first) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
      }
      // MSG_NOSIGNAL: a dead peer is an error value, never SIGPIPE.
      ssize_t r = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
      if (r >= 0) {
        first = false;
        auto done = static_cast<std::size_t>(r);
        while (count > 0 && done >= iov->iov_len) {
          done -= iov->iov_len;
          ++iov;
          --count;
        }
        if (count > 0) {
          iov->iov_base = static_cast<std::uint8_t*>(iov->iov_base) + done;
          iov->iov_len -= done;
        }
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (!deadline.is_never() && Clock::now() >= deadline.at)
          return tl::unexpected(ChannelError{ChannelErrc::kTimeout, "the deadline passed"});
        continue;
      }
      if (err == EPIPE || err == ECONNRESET)
        return tl::unexpected(ChannelError{ChannelErrc::kClosed, "the peer closed the lane"});
      return tl::unexpected(sys_error("sendmsg", err));
    }
    return {};
  }

  UniqueFd fd_;
  const std::uint32_t id_;
  const std::size_t max_frame_;
  const bool accept_fds_;
  std::atomic<bool> shut_{false};

  std::mutex send_mutex_;
  nanoseconds snd_timeout_{0};  // guarded by send_mutex_

  // Receiving side (one thread at a time).
  std::unique_ptr<std::uint8_t[]> buf_;
  std::size_t begin_ = 0, end_ = 0;
  core::RefcBinary* pending_ = nullptr;  // a large frame being read
  std::size_t pending_have_ = 0;
  FrameHeader pending_header_{};
  core::RefcBinary* delivered_ = nullptr;  // the last large frame returned
  core::RefcBinary* spare_ = nullptr;      // a large frame's buffer, free for the next one
  nanoseconds rcv_timeout_{0};
  std::deque<int> fds_;
};

class SocketHostChannel final : public HostChannel {
 public:
  SocketHostChannel(int host_end, int worker_end, const ChannelLimits& limits)
      : control_(host_end, kControlLane, limits.max_frame_bytes, false),
        worker_end_(worker_end),
        limits_(limits) {}

  Lane& control() override { return control_; }

  tl::expected<std::unique_ptr<Lane>, ChannelError> open_lane(std::uint32_t id) override {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return tl::unexpected(sys_error("socketpair", errno));
    UniqueFd mine(sv[0]);
    UniqueFd theirs(sv[1]);
    std::vector<std::uint8_t> buffer;
    FrameWriter w(buffer, MessageKind::kOpenLane, id, 0);
    auto sent = control_.send_with_fd(w.finish(), theirs.get());
    if (!sent) return tl::unexpected(sent.error());
    return std::make_unique<SocketLane>(mine.release(), id, limits_.max_frame_bytes, false);
  }

  WorkerLaunch launch() const override {
    return WorkerLaunch{{"--channel", "socket", "--control-fd", "3"}, {{worker_end_.get(), 3}}};
  }
  void launched() override { worker_end_.reset(); }
  void shut_down() override { control_.shut_down(); }

 private:
  SocketLane control_;
  UniqueFd worker_end_;
  ChannelLimits limits_;
};

class SocketWorkerChannel final : public WorkerChannel {
 public:
  SocketWorkerChannel(int fd, const ChannelLimits& limits)
      : control_(fd, kControlLane, limits.max_frame_bytes, true), limits_(limits) {}

  Lane& control() override { return control_; }

  tl::expected<std::unique_ptr<Lane>, ChannelError> accept_lane(std::uint32_t id) override {
    int fd = control_.take_fd();
    if (fd < 0)
      return tl::unexpected(
          ChannelError{ChannelErrc::kProtocol, "an open_lane frame came without a socket"});
    return std::make_unique<SocketLane>(fd, id, limits_.max_frame_bytes, false);
  }

 private:
  SocketLane control_;
  ChannelLimits limits_;
};

}  // namespace

tl::expected<std::unique_ptr<HostChannel>, ChannelError> SocketChannelFactory::create(
    const ChannelLimits& limits) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return tl::unexpected(sys_error("socketpair", errno));
  return std::make_unique<SocketHostChannel>(sv[0], sv[1], limits);
}

tl::expected<std::unique_ptr<WorkerChannel>, std::string> attach_socket_channel(
    const std::map<std::string, std::string>& options, const ChannelLimits& limits) {
  auto it = options.find("control-fd");
  if (it == options.end()) return tl::unexpected(std::string("--control-fd is required"));
  int fd = -1;
  try {
    fd = std::stoi(it->second);
  } catch (const std::exception&) {
    fd = -1;
  }
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0)
    return tl::unexpected(fmt::format("--control-fd {} is not an open descriptor", it->second));
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    return tl::unexpected(fmt::format("descriptor {} is not a stream socket", fd));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return std::make_unique<SocketWorkerChannel>(fd, limits);
}

std::unique_ptr<Lane> make_socket_lane(int fd, std::uint32_t id, const ChannelLimits& limits,
                                       bool accept_fds) {
  return std::make_unique<SocketLane>(fd, id, limits.max_frame_bytes, accept_fds);
}

}  // namespace nifhost::process
