// The frame layer on its own: headers are validated before a payload byte is
// read, the integer and binary fast paths write exactly what term_to_binary/1
// writes, and a socket lane reassembles frames however the bytes arrive,
// refuses oversized ones, and reports closing, timeouts and would-block.
#include "nifhost/process/protocol.hpp"

#include <chrono>
#include <cstring>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/process/socket_channel.hpp"

namespace nifhost::process {
namespace {

using namespace std::chrono_literals;
using core::Term;

std::vector<std::uint8_t> header(MessageKind kind, std::uint32_t lane, std::uint32_t request,
                                 std::uint32_t length) {
  std::vector<std::uint8_t> h(kFrameHeaderSize);
  write_header(h.data(), {kind, lane, request, length});
  return h;
}

TEST(FrameHeader, RoundTripsAndStartsWithTheMagic) {
  auto h = header(MessageKind::kCall, 7, 0x01020304, 99);
  EXPECT_EQ(std::string(h.begin(), h.begin() + 4), "NIFH");
  auto parsed = parse_header(h, 1000);
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(parsed->kind, MessageKind::kCall);
  EXPECT_EQ(parsed->lane, 7u);
  EXPECT_EQ(parsed->request, 0x01020304u);
  EXPECT_EQ(parsed->length, 99u);
}

TEST(FrameHeader, RefusesWhatIsNotAValidHeader) {
  auto good = header(MessageKind::kResult, 1, 1, 10);
  auto with = [&](std::size_t at, std::uint8_t v) {
    auto h = good;
    h[at] = v;
    return parse_header(h, 1000);
  };
  EXPECT_NE(with(0, 'X').error().find("magic"), std::string::npos);
  EXPECT_NE(with(4, 2).error().find("protocol version 2"), std::string::npos);
  EXPECT_NE(with(6, 200).error().find("unknown message kind 200"), std::string::npos);
  EXPECT_NE(with(20, 1).error().find("reserved flags"), std::string::npos);
  EXPECT_NE(parse_header(good, 9).error().find("claims 10 payload bytes (limit 9)"),
            std::string::npos);
  EXPECT_FALSE(parse_header(std::span(good).first(23), 1000).has_value());
}

TEST(MessageKinds, EachKindTravelsOneWayOnItsLanes) {
  EXPECT_TRUE(kind_allowed(MessageKind::kResult, Direction::kToHost, false));
  EXPECT_FALSE(kind_allowed(MessageKind::kResult, Direction::kToHost, true));
  EXPECT_FALSE(kind_allowed(MessageKind::kCall, Direction::kToHost, false));
  EXPECT_TRUE(kind_allowed(MessageKind::kHostRequest, Direction::kToHost, true));
  EXPECT_TRUE(kind_allowed(MessageKind::kHostRequest, Direction::kToHost, false));
  EXPECT_TRUE(kind_allowed(MessageKind::kHello, Direction::kToHost, true));
  EXPECT_TRUE(kind_allowed(MessageKind::kRelease, Direction::kToWorker, true));
  EXPECT_FALSE(kind_allowed(MessageKind::kRelease, Direction::kToWorker, false));
  EXPECT_EQ(std::string(message_kind_name(MessageKind::kLoadError)), "load_error");
  EXPECT_EQ(message_kind_info(0), nullptr);
}

// The fast paths must be the codec's bytes (which match erl's term_to_binary/1).
TEST(FrameWriter, IntegersAndBinariesAreTermToBinary) {
  core::Heap heap;
  const std::int64_t values[] = {0,         1,          255,           256,          -1,
                                 -256,      2147483647, -2147483648LL, 2147483648LL, -2147483649LL,
                                 INT64_MAX, INT64_MIN};
  for (std::int64_t v : values) {
    std::vector<std::uint8_t> buf;
    FrameWriter w(buf, MessageKind::kCall, 1, 1);
    w.integer(v);
    w.finish();
    auto expected = core::encode(core::make_integer(heap, v)).value();
    EXPECT_EQ(std::vector<std::uint8_t>(buf.begin() + kFrameHeaderSize, buf.end()), expected) << v;
  }
  std::vector<std::uint8_t> buf;
  FrameWriter w(buf, MessageKind::kCall, 1, 1);
  w.unsigned_integer(UINT64_MAX);
  w.binary(std::string_view("abc"));
  auto frame = w.finish();
  auto parsed = parse_header(frame, 1000).value();
  EXPECT_EQ(parsed.length, frame.size() - kFrameHeaderSize);
  core::DecodeOptions opts = wire_decode_options(nullptr, nullptr);
  PayloadReader r(frame.subspan(kFrameHeaderSize), heap, opts);
  EXPECT_EQ(r.unsigned_integer("max").value(), UINT64_MAX);
  EXPECT_EQ(r.binary("abc", 10).value(), "abc");
  EXPECT_TRUE(r.end("frame").has_value());
}

// Large binaries are left in place, and the pieces join into term_to_binary's bytes.
TEST(FrameWriter, ScatteredTermsAreTheCodecsBytes) {
  core::Heap heap;
  std::vector<std::uint8_t> big(kScatterMinBytes + 5);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i);
  Term bin = *core::make_binary(heap, big);
  Term t = core::make_tuple(
      heap, {core::atoms::kOk, bin, core::make_list(heap, {bin, core::make_small(7)}),
             core::make_tuple(heap, {bin, core::make_small(300)})});
  for (Term x : {bin, t, core::make_small(5)}) {
    std::vector<std::uint8_t> buf;
    FrameWriter w(buf, MessageKind::kResult, 1, 1);
    ASSERT_TRUE(w.term_scatter(x).has_value());
    auto parts = w.finish_parts();
    std::vector<std::uint8_t> joined;
    for (auto p : parts) joined.insert(joined.end(), p.begin(), p.end());
    auto h = parse_header(joined, SIZE_MAX).value();
    EXPECT_EQ(h.length, joined.size() - kFrameHeaderSize);
    auto expected = core::encode(x).value();
    EXPECT_EQ(std::vector<std::uint8_t>(joined.begin() + kFrameHeaderSize, joined.end()), expected);
    if (core::is_bitstring(x)) {
      ASSERT_EQ(parts.size(), 3u);  // header and tag, the binary itself, nothing after
      EXPECT_EQ(parts[1].data(), core::bitstring_view(bin).data);
    }
  }
}

class SocketLaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    lane_ = make_socket_lane(sv[0], 1, limits_);
    peer_ = sv[1];
  }
  void TearDown() override {
    if (peer_ >= 0) ::close(peer_);
  }
  void write_all(std::span<const std::uint8_t> bytes) {
    ASSERT_EQ(::write(peer_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  std::vector<std::uint8_t> frame_of(std::uint32_t request, std::size_t payload_bytes) {
    auto f = header(MessageKind::kResult, 1, request, static_cast<std::uint32_t>(payload_bytes));
    for (std::size_t i = 0; i < payload_bytes; ++i) f.push_back(static_cast<std::uint8_t>(i * 7));
    return f;
  }
  ChannelLimits limits_{std::size_t{64} << 20};
  std::unique_ptr<Lane> lane_;
  int peer_ = -1;
};

TEST_F(SocketLaneTest, ReassemblesFramesHoweverTheBytesArrive) {
  std::vector<std::uint8_t> stream;
  for (std::uint32_t r = 1; r <= 3; ++r) {
    auto f = frame_of(r, r * 100);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  std::thread writer([&] {
    // One byte at a time across the header, then the rest in two pieces.
    for (std::size_t i = 0; i < 30; ++i) write_all(std::span(stream).subspan(i, 1));
    write_all(std::span(stream).subspan(30, 200));
    write_all(std::span(stream).subspan(230));
  });
  for (std::uint32_t r = 1; r <= 3; ++r) {
    auto f = lane_->receive(Deadline::after(5s));
    ASSERT_TRUE(f.has_value()) << f.error().text;
    EXPECT_EQ(f->header.request, r);
    ASSERT_EQ(f->payload.size(), r * 100);
    for (std::size_t i = 0; i < f->payload.size(); ++i)
      ASSERT_EQ(f->payload[i], static_cast<std::uint8_t>(i * 7));
    EXPECT_EQ(f->owner, nullptr);
  }
  writer.join();
}

TEST_F(SocketLaneTest, LargeFramesGetABufferTheirBinariesCanShare) {
  auto f = frame_of(9, 3u << 20);
  std::thread writer([&] { write_all(f); });
  auto got = lane_->receive(Deadline::after(5s));
  writer.join();
  ASSERT_TRUE(got.has_value()) << got.error().text;
  ASSERT_EQ(got->payload.size(), 3u << 20);
  ASSERT_NE(got->owner, nullptr);
  EXPECT_TRUE(std::equal(got->payload.begin(), got->payload.end(), f.begin() + kFrameHeaderSize));
}

TEST_F(SocketLaneTest, ALargeBufferNothingKeptIsReused) {
  auto f = frame_of(1, 2u << 20);
  std::thread writer([&] {
    write_all(f);
    write_all(f);
  });
  auto first = lane_->receive(Deadline::after(5s));
  ASSERT_TRUE(first.has_value()) << first.error().text;
  const std::uint8_t* where = first->payload.data();
  auto second = lane_->receive(Deadline::after(5s));
  writer.join();
  ASSERT_TRUE(second.has_value()) << second.error().text;
  EXPECT_EQ(second->payload.data(), where);
  EXPECT_TRUE(
      std::equal(second->payload.begin(), second->payload.end(), f.begin() + kFrameHeaderSize));
}

TEST_F(SocketLaneTest, PartsGoOutAsOneFrame) {
  auto f = frame_of(4, 100);
  std::span<const std::uint8_t> all(f);
  std::span<const std::uint8_t> parts[] = {all.first(10), all.subspan(10, 0), all.subspan(10, 50),
                                           all.subspan(60)};
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto a = make_socket_lane(sv[0], 1, limits_);
  auto b = make_socket_lane(sv[1], 1, limits_);
  ASSERT_TRUE(a->send_parts(parts, Deadline::never()).has_value());
  auto got = b->receive(Deadline::after(5s));
  ASSERT_TRUE(got.has_value()) << got.error().text;
  EXPECT_EQ(got->header.request, 4u);
  EXPECT_TRUE(std::equal(got->payload.begin(), got->payload.end(), f.begin() + kFrameHeaderSize));
}

TEST_F(SocketLaneTest, AFrameOverTheLimitIsRefusedBeforeItsPayload) {
  write_all(header(MessageKind::kResult, 1, 1, (64u << 20) + 1));
  auto got = lane_->receive(Deadline::after(5s));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ChannelErrc::kProtocol);
  EXPECT_NE(got.error().text.find("limit"), std::string::npos);
}

TEST_F(SocketLaneTest, ClosingTimeoutsAndWouldBlockAreDistinct) {
  auto part = frame_of(1, 50);
  write_all(std::span(part).first(40));
  auto now = lane_->receive(Deadline::immediate());
  ASSERT_FALSE(now.has_value());
  EXPECT_EQ(now.error().code, ChannelErrc::kWouldBlock);
  auto start = std::chrono::steady_clock::now();
  auto late = lane_->receive(Deadline::after(100ms));
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ChannelErrc::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  write_all(std::span(part).subspan(40));
  auto whole = lane_->receive(Deadline::immediate());
  ASSERT_TRUE(whole.has_value()) << whole.error().text;
  EXPECT_EQ(whole->payload.size(), 50u);
  // A peer that goes away mid-frame: closed, not a frame.
  write_all(std::span(part).first(30));
  ::close(peer_);
  peer_ = -1;
  auto gone = lane_->receive(Deadline::after(5s));
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ChannelErrc::kClosed);
}

TEST_F(SocketLaneTest, ShutDownWakesABlockedReader) {
  std::thread waker([&] {
    std::this_thread::sleep_for(50ms);
    lane_->shut_down();
  });
  auto got = lane_->receive(Deadline::never());
  waker.join();
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ChannelErrc::kClosed);
}

TEST_F(SocketLaneTest, SendingToAGonePeerIsAnErrorNotASignal) {
  ::close(peer_);
  peer_ = -1;
  auto f = frame_of(1, 10);
  auto sent = lane_->send(f, Deadline::never());
  ASSERT_FALSE(sent.has_value());
  EXPECT_EQ(sent.error().code, ChannelErrc::kClosed);
}

}  // namespace
}  // namespace nifhost::process
