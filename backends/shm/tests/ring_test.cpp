// The rings on their own, in one process: frames of every size go through
// whole and in order (inline, through the data area, in chunks), full and
// empty rings wait and time out, shutting down wakes a sleeper, and whatever
// a hostile peer writes into the control words or the ring is reported as a
// protocol error rather than followed.
#include "nifhost/shm/ring.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "nifhost/process/protocol.hpp"
#include "nifhost/shm/segment.hpp"

namespace nifhost::shm {
namespace {

using namespace std::chrono_literals;
using process::ChannelErrc;
using process::Deadline;
using process::MessageKind;

constexpr std::size_t kMaxFrame = std::size_t{64} << 20;

// A frame of `payload` bytes whose content depends on `seed`.
std::vector<std::uint8_t> make_frame(std::uint32_t request, std::size_t payload) {
  std::vector<std::uint8_t> f(process::kFrameHeaderSize + payload);
  process::write_header(f.data(),
                        {MessageKind::kResult, 1, request, static_cast<std::uint32_t>(payload)});
  std::uint32_t x = request * 2654435761u + 1;
  for (std::size_t i = process::kFrameHeaderSize; i < f.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    f[i] = static_cast<std::uint8_t>(x);
  }
  return f;
}

bool same(const process::Frame& got, const std::vector<std::uint8_t>& want) {
  if (got.header.length + process::kFrameHeaderSize != want.size()) return false;
  return std::equal(got.payload.begin(), got.payload.end(),
                    want.begin() + static_cast<std::ptrdiff_t>(process::kFrameHeaderSize));
}

// One lane's direction in a fresh segment: the writer's and the reader's
// views are separate mappings of the same pages, as in two processes.
class RingFixture {
 public:
  explicit RingFixture(Geometry g = small_geometry(), WaitPolicy policy = {},
                       DataMode mode = DataMode::kCopy)
      : g_(g),
        segment_(Segment::create(kSegmentName, g.segment_bytes()).value()),
        writer_map_(segment_.map(g.lane_offset(1), g.lane_stride()).value()),
        reader_map_(segment_.map(g.lane_offset(1), g.lane_stride()).value()),
        w_region_(lane_region(writer_map_->data(), g)),
        r_region_(lane_region(reader_map_->data(), g)),
        writer_(w_region_.control->to_host, {w_region_.ring_to_host, g.ring_bytes},
                {w_region_.data_to_host, static_cast<std::size_t>(g.data_bytes)}, g, policy),
        reader_(r_region_.control->to_host, {r_region_.ring_to_host, g.ring_bytes},
                {r_region_.data_to_host, static_cast<std::size_t>(g.data_bytes)}, g, policy,
                kMaxFrame, mode, reader_map_) {}

  static Geometry small_geometry() { return Geometry{4096, 64 << 10, 2}; }

  const Geometry& geometry() const { return g_; }
  RingWriter& writer() { return writer_; }
  RingReader& reader() { return reader_; }
  // The writer-side view of what the peer can scribble on.
  LaneRegion& raw() { return w_region_; }
  std::span<std::uint8_t> reader_data() {
    return {r_region_.data_to_host, static_cast<std::size_t>(g_.data_bytes)};
  }
  std::atomic<bool>& shut() { return shut_; }

