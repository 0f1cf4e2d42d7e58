// Rings: records in, records out, every published index and length checked.
#include "nifhost/shm/ring.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <utility>

#include <fmt/format.h>

#include "nifhost/process/protocol.hpp"

namespace nifhost::shm {

namespace {

using std::chrono::nanoseconds;

constexpr std::size_t round_up(std::size_t n) {
  return (n + kRecordAlign - 1) & ~(kRecordAlign - 1);
}

// A chunked frame's buffer starts at this size and doubles as chunks arrive,
// so a peer that announces a huge frame and sends little costs little.
constexpr std::size_t kAssembleInitialBytes = std::size_t{1} << 20;

// How long a writer waits for the reader to let go of the data area before
// it sends the frame in chunks instead. The worker lets go as soon as it has
// answered (unless a NIF kept a binary of the request), so this is rarely
// waited out.
constexpr nanoseconds kDataAreaPatience{50'000};

ChannelError protocol(std::string text) {
  return ChannelError{ChannelErrc::kProtocol, std::move(text)};
}

ChannelError from_wait(WaitResult r) {
  switch (r) {
    case WaitResult::kShut:
      return ChannelError{ChannelErrc::kClosed, "the lane was shut down"};
    case WaitResult::kWouldBlock:
      return ChannelError{ChannelErrc::kWouldBlock, "nothing to read"};
    default:
      return ChannelError{ChannelErrc::kTimeout, "the deadline passed"};
  }
}

// The worker's view of a frame in the data area: decoded binaries point into
// the segment and hold this; when the last goes, the area is handed back.
class DataLease final : public core::OffHeapObject {
 public:
  DataLease(std::shared_ptr<Mapping> keep, std::uint64_t& done, std::uint64_t seq)
      : OffHeapObject(Type::kBinary), keep_(std::move(keep)), done_(done), seq_(seq) {}

 private:
  ~DataLease() override = default;
  void destroy() override {
    word(done_).store(seq_, std::memory_order_release);
    delete this;
  }
  std::shared_ptr<Mapping> keep_;  // the mapping outlives every view of it
  std::uint64_t& done_;
  std::uint64_t seq_;
};

}  // namespace

// ---------------------------------------------------------------- RingWriter

RingWriter::RingWriter(RingControl& control, std::span<std::uint8_t> ring,
                       std::span<std::uint8_t> data, const Geometry& geometry,
                       const WaitPolicy& policy)
    : control_(control),
      ring_(ring),
      data_(data),
      inline_max_(geometry.inline_max()),
      policy_(policy) {
  assert(ring_.size() == geometry.ring_bytes);
}

bool RingWriter::data_area_free(Deadline deadline) {
  auto done = [&] {
    return word(control_.consumer.data_done).load(std::memory_order_acquire) == data_seq_;
  };
  if (done()) return true;
  Clock::time_point until = std::min(Clock::now() + kDataAreaPatience, deadline.at);
  do {
    for (int i = 0; i < 64; ++i) {
      cpu_relax();
      if (done()) return true;
    }
  } while (Clock::now() < until);
  return false;
}

// Reads consecutive bytes out of a frame's pieces.
struct RingWriter::Cursor {
  Parts parts;
  std::size_t index = 0;
  std::size_t offset = 0;

