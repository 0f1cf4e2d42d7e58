#pragma once
// nifhost/shm/layout.hpp — the shared segment's layout: where each lane's
// control words, rings and data areas lie, and who may write what.
//
// One segment per worker: a header page, then one region per call lane. Each
// lane has a ring and a data area in each direction; each ring has a producer
// line (written only by its producer) and a consumer line (written only by its
// consumer). docs/shm-layout.md draws it and states the rules the host follows
// because the worker can write any of it at any time.
//
//   Geometry g{.ring_bytes = 64 << 10, .data_bytes = 32 << 20, .max_lanes = 64};
//   LaneRegion r = lane_region(mapping->data(), g);   // a lane's mapping, from lane_offset(id)
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace nifhost::shm {

// The memfd's name: /proc/<pid>/maps shows "/memfd:nifhost-shm (deleted)".
inline constexpr char kSegmentName[] = "nifhost-shm";
// "NIFHSHM1" read as a little-endian word.
inline constexpr std::uint64_t kSegmentMagic = 0x314D485348464E49ull;
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kPageBytes = 4096;
// Records start on 16-byte boundaries, so a record header never wraps.
inline constexpr std::size_t kRecordAlign = 16;
inline constexpr std::size_t kRecordHeaderBytes = 16;

// How a ring record carries its frame.
enum class RecordKind : std::uint16_t {
  kInline = 1,  // the frame's bytes follow the record header
  kData = 2,    // the frame is the first `size` bytes of the data area; `extra` is its sequence
  kChunk = 3,   // part of a frame too large for the data area; `extra` is the whole frame's size
};

// Ring record header, as it lies in the ring (little-endian, 16 bytes).
struct RecordHeader {
  std::uint32_t size;   // frame bytes (kInline, kData) or this chunk's bytes (kChunk)
  std::uint16_t kind;   // RecordKind
  std::uint16_t zero;   // reserved, 0
  std::uint64_t extra;  // kData: data sequence number; kChunk: total frame bytes; kInline: 0
};
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);

// The sizes every lane of a segment shares. The worker is told them on its
// command line and checks them against the segment header.
struct Geometry {
  std::uint32_t ring_bytes = 64u << 10;   // each ring; a power of two, at least one page
  std::uint64_t data_bytes = 8ull << 20;  // each data area; a multiple of the page size
  std::uint32_t max_lanes = 64;

  // Frames up to this size travel inline in the ring; larger ones through the
  // data area, or in chunks of this size when they do not fit it.
  std::size_t inline_max() const { return ring_bytes / 4; }
  std::size_t lane_stride() const {
    return kPageBytes + 2 * std::size_t{ring_bytes} + 2 * static_cast<std::size_t>(data_bytes);
  }
  // Lanes are numbered from 1 (lane 0 is the control lane, a socket).
  std::size_t lane_offset(std::uint32_t id) const {
    return kPageBytes + std::size_t{id - 1} * lane_stride();
  }
  std::size_t segment_bytes() const { return kPageBytes + std::size_t{max_lanes} * lane_stride(); }
  // Empty if usable, else what is wrong.
  std::string check() const;
};

// The segment's first page (written once by the host, before the worker starts).
struct SegmentHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t max_lanes;
  std::uint64_t ring_bytes;
  std::uint64_t data_bytes;
};

// The words of one direction. Each line is written by one side only; the
// other side reads it (and, to wake its own sleeping thread when it shuts a
// lane down, may bump a bell — a bell carries no information).
struct alignas(64) ProducerLine {
  std::uint64_t head;               // bytes published (monotonic; position = head % ring_bytes)
  std::uint32_t data_bell;          // futex word the consumer sleeps on; bumped on publish
  std::uint32_t producer_sleeping;  // producers asleep waiting for space
  std::uint32_t closed;             // 1: the producer will send nothing more
};
struct alignas(64) ConsumerLine {
  std::uint64_t tail;               // bytes consumed
  std::uint64_t data_done;          // sequence of the last data-area frame the consumer let go of
  std::uint32_t space_bell;         // futex word the producer sleeps on; bumped on consume
  std::uint32_t consumer_sleeping;  // consumers asleep waiting for a record
};
struct RingControl {
  ProducerLine producer;
  ConsumerLine consumer;
};
struct LaneControl {
  RingControl to_worker;  // the host produces (requests, host replies)
  RingControl to_host;    // the worker produces (results, host requests)
};
static_assert(sizeof(LaneControl) == 256);

// Pointers into one lane's mapping (lane_stride() bytes from lane_offset(id)).
struct LaneRegion {
  LaneControl* control;
  std::uint8_t* ring_to_worker;
  std::uint8_t* ring_to_host;
  std::uint8_t* data_to_worker;
  std::uint8_t* data_to_host;
};
LaneRegion lane_region(std::uint8_t* base, const Geometry& g);

// Atomic access to a word of the segment. The segment is plain memory shared
// with another process: every access to a control word goes through here
// (lock-free atomics are address-free, so they work across processes).
template <class T>
std::atomic_ref<T> word(T& w) {
  static_assert(std::atomic_ref<T>::is_always_lock_free);
  return std::atomic_ref<T>(w);
}

}  // namespace nifhost::shm