 private:
  Geometry g_;
  Segment segment_;
  std::shared_ptr<Mapping> writer_map_, reader_map_;
  LaneRegion w_region_, r_region_;
  std::atomic<bool> shut_{false};
  RingWriter writer_;
  RingReader reader_;
};

TEST(Segment, IsSealedAgainstResizing) {
  auto seg = Segment::create(kSegmentName, 1 << 20);
  ASSERT_TRUE(seg.has_value()) << seg.error();
  EXPECT_NE(::ftruncate(seg->fd(), 4096), 0);     // a worker cannot shrink it under the host
  EXPECT_NE(::ftruncate(seg->fd(), 8 << 20), 0);  // nor grow it
  EXPECT_NE(::fcntl(seg->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);  // nor seal it
  auto m = seg->map(4096, 8192);
  ASSERT_TRUE(m.has_value()) << m.error();
  EXPECT_FALSE(seg->map(1 << 20, 4096).has_value());
}

TEST(Ring, EmptyRingWouldBlockThenTimesOut) {
  RingFixture f;
  auto r = f.reader().read(Deadline::immediate(), f.shut());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ChannelErrc::kWouldBlock);
  auto start = std::chrono::steady_clock::now();
  r = f.reader().read(Deadline::after(20ms), f.shut());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ChannelErrc::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(Ring, FramesOfEverySizeArriveWholeAndInOrder) {
  RingFixture f;
  // Inline (with wraparound), data area (64 KiB), and chunked (beyond it).
  const std::size_t sizes[] = {0,    1,    7,    100,    1000,   1000,    1000, 1000,
                               1000, 1000, 5000, 60'000, 65'000, 200'000, 3,    1000};
  for (std::uint32_t i = 0; i < std::size(sizes); ++i) {
    auto frame = make_frame(i, sizes[i]);
    std::thread writer([&] { ASSERT_TRUE(f.writer().write(frame, Deadline::never(), f.shut())); });
    auto got = f.reader().read(Deadline::after(10s), f.shut());
    writer.join();
    ASSERT_TRUE(got.has_value()) << sizes[i] << ": " << got.error().text;
    EXPECT_EQ(got->header.request, i);
    EXPECT_TRUE(same(*got, frame)) << sizes[i];
  }
  EXPECT_GE(f.writer().counts().data_frames, 2u);
  EXPECT_GE(f.writer().counts().chunked_frames, 1u);
}

TEST(Ring, FramesGivenAsPiecesArriveJoined) {
  RingFixture f;
  // Inline, data area and chunked totals; pieces empty, tiny and large, so
  // that piece boundaries fall inside records and across the ring's end.
  for (std::size_t big : {300, 20'000, 150'000}) {
    SCOPED_TRACE(big);
    auto whole = make_frame(static_cast<std::uint32_t>(big), big + 50);
    std::vector<std::span<const std::uint8_t>> parts;
    std::span<const std::uint8_t> all(whole);
    parts.push_back(all.subspan(0, 10));
    parts.push_back(all.subspan(10, 0));
    parts.push_back(all.subspan(10, 40));
    parts.push_back(all.subspan(50, big));
    parts.push_back(all.subspan(50 + big, 1));
    parts.push_back(all.subspan(51 + big));
    std::thread writer([&] {
      ASSERT_TRUE(f.writer().write(RingWriter::Parts(parts), Deadline::never(), f.shut()));
    });
    auto got = f.reader().read(Deadline::after(10s), f.shut());
    writer.join();
    ASSERT_TRUE(got.has_value()) << got.error().text;
    EXPECT_TRUE(same(*got, whole));
  }
  EXPECT_EQ(f.writer().counts().inline_frames, 1u);
  EXPECT_EQ(f.writer().counts().data_frames, 1u);
  EXPECT_EQ(f.writer().counts().chunked_frames, 1u);
}

TEST(Ring, ConcurrentWriterAndReaderWrapManyTimes) {
  for (auto spin : {std::chrono::nanoseconds(50'000), std::chrono::nanoseconds(0)}) {
    SCOPED_TRACE(spin.count());
    RingFixture f(RingFixture::small_geometry(), WaitPolicy{spin, 100ms});
    constexpr std::uint32_t kFrames = 1500;
    std::thread writer([&] {
      std::mt19937 rng(7);
      for (std::uint32_t i = 0; i < kFrames; ++i) {
        std::size_t n = rng() % 8 == 0 ? rng() % 100'000 : rng() % 900;
        ASSERT_TRUE(f.writer().write(make_frame(i, n), Deadline::after(10s), f.shut()));
      }
    });
    std::mt19937 rng(7);
    for (std::uint32_t i = 0; i < kFrames; ++i) {
      std::size_t n = rng() % 8 == 0 ? rng() % 100'000 : rng() % 900;
      auto got = f.reader().read(Deadline::after(10s), f.shut());
      ASSERT_TRUE(got.has_value()) << i << ": " << got.error().text;
      ASSERT_EQ(got->header.request, i);
      ASSERT_TRUE(same(*got, make_frame(i, n))) << i;
    }
    writer.join();
  }
}

TEST(Ring, AFullRingBlocksTheWriterUntilTheReaderConsumes) {
  RingFixture f(RingFixture::small_geometry(), WaitPolicy{0ns, 100ms});
  // 4096-byte ring, 1016-byte records: four fit.
  auto frame = make_frame(1, 1000 - process::kFrameHeaderSize);
  int written = 0;
  while (f.writer().write(frame, Deadline::after(5ms), f.shut())) ++written;
  EXPECT_EQ(written, 4);
  auto again = f.writer().write(frame, Deadline::immediate(), f.shut());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ChannelErrc::kTimeout);
  // A sleeping writer wakes when the reader frees a record.
  std::thread writer([&] { EXPECT_TRUE(f.writer().write(frame, Deadline::after(5s), f.shut())); });
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(f.reader().read(Deadline::never(), f.shut()).has_value());
  writer.join();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.reader().read(Deadline::immediate(), f.shut()));
}

TEST(Ring, LargeFramesGoThroughTheDataAreaAndTheHostCopiesThemOut) {
  RingFixture f;
  auto frame = make_frame(9, 40'000);
  ASSERT_TRUE(f.writer().write(frame, Deadline::never(), f.shut()));
  EXPECT_EQ(f.writer().counts().data_frames, 1u);
  auto got = f.reader().read(Deadline::never(), f.shut());
  ASSERT_TRUE(got.has_value()) << got.error().text;
  // The payload is the reader's own copy, not the segment.
  auto area = f.reader_data();
  EXPECT_FALSE(got->payload.data() >= area.data() &&
               got->payload.data() < area.data() + area.size());
  ASSERT_NE(got->owner, nullptr);
  // The area was handed back at once: overwriting it changes nothing read.
  EXPECT_EQ(word(f.raw().control->to_host.consumer.data_done).load(), 1u);
  std::memset(f.raw().data_to_host, 0, 40'000);
  EXPECT_TRUE(same(*got, frame));
}

TEST(Ring, TheWorkerDecodesInPlaceAndABusyAreaSendsChunks) {
  RingFixture f(RingFixture::small_geometry(), WaitPolicy{}, DataMode::kLease);
  auto a = make_frame(1, 40'000);
  ASSERT_TRUE(f.writer().write(a, Deadline::never(), f.shut()));
  auto got = f.reader().read(Deadline::never(), f.shut());
  ASSERT_TRUE(got.has_value()) << got.error().text;
  auto area = f.reader_data();
  EXPECT_EQ(got->payload.data(), area.data() + process::kFrameHeaderSize);  // no copy
  core::OffHeapObject* lease = got->owner;
  lease->acquire();  // as a decoded binary would
  EXPECT_TRUE(same(*got, a));
  // Still held: the next large frame cannot use the area and goes in chunks.
  auto b = make_frame(2, 30'000);
  std::thread writer([&] { ASSERT_TRUE(f.writer().write(b, Deadline::never(), f.shut())); });
  auto got_b = f.reader().read(Deadline::after(10s), f.shut());
  writer.join();
  ASSERT_TRUE(got_b.has_value()) << got_b.error().text;
  EXPECT_TRUE(same(*got_b, b));
  EXPECT_EQ(f.writer().counts().chunked_frames, 1u);
  EXPECT_TRUE(same(*got, a));  // the held frame was not overwritten
  lease->release();
  // Let go: the area is used again.
  auto c = make_frame(3, 50'000);
  ASSERT_TRUE(f.writer().write(c, Deadline::never(), f.shut()));
  EXPECT_EQ(f.writer().counts().data_frames, 2u);
  auto got_c = f.reader().read(Deadline::never(), f.shut());
  ASSERT_TRUE(got_c.has_value());
  EXPECT_TRUE(same(*got_c, c));
}

TEST(Ring, AClosedRingDrainsThenSaysClosed) {
  RingFixture f;
  ASSERT_TRUE(f.writer().write(make_frame(1, 10), Deadline::never(), f.shut()));
  f.writer().close();
  EXPECT_TRUE(f.reader().read(Deadline::never(), f.shut()).has_value());
  auto r = f.reader().read(Deadline::never(), f.shut());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ChannelErrc::kClosed);
}

TEST(Ring, ShuttingDownWakesASleepingReaderAtOnce) {
  RingFixture f(RingFixture::small_geometry(), WaitPolicy{0ns, std::chrono::hours(1)});
  std::atomic<bool> returned{false};
  std::thread reader([&] {
    auto r = f.reader().read(Deadline::never(), f.shut());
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().code, ChannelErrc::kClosed);
    }
    returned = true;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(returned);
  EXPECT_EQ(word(f.raw().control->to_host.consumer.consumer_sleeping).load(), 1u);
  auto start = std::chrono::steady_clock::now();
  f.shut() = true;
  f.reader().wake();
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(Ring, NoWakeIsSentWhenNobodySleeps) {
  RingFixture f;
  std::uint32_t bell = word(f.raw().control->to_host.producer.data_bell).load();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(f.writer().write(make_frame(i, 10), Deadline::never(), f.shut()));
    ASSERT_TRUE(f.reader().read(Deadline::never(), f.shut()));
  }
  EXPECT_EQ(word(f.raw().control->to_host.producer.data_bell).load(), bell);
}

// ---------------------------------------------------------------- hostile peer

struct Lie {
  const char* what;
  void (*apply)(LaneRegion& r, const Geometry& g);
};

void put_record(LaneRegion& r, std::uint64_t at, RecordHeader h,
                const std::vector<std::uint8_t>& bytes, const Geometry& g) {
  std::uint8_t* ring = r.ring_to_host;
  std::uint64_t mask = g.ring_bytes - 1;
  std::memcpy(ring + (at & mask), &h, sizeof h);
  for (std::size_t i = 0; i < bytes.size(); ++i) ring[(at + 16 + i) & mask] = bytes[i];
}

void publish(LaneRegion& r, std::uint64_t head) {
  word(r.control->to_host.producer.head).store(head, std::memory_order_release);
}

TEST(Ring, EveryLieInTheSegmentIsAProtocolError) {
  const Lie lies[] = {
      {"head beyond the ring",
       [](LaneRegion& r, const Geometry& g) { publish(r, g.ring_bytes + 16); }},
      {"head behind the tail", [](LaneRegion& r, const Geometry&) { publish(r, ~0ull); }},
      {"half a header", [](LaneRegion& r, const Geometry&) { publish(r, 8); }},
      {"unknown kind",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {24, 9, 0, 0}, make_frame(1, 0), g);
         publish(r, 48);
       }},
      {"reserved bits",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {24, 1, 1, 0}, make_frame(1, 0), g);
         publish(r, 48);
       }},
      {"inline larger than inline_max",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {5000, 1, 0, 0}, {}, g);
         publish(r, 48);
       }},
      {"inline past what was published",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {500, 1, 0, 0}, make_frame(1, 476), g);
         publish(r, 64);
       }},
      {"inline shorter than a frame header",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {10, 1, 0, 0}, std::vector<std::uint8_t>(10), g);
         publish(r, 32);
       }},
      {"frame longer than its record",
       [](LaneRegion& r, const Geometry& g) {
         auto f = make_frame(1, 100);
         f.resize(50);
         put_record(r, 0, {50, 1, 0, 0}, f, g);
         publish(r, 16 + 64);
       }},
      {"frame that is no frame",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {32, 1, 0, 0}, std::vector<std::uint8_t>(32, 0xAB), g);
         publish(r, 48);
       }},
      {"data frame larger than the area",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {static_cast<std::uint32_t>(g.data_bytes + 1), 2, 0, 1}, {}, g);
         publish(r, 16);
       }},
      {"data frame out of sequence",
       [](LaneRegion& r, const Geometry& g) {
         auto f = make_frame(1, 100);
         std::memcpy(r.data_to_host, f.data(), f.size());
         put_record(r, 0, {static_cast<std::uint32_t>(f.size()), 2, 0, 5}, {}, g);
         publish(r, 16);
       }},
      {"chunked frame beyond the frame limit",
       [](LaneRegion& r, const Geometry& g) {
         put_record(r, 0, {16, 3, 0, kMaxFrame + 1000}, std::vector<std::uint8_t>(16), g);
         publish(r, 32);
       }},
      {"chunks disagreeing on their frame",
       [](LaneRegion& r, const Geometry& g) {
         auto f = make_frame(1, 2000);
         put_record(r, 0, {1024, 3, 0, f.size()}, {f.begin(), f.begin() + 1024}, g);
         put_record(r, 1040, {1000, 3, 0, f.size() + 1}, {f.begin() + 1024, f.end()}, g);
         publish(r, 1040 + 16 + 1008);
       }},
      {"an inline record inside a chunked frame",
       [](LaneRegion& r, const Geometry& g) {
         auto f = make_frame(1, 2000);
         put_record(r, 0, {1024, 3, 0, f.size()}, {f.begin(), f.begin() + 1024}, g);
         put_record(r, 1040, {24, 1, 0, 0}, make_frame(2, 0), g);
         publish(r, 1040 + 16 + 32);
       }},
  };
  for (const Lie& lie : lies) {
    SCOPED_TRACE(lie.what);
    RingFixture f;
    lie.apply(f.raw(), f.geometry());
    auto r = f.reader().read(Deadline::after(50ms), f.shut());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ChannelErrc::kProtocol) << r.error().text;
    // And it stays broken: nothing more is read from that ring.
    auto again = f.reader().read(Deadline::immediate(), f.shut());
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, ChannelErrc::kProtocol);
  }
}

