// What every channel shares.
#include "nifhost/process/channel.hpp"

#include <vector>

namespace nifhost::process {

const char* channel_errc_name(ChannelErrc code) {
  switch (code) {
    case ChannelErrc::kClosed:
      return "closed";
    case ChannelErrc::kTimeout:
      return "timeout";
    case ChannelErrc::kWouldBlock:
      return "would_block";
    case ChannelErrc::kProtocol:
      return "protocol";
    case ChannelErrc::kIo:
      return "io";
  }
  return "unknown";
}

tl::expected<void, ChannelError> Lane::send_parts(
    std::span<const std::span<const std::uint8_t>> parts, Deadline deadline) {
  if (parts.size() == 1) return send(parts[0], deadline);
  std::vector<std::uint8_t> joined;
  std::size_t total = 0;
  for (auto p : parts) total += p.size();
  joined.reserve(total);
  for (auto p : parts) joined.insert(joined.end(), p.begin(), p.end());
  return send(joined, deadline);
}

}  // namespace nifhost::process
