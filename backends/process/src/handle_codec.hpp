#pragma once
// handle_codec.hpp — the bytes of the wire's private handle term, shared by
// the host's and the worker's ETF extensions. The layout is the one
// core::HandleExtension documents: 'H' and four big-endian 64-bit words.
#include <cstddef>
#include <cstdint>
#include <span>

#include "nifhost/core/etf.hpp"

namespace nifhost::process::detail {

inline constexpr std::uint8_t kHandleTag = core::HandleExtension::kTag;
inline constexpr std::size_t kHandleSize = core::HandleExtension::kSize;

inline void put_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
inline std::uint64_t get_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

inline void write_handle(std::uint8_t* out, const core::HandleWords& w) {
  out[0] = kHandleTag;
  put_be64(out + 1, w.domain);
  put_be64(out + 9, w.generation);
  put_be64(out + 17, w.id);
  put_be64(out + 25, w.type_tag);
}

// Caller checked in.size() >= kHandleSize and in[0] == kHandleTag.
inline core::HandleWords read_handle(std::span<const std::uint8_t> in) {
  return core::HandleWords{get_be64(in.data() + 1), get_be64(in.data() + 9),
                           get_be64(in.data() + 17), get_be64(in.data() + 25)};
}

}  // namespace nifhost::process::detail
