#pragma once
// Terms as the external format shows them, for term order and hashing:
// the fields of a fun (funs are kept as opaque ETF bytes) and the reference a
// resource is encoded as. Private to core.
//
//   FunInfo f = parse_fun(fun_bytes(t));
//   if (f.valid && f.is_export) use(f.module, f.function, f.arity);
//   auto env = decode_free_vars(f, heap);   // the free variables as terms
//   std::uint32_t ids[3]; resource_ref_words(t, ids);
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core::detail {

struct FunInfo {
  bool valid = false;      // false: not an encoding we understand
  bool is_export = false;  // EXPORT_EXT (fun M:F/A) rather than NEW_FUN_EXT
  std::string module;      // UTF-8
  std::string function;    // export funs only
  std::uint32_t arity = 0;
  std::uint32_t num_free = 0;
  std::uint32_t index = 0;
  std::int64_t old_index = 0;
  std::int64_t old_uniq = 0;
  std::span<const std::uint8_t> free_vars;  // ETF of the free variables, back to back
};

class FunReader {
 public:
  explicit FunReader(std::span<const std::uint8_t> b) : b_(b) {}
  bool u8(std::uint32_t& v) {
    if (pos_ + 1 > b_.size()) return false;
    v = b_[pos_++];
    return true;
  }
  bool u16(std::uint32_t& v) {
    if (pos_ + 2 > b_.size()) return false;
    v = (std::uint32_t{b_[pos_]} << 8) | b_[pos_ + 1];
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (pos_ + 4 > b_.size()) return false;
    v = (std::uint32_t{b_[pos_]} << 24) | (std::uint32_t{b_[pos_ + 1]} << 16) |
        (std::uint32_t{b_[pos_ + 2]} << 8) | b_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool skip(std::size_t n) {
    if (pos_ + n > b_.size()) return false;
    pos_ += n;
    return true;
  }
  // ATOM_EXT, SMALL_ATOM_EXT (latin-1) or their UTF-8 forms, as UTF-8.
  bool atom(std::string& out) {
    std::uint32_t tag, len;
    if (!u8(tag)) return false;
    bool ok = (tag == 100 || tag == 118) ? u16(len) : (tag == 115 || tag == 119) ? u8(len) : false;
    if (!ok || pos_ + len > b_.size()) return false;
    out.clear();
    for (std::size_t i = 0; i < len; ++i) {
      std::uint8_t c = b_[pos_ + i];
      if ((tag == 100 || tag == 115) && c >= 0x80) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    pos_ += len;
    return true;
  }
  // SMALL_INTEGER_EXT or INTEGER_EXT.
  bool integer(std::int64_t& v) {
    std::uint32_t tag, x;
    if (!u8(tag)) return false;
    if (tag == 97) {
      if (!u8(x)) return false;
      v = x;
      return true;
    }
    if (tag == 98) {
      if (!u32(x)) return false;
      v = static_cast<std::int32_t>(x);
      return true;
    }
    return false;
  }
  // PID_EXT or NEW_PID_EXT.
  bool pid() {
    std::uint32_t tag;
    std::string node;
    if (!u8(tag) || (tag != 103 && tag != 88) || !atom(node)) return false;
    return skip(tag == 88 ? 12 : 9);
  }
  std::span<const std::uint8_t> rest() const { return b_.subspan(pos_); }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

inline FunInfo parse_fun(std::span<const std::uint8_t> bytes) {
  FunInfo f;
  if (!bytes.empty() && bytes[0] == 131) bytes = bytes.subspan(1);  // version byte
  FunReader r(bytes);
  std::uint32_t tag;
  if (!r.u8(tag)) return f;
  if (tag == 113) {  // EXPORT_EXT: Module, Function, Arity
    std::int64_t arity;
    if (!r.atom(f.module) || !r.atom(f.function) || !r.integer(arity)) return f;
    f.arity = static_cast<std::uint32_t>(arity);
    f.is_export = true;
    f.valid = true;
    return f;
  }
  if (tag != 112) return f;  // NEW_FUN_EXT
  std::uint32_t size;
  if (!r.u32(size) || !r.u8(f.arity) || !r.skip(16) || !r.u32(f.index) || !r.u32(f.num_free) ||
      !r.atom(f.module) || !r.integer(f.old_index) || !r.integer(f.old_uniq) || !r.pid())
    return f;
  f.free_vars = r.rest();
  f.valid = true;
  return f;
}

// The free variables of a local fun, decoded onto `heap`; nullopt if their
// bytes do not decode (they then take part only as bytes).
inline std::optional<std::vector<Term>> decode_free_vars(const FunInfo& f, Heap& heap) {
  std::vector<Term> env;
  // One copy with a version byte in front; each later variable gets one by
  // overwriting the last byte of the one before it (already decoded).
  std::vector<std::uint8_t> buf(1 + f.free_vars.size());
  std::copy(f.free_vars.begin(), f.free_vars.end(), buf.begin() + 1);
  DecodeOptions options;
  options.beam_identifier_limits = false;
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < f.num_free; ++i) {
    buf[pos] = kEtfVersion;
    auto d = decode_prefix(std::span<const std::uint8_t>(buf).subspan(pos), heap, options);
    if (!d || d->used < 2) return std::nullopt;
    env.push_back(d->term);
    pos += d->used - 1;
  }
  return env;
}

// The words of the local reference (nonode@nohost, creation 0) a resource
// term is encoded as; this must match the encoder (etf.cpp), which
// tests/order_test.cpp checks. Ordering and hashing a resource as that
// reference makes both agree with the BEAM once the term has crossed over.
inline void resource_ref_words(Term resource, std::uint32_t ids[3]) {
  auto v = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(resource_object(resource)));
  ids[0] = static_cast<std::uint32_t>(v & 0x3FFFF);
  ids[1] = static_cast<std::uint32_t>(v >> 18);
  ids[2] = 0x4E480000u | static_cast<std::uint32_t>((v >> 50) & 0xFFFF);
}

}  // namespace nifhost::core::detail