TEST(Ring, AWriterRefusesATailAheadOfItsHead) {
  RingFixture f;
  word(f.raw().control->to_host.consumer.tail).store(4096);
  auto r = f.writer().write(make_frame(1, 10), Deadline::after(50ms), f.shut());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ChannelErrc::kProtocol) << r.error().text;
}

// Whatever bytes a peer leaves in the control words and the ring, reading
// returns a well-formed frame or an error, never anything else.
RC_GTEST_PROP(RingProps, RandomSegmentContentsNeverEscapeAsAnythingButErrors,
              (std::vector<std::uint8_t> control, std::vector<std::uint8_t> ring,
               std::uint64_t head)) {
  RingFixture f;
  LaneRegion& r = f.raw();
  auto* ctl = reinterpret_cast<std::uint8_t*>(&r.control->to_host);
  std::copy_n(control.begin(), std::min(control.size(), sizeof(RingControl)), ctl);
  std::copy_n(ring.begin(), std::min<std::size_t>(ring.size(), 4096), r.ring_to_host);
  if (*rc::gen::arbitrary<bool>()) publish(r, head % 8192);
  for (int i = 0; i < 4; ++i) {
    auto got = f.reader().read(Deadline::after(1ms), f.shut());
    if (!got) {
      RC_ASSERT(got.error().code != ChannelErrc::kIo);
      break;
    }
    RC_ASSERT(got->payload.size() == got->header.length);
  }
}

}  // namespace
}  // namespace nifhost::shm
