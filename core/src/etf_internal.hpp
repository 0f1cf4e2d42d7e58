#pragma once
// Private helpers shared by the ETF encoder (etf.cpp) and decoder (etf_decode.cpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/etf.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core::etf_detail {

inline void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline void put64(std::uint8_t* p, std::uint64_t v) {
  put32(p, static_cast<std::uint32_t>(v >> 32));
  put32(p + 4, static_cast<std::uint32_t>(v));
}
inline std::uint32_t get16(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 8) | std::uint32_t{p[1]};
}
inline std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint64_t get64(const std::uint8_t* p) {
  return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}

inline EtfError make_error(EtfErrc code, std::size_t offset, std::string detail) {
  return EtfError{code, offset, std::move(detail)};
}

// Appends the encoding of t without the version byte (the body of a term inside
// a fun's bytes). Fails only for terms the extension cannot encode.
tl::expected<void, EtfError> append_body(Term t, std::vector<std::uint8_t>& out,
                                         const EtfExtension* extension);

// A stack that lives inline until it outgrows N entries: most terms are shallow,
// and a heap allocation per encode or decode call would cost more than the work.
template <class T, std::size_t N>
class SmallStack {
 public:
  SmallStack() = default;
  SmallStack(const SmallStack&) = delete;
  SmallStack& operator=(const SmallStack&) = delete;

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  T& back() { return data()[size_ - 1]; }
  void push(const T& v) {
    if (size_ == capacity_) grow();
    data()[size_++] = v;
  }
  void pop() { --size_; }

 private:
  T* data() { return spill_ ? spill_.get() : inline_; }
  void grow() {
    std::size_t cap = capacity_ * 2;
    auto bigger = std::make_unique<T[]>(cap);  // throws bad_alloc: callers catch it
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = data()[i];
    spill_ = std::move(bigger);
    capacity_ = cap;
  }

  T inline_[N];
  std::unique_ptr<T[]> spill_;
  std::size_t size_ = 0;
  std::size_t capacity_ = N;
};

}  // namespace nifhost::core::etf_detail