  void copy(std::uint8_t* dst, std::size_t n) {
    while (n > 0) {
      assert(index < parts.size());
      std::span<const std::uint8_t> p = parts[index];
      std::size_t k = std::min(n, p.size() - offset);
      if (k != 0) std::memcpy(dst, p.data() + offset, k);
      dst += k;
      n -= k;
      offset += k;
      if (offset == p.size()) {
        ++index;
        offset = 0;
      }
    }
  }
};

tl::expected<void, ChannelError> RingWriter::write(std::span<const std::uint8_t> frame,
                                                   Deadline deadline,
                                                   const std::atomic<bool>& shut) {
  const std::span<const std::uint8_t> one[1] = {frame};
  return write(Parts(one), deadline, shut);
}

tl::expected<void, ChannelError> RingWriter::write(Parts parts, Deadline deadline,
                                                   const std::atomic<bool>& shut) {
  std::size_t n = 0;
  for (auto p : parts) n += p.size();
  Cursor cursor{parts};
  if (n <= inline_max_)
    return put_record(RecordKind::kInline, 0, &cursor, n, static_cast<std::uint32_t>(n), deadline,
                      shut);
  if (n <= data_.size() && n <= UINT32_MAX && data_area_free(deadline)) {
    // What the reader may still be looking at is its own business: this side
    // never reads the area back.
    cursor.copy(data_.data(), n);
    ++counts_.data_frames;
    return put_record(RecordKind::kData, ++data_seq_, nullptr, 0, static_cast<std::uint32_t>(n),
                      deadline, shut);
  }
  ++counts_.chunked_frames;
  for (std::size_t at = 0; at < n; at += inline_max_) {
    std::size_t k = std::min(inline_max_, n - at);
    auto r = put_record(RecordKind::kChunk, n, &cursor, k, static_cast<std::uint32_t>(k), deadline,
                        shut);
    if (!r) return r;
  }
  return {};
}

tl::expected<void, ChannelError> RingWriter::put_record(RecordKind kind, std::uint64_t extra,
                                                        Cursor* bytes, std::size_t count,
                                                        std::uint32_t size, Deadline deadline,
                                                        const std::atomic<bool>& shut) {
  const std::uint64_t cap = ring_.size();
  const std::uint64_t need = kRecordHeaderBytes + round_up(count);
  assert(need <= cap);
  bool bad = false;
  std::uint64_t tail = 0;
  auto room = [&] {
    // One read of the consumer's index; a tail ahead of what was written (or
    // further behind than the ring holds) is a lie.
    tail = word(control_.consumer.tail).load(std::memory_order_acquire);
    if (head_ - tail > cap) {
      bad = true;
      return true;
    }
    return cap - (head_ - tail) >= need;
  };
  WaitResult w = await(room, control_.consumer.space_bell, control_.producer.producer_sleeping,
                       policy_, deadline, shut);
  if (w == WaitResult::kWouldBlock) w = WaitResult::kTimeout;
  if (w != WaitResult::kReady) return tl::unexpected(from_wait(w));
  if (bad)
    return tl::unexpected(protocol(fmt::format(
        "the reader's published tail {} is not within the {}-byte ring behind the head {}", tail,
        cap, head_)));

  const std::uint64_t mask = cap - 1;
  std::uint64_t pos = head_ & mask;
  RecordHeader h{size, static_cast<std::uint16_t>(kind), 0, extra};
  std::memcpy(ring_.data() + pos, &h, sizeof h);
  if (count != 0) {
    std::uint64_t at = (pos + kRecordHeaderBytes) & mask;
    std::size_t first = std::min<std::size_t>(count, cap - at);
    bytes->copy(ring_.data() + at, first);
    if (first < count) bytes->copy(ring_.data(), count - first);
  }
  head_ += need;
  word(control_.producer.head).store(head_, std::memory_order_release);
  ring(control_.producer.data_bell, control_.consumer.consumer_sleeping);
  if (kind == RecordKind::kInline) ++counts_.inline_frames;
  return {};
}

void RingWriter::close() {
  word(control_.producer.closed).store(1, std::memory_order_release);
  ring_always(control_.producer.data_bell);
}

void RingWriter::wake() { ring_always(control_.consumer.space_bell); }

// ---------------------------------------------------------------- RingReader

RingReader::RingReader(RingControl& control, std::span<std::uint8_t> ring,
                       std::span<std::uint8_t> data, const Geometry& geometry,
                       const WaitPolicy& policy, std::size_t max_frame_bytes, DataMode mode,
                       std::shared_ptr<Mapping> keep)
    : control_(control),
      ring_(ring),
      data_(data),
      inline_max_(geometry.inline_max()),
      policy_(policy),
      max_frame_(process::kFrameHeaderSize + max_frame_bytes),
      mode_(mode),
      keep_(std::move(keep)) {
  assert(ring_.size() == geometry.ring_bytes);
  small_.reserve(inline_max_);
}

RingReader::~RingReader() {
  drop_delivered();
  if (assembling_ != nullptr) assembling_->release();
}

void RingReader::drop_delivered() {
  if (delivered_ != nullptr) {
    delivered_->release();
    delivered_ = nullptr;
  }
}

void RingReader::wake() { ring_always(control_.producer.data_bell); }

void RingReader::copy_out(std::uint64_t at, std::uint8_t* dst, std::size_t n) const {
  const std::uint64_t cap = ring_.size();
  std::uint64_t pos = at & (cap - 1);
  std::size_t first = std::min<std::size_t>(n, cap - pos);
  std::memcpy(dst, ring_.data() + pos, first);
  if (first < n) std::memcpy(dst + first, ring_.data(), n - first);
}

void RingReader::consume(std::uint64_t bytes) {
  tail_ += bytes;
  word(control_.consumer.tail).store(tail_, std::memory_order_release);
  ring(control_.consumer.space_bell, control_.producer.producer_sleeping);
}

tl::expected<Frame, ChannelError> RingReader::frame_from(std::span<const std::uint8_t> bytes,
                                                         core::OffHeapObject* owner) {
  // `bytes` are this side's own copy (or, for a lease, the trusting worker's
  // view): the header is parsed once, from there.
  auto h = process::parse_header(bytes, max_frame_ - process::kFrameHeaderSize);
  if (!h || process::kFrameHeaderSize + h->length != bytes.size()) {
    if (owner != nullptr) owner->release();
    broken_ = true;
    if (!h) return tl::unexpected(protocol(h.error()));
    return tl::unexpected(
        protocol(fmt::format("a {}-byte record holds a frame claiming {} bytes", bytes.size(),
                             process::kFrameHeaderSize + h->length)));
  }
  delivered_ = owner;
  return Frame{*h, bytes.subspan(process::kFrameHeaderSize), owner};
}

tl::expected<Frame, ChannelError> RingReader::read(Deadline deadline,
                                                   const std::atomic<bool>& shut) {
  if (broken_) return tl::unexpected(protocol("the lane broke the protocol earlier"));
  drop_delivered();
  auto fail = [&](std::string text) -> tl::expected<Frame, ChannelError> {
    broken_ = true;
    return tl::unexpected(protocol(std::move(text)));
  };
  const std::uint64_t cap = ring_.size();
  for (;;) {
    std::uint64_t head = 0;
    auto have = [&] {
      head = word(control_.producer.head).load(std::memory_order_acquire);
      return head != tail_ || word(control_.producer.closed).load(std::memory_order_acquire) != 0;
    };
    WaitResult w = await(have, control_.producer.data_bell, control_.consumer.consumer_sleeping,
                         policy_, deadline, shut);
    if (w != WaitResult::kReady) return tl::unexpected(from_wait(w));
    // `head` is the one value read from the segment for this record.
    const std::uint64_t avail = head - tail_;
    if (avail > cap)
      return fail(
          fmt::format("the writer's published head {} is not within the {}-byte ring "
                      "ahead of the tail {}",
                      head, cap, tail_));
    if (avail == 0) {
      const char* text = assembling_ != nullptr ? "the peer closed the lane inside a chunked frame"
                                                : "the peer closed the lane";
      return tl::unexpected(ChannelError{ChannelErrc::kClosed, text});
    }
    if (avail < kRecordHeaderBytes)
      return fail(fmt::format("{} bytes published: less than a record header", avail));
    RecordHeader h;
    copy_out(tail_, reinterpret_cast<std::uint8_t*>(&h), sizeof h);
    if (h.zero != 0) return fail("a record header with reserved bits set");

    switch (static_cast<RecordKind>(h.kind)) {
      case RecordKind::kInline: {
        if (assembling_ != nullptr) return fail("an inline record inside a chunked frame");
        if (h.size < process::kFrameHeaderSize || h.size > inline_max_)
          return fail(fmt::format("an inline record of {} bytes (limits {}..{})", h.size,
                                  process::kFrameHeaderSize, inline_max_));
        std::uint64_t rec = kRecordHeaderBytes + round_up(h.size);
        if (rec > avail)
          return fail(
              fmt::format("an inline record of {} bytes runs past the {} published", rec, avail));
        small_.resize(h.size);
        copy_out(tail_ + kRecordHeaderBytes, small_.data(), h.size);
        consume(rec);
        return frame_from(small_, nullptr);
      }
      case RecordKind::kData: {
        if (assembling_ != nullptr) return fail("a data record inside a chunked frame");
        if (h.extra != data_seq_ + 1)
          return fail(fmt::format("data frame {} after data frame {}", h.extra, data_seq_));
        if (h.size < process::kFrameHeaderSize || h.size > data_.size() || h.size > max_frame_)
          return fail(fmt::format("a data record of {} bytes (limits {}..{})", h.size,
                                  process::kFrameHeaderSize, std::min(data_.size(), max_frame_)));
        data_seq_ = h.extra;
        consume(kRecordHeaderBytes);
        if (mode_ == DataMode::kLease) {
          auto* lease = new (std::nothrow) DataLease(keep_, control_.consumer.data_done, data_seq_);
          if (lease == nullptr)
            return tl::unexpected(ChannelError{ChannelErrc::kIo, "no memory for a data lease"});
          return frame_from({data_.data(), h.size}, lease);
        }
        core::RefcBinary* b = core::RefcBinary::create(h.size);
        if (b == nullptr)
          return tl::unexpected(
              ChannelError{ChannelErrc::kIo, fmt::format("no memory for a {}-byte frame", h.size)});
        // The one copy out of the segment; the worker may rewrite the area
        // from now on, this side never looks at it again.
        std::memcpy(b->data(), data_.data(), h.size);
        word(control_.consumer.data_done).store(data_seq_, std::memory_order_release);
        return frame_from({b->data(), h.size}, b);
      }
      case RecordKind::kChunk: {
        const std::uint64_t total = h.extra;
        if (h.size == 0 || h.size > inline_max_)
          return fail(fmt::format("a chunk of {} bytes (limits 1..{})", h.size, inline_max_));
        if (total < process::kFrameHeaderSize || total > max_frame_)
          return fail(fmt::format("a chunked frame of {} bytes (limits {}..{})", total,
                                  process::kFrameHeaderSize, max_frame_));
        std::uint64_t rec = kRecordHeaderBytes + round_up(h.size);
        if (rec > avail)
          return fail(
              fmt::format("a chunk record of {} bytes runs past the {} published", rec, avail));
        if (assembling_ == nullptr) {
          if (h.size > total) return fail("a chunk larger than its frame");
          std::size_t initial = static_cast<std::size_t>(
              std::min<std::uint64_t>(total, std::max<std::size_t>(h.size, kAssembleInitialBytes)));
          assembling_ = core::RefcBinary::create(initial);
          if (assembling_ == nullptr)
            return tl::unexpected(ChannelError{
                ChannelErrc::kIo, fmt::format("no memory for a {}-byte frame", initial)});
          assembling_total_ = total;
          assembled_ = 0;
        } else if (total != assembling_total_ || assembled_ + h.size > total) {
          return fail(fmt::format("a chunk of {} bytes at {} of a {}-byte frame, announced as {}",
                                  h.size, assembled_, assembling_total_, total));
        }
        if (assembled_ + h.size > assembling_->size()) {
          std::size_t next = static_cast<std::size_t>(std::min<std::uint64_t>(
              total, std::max(assembling_->size() * 2, assembled_ + h.size)));
          if (!assembling_->resize(next))
            return tl::unexpected(
                ChannelError{ChannelErrc::kIo, fmt::format("no memory for a {}-byte frame", next)});
        }
        copy_out(tail_ + kRecordHeaderBytes, assembling_->data() + assembled_, h.size);
        assembled_ += h.size;
        consume(rec);
        if (assembled_ == assembling_total_) {
          core::RefcBinary* b = std::exchange(assembling_, nullptr);
          return frame_from({b->data(), assembled_}, b);
        }
        continue;
      }
    }
    return fail(fmt::format("a record of unknown kind {}", h.kind));
  }
}

}  // namespace nifhost::shm
