// Hex helpers for the BEAM oracle's text protocol, where every payload is
// lowercase hex. Kept apart from nifhost's codecs on purpose: the oracle checks
// them, so it must not share code with them.
//
//   std::string line = "roundtrip " + nifhost::testing::to_hex(etf);
//   std::optional<std::vector<std::uint8_t>> bytes = nifhost::testing::from_hex("8361 01");  //
//   nullopt
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nifhost::testing {

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

inline std::string to_hex(std::string_view text) {
  return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// Accepts either case; nullopt on an odd length or a character that is not a hex digit.
inline std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = value(hex[2 * i]);
    const int lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

// The hex payload decoded as text (the oracle's `<text>` fields are hex of UTF-8).
inline std::optional<std::string> text_from_hex(std::string_view hex) {
  auto bytes = from_hex(hex);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace nifhost::testing
