#pragma once
// nifhost/shm/ring.hpp — one direction of a lane: a single-producer,
// single-consumer ring of records in the segment, plus a data area for large
// frames. Lock-free: nothing a dying peer leaves behind can block the other.
//
// A frame up to Geometry::inline_max() bytes is copied into the ring. A larger
// one that fits the data area is copied there once and announced by a small
// record; the host copies it out once and the worker decodes it in place (a
// lease keeps the area busy until every binary decoded from it is gone). A
// frame larger still, or sent while the area is busy, travels as chunks
// through the ring.
//
// Each end keeps its own index privately and reads only the other end's
// published index, once per look, then checks it: a reader never trusts the
// producer's head beyond the ring's capacity, a writer never trusts a tail
// ahead of what it wrote. Every record header and length is checked before a
// byte is copied; bytes are copied out of the segment once and then parsed.
//
//   RingWriter out(region.control->to_worker, ring, data, geometry, policy);
//   out.write(frame_bytes, deadline, shut);       // other process: RingReader::read
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/offheap.hpp"
#include "nifhost/process/channel.hpp"
#include "nifhost/shm/layout.hpp"
#include "nifhost/shm/segment.hpp"
#include "nifhost/shm/wait.hpp"

namespace nifhost::shm {

using process::ChannelErrc;
using process::ChannelError;
using process::Frame;

class RingWriter {
 public:
  // `ring`: Geometry::ring_bytes bytes; `data`: the direction's data area.
  RingWriter(RingControl& control, std::span<std::uint8_t> ring, std::span<std::uint8_t> data,
             const Geometry& geometry, const WaitPolicy& policy);

  // Publishes one whole frame (any size), waiting for room as needed. One
  // thread at a time. kTimeout, kClosed (shut), or kProtocol: the consumer's
  // published tail claims bytes that were never written.
  tl::expected<void, ChannelError> write(std::span<const std::uint8_t> frame, Deadline deadline,
                                         const std::atomic<bool>& shut);
  // The same for a frame given as consecutive pieces (process::FrameWriter::
  // finish_parts): each piece is copied once, straight to where the reader
  // will find it — the frame is never joined first.
  using Parts = std::span<const std::span<const std::uint8_t>>;
  tl::expected<void, ChannelError> write(Parts parts, Deadline deadline,
                                         const std::atomic<bool>& shut);
  // This end will write nothing more: the reader sees kClosed once it has
  // read everything before.
  void close();
  // Wakes a writer of this ring asleep waiting for room (after setting `shut`).
  void wake();

  // How the last frames went (for tests and statistics).
  struct Counts {
    std::uint64_t inline_frames = 0, data_frames = 0, chunked_frames = 0;
  };
  const Counts& counts() const { return counts_; }

 private:
  struct Cursor;
  tl::expected<void, ChannelError> put_record(RecordKind kind, std::uint64_t extra, Cursor* bytes,
                                              std::size_t count, std::uint32_t size,
                                              Deadline deadline, const std::atomic<bool>& shut);
  bool data_area_free(Deadline deadline);

  RingControl& control_;
  std::span<std::uint8_t> ring_;
  std::span<std::uint8_t> data_;
  std::size_t inline_max_;
  WaitPolicy policy_;
  std::uint64_t head_ = 0;      // private: what this end has written
  std::uint64_t data_seq_ = 0;  // private: the last frame put in the data area
  Counts counts_;
};

// What the reader does with a frame that arrives in the data area.
enum class DataMode {
  kCopy,   // copy it out once into a buffer of its own (the host: the worker may change it)
  kLease,  // decode it where it lies; the area stays busy while anything uses it (the worker)
};

class RingReader {
 public:
  // `keep` is the mapping the ring lives in (leases hold it).
  RingReader(RingControl& control, std::span<std::uint8_t> ring, std::span<std::uint8_t> data,
             const Geometry& geometry, const WaitPolicy& policy, std::size_t max_frame_bytes,
             DataMode mode, std::shared_ptr<Mapping> keep);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // The next whole frame, its header validated (process::parse_header) and its
  // length matching its record. The payload stays valid until the next read.
  // kWouldBlock (Deadline::immediate()), kTimeout, kClosed (the producer
  // closed, or `shut`), kProtocol (anything malformed: after it the ring is
  // unusable).
  tl::expected<Frame, ChannelError> read(Deadline deadline, const std::atomic<bool>& shut);
  // Wakes a reader of this ring asleep waiting for a record (after setting `shut`).
  void wake();
  // Lets go of the last frame read now rather than at the next read (its
  // payload is invalid from here; a data-area frame's lease ends unless
  // decoded terms still hold it).
  void release_frame() { drop_delivered(); }

 private:
  tl::expected<Frame, ChannelError> frame_from(std::span<const std::uint8_t> bytes,
                                               core::OffHeapObject* owner);
  void consume(std::uint64_t bytes);
  void copy_out(std::uint64_t at, std::uint8_t* dst, std::size_t n) const;
  void drop_delivered();

  RingControl& control_;
  std::span<std::uint8_t> ring_;
  std::span<std::uint8_t> data_;
  std::size_t inline_max_;
  WaitPolicy policy_;
  std::size_t max_frame_;  // header included
  DataMode mode_;
  std::shared_ptr<Mapping> keep_;

  std::uint64_t tail_ = 0;                  // private: what this end has consumed
  std::uint64_t data_seq_ = 0;              // private: the last data-area sequence seen
  bool broken_ = false;                     // a protocol error was reported
  std::vector<std::uint8_t> small_;         // the last inline frame, copied out
  core::RefcBinary* assembling_ = nullptr;  // a chunked frame being put together
  std::size_t assembled_ = 0;
  std::uint64_t assembling_total_ = 0;
  core::OffHeapObject* delivered_ = nullptr;  // owner of the last frame returned
};

}  // namespace nifhost::shm
