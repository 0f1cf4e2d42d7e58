#pragma once
// nifhost/shm/segment.hpp — the shared segment: an anonymous memory file
// (memfd) the host creates, sizes and seals, mapped with Boost.Interprocess
// in the host and in the worker, which inherits the descriptor.
//
// A memfd has no name in any file system, so no other process (another
// worker, say) can open it; it disappears with its last descriptor and
// mapping, so a crash leaks nothing. The host seals its size before the worker
// starts: a worker that could shrink the file would turn the host's next read
// of a mapped page into SIGBUS.
//
//   auto seg = Segment::create(kSegmentName, geometry.segment_bytes()).value();   // host
//   auto lane = seg.map(geometry.lane_offset(1), geometry.lane_stride()).value();
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/interprocess/mapped_region.hpp>
#include <tl/expected.hpp>

namespace nifhost::shm {

// One mapped range of a segment; unmapped when the last owner lets go (the
// worker's decoded binaries may keep a lane's mapping alive past its lane).
class Mapping {
 public:
  explicit Mapping(boost::interprocess::mapped_region region) : region_(std::move(region)) {}
  std::uint8_t* data() { return static_cast<std::uint8_t*>(region_.get_address()); }
  std::size_t size() const { return region_.get_size(); }

 private:
  boost::interprocess::mapped_region region_;
};

class Segment {
 public:
  // Host: a new memfd of `bytes` (zero-filled, pages allocated on first
  // touch), sealed against growing, shrinking and further seals.
  static tl::expected<Segment, std::string> create(std::string_view name, std::size_t bytes);
  // Worker: the segment behind an inherited descriptor (takes ownership).
  // Refused if it is smaller than `min_bytes`.
  static tl::expected<Segment, std::string> adopt(int fd, std::size_t min_bytes);

  Segment(Segment&& o) noexcept;
  Segment& operator=(Segment&& o) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  // Maps [offset, offset + bytes) read-write, shared. `populate`: fault the
  // pages in now (for the small, always-touched parts).
  tl::expected<std::shared_ptr<Mapping>, std::string> map(std::size_t offset, std::size_t bytes,
                                                          bool populate = false) const;
  int fd() const { return fd_; }
  std::size_t size() const { return size_; }

 private:
  Segment(int fd, std::size_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  std::size_t size_ = 0;
};

}  // namespace nifhost::shm
