// The shared segment: memfd creation and sealing, Boost.Interprocess mapping.
#include "nifhost/shm/segment.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <boost/interprocess/exceptions.hpp>
#include <fmt/format.h>

#include "nifhost/shm/layout.hpp"

namespace nifhost::shm {

namespace {

namespace bip = boost::interprocess;

// Boost.Interprocess maps anything that names a descriptor; it has no memfd
// type of its own, so this is the memfd's face for mapped_region.
struct FdMappable {
  int fd;
  bip::mapping_handle_t get_mapping_handle() const {
    bip::mapping_handle_t h;
    h.handle = fd;
    h.is_xsi = false;
    return h;
  }
};

std::string sys(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

}  // namespace

std::string Geometry::check() const {
  if (ring_bytes < kPageBytes || (ring_bytes & (ring_bytes - 1)) != 0)
    return fmt::format("the ring size {} is not a power of two of at least {}", ring_bytes,
                       kPageBytes);
  if (data_bytes % kPageBytes != 0 || data_bytes > (std::uint64_t{1} << 40))
    return fmt::format("the data area size {} is not a multiple of {} (up to 1 TiB)", data_bytes,
                       kPageBytes);
  if (max_lanes == 0 || max_lanes > 4096) return fmt::format("{} lanes (1..4096)", max_lanes);
  return {};
}

LaneRegion lane_region(std::uint8_t* base, const Geometry& g) {
  std::uint8_t* p = base + kPageBytes;
  LaneRegion r;
  r.control = reinterpret_cast<LaneControl*>(base);
  r.ring_to_worker = p;
  r.ring_to_host = p + g.ring_bytes;
  r.data_to_worker = p + 2 * std::size_t{g.ring_bytes};
  r.data_to_host = r.data_to_worker + g.data_bytes;
  return r;
}

tl::expected<Segment, std::string> Segment::create(std::string_view name, std::size_t bytes) {
  std::string n(name);
  int fd = ::memfd_create(n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return tl::unexpected(sys("memfd_create"));
  Segment seg(fd, bytes);
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return tl::unexpected(sys("ftruncate"));
  // Fixed size for good: the worker can neither shrink the file under the
  // host's mappings (SIGBUS) nor add seals of its own (F_SEAL_WRITE would
  // make the host's writes fail).
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return tl::unexpected(sys("sealing the segment"));
  return seg;
}

tl::expected<Segment, std::string> Segment::adopt(int fd, std::size_t min_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return tl::unexpected(sys("fstat"));
  if (st.st_size < 0 || static_cast<std::size_t>(st.st_size) < min_bytes)
    return tl::unexpected(fmt::format(
        "the segment has {} bytes, fewer than the {} its layout needs", st.st_size, min_bytes));
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0)
    return tl::unexpected(std::string("the segment is not sealed against shrinking"));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Segment(fd, static_cast<std::size_t>(st.st_size));
}

Segment::Segment(Segment&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), size_(std::exchange(o.size_, 0)) {}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Segment::~Segment() {
  if (fd_ >= 0) ::close(fd_);
}

tl::expected<std::shared_ptr<Mapping>, std::string> Segment::map(std::size_t offset,
                                                                 std::size_t bytes,
                                                                 bool populate) const {
  if (offset > size_ || bytes > size_ - offset || bytes == 0)
    return tl::unexpected(
        fmt::format("[{}, +{}) is not inside the {}-byte segment", offset, bytes, size_));
  try {
    bip::mapped_region region(FdMappable{fd_}, bip::read_write, static_cast<bip::offset_t>(offset),
                              bytes, nullptr, populate ? MAP_POPULATE : bip::default_map_options);
    return std::make_shared<Mapping>(std::move(region));
  } catch (const bip::interprocess_exception& e) {
    return tl::unexpected(fmt::format("mapping the segment: {}", e.what()));
  } catch (const std::bad_alloc&) {
    return tl::unexpected(std::string("mapping the segment: out of memory"));
  }
}

}  // namespace nifhost::shm
