#include "nifhost/core/offheap.hpp"

#include <cstdlib>
#include <new>

namespace nifhost::core {

namespace {
std::atomic<std::int64_t> g_live_binaries{0};
}

RefcBinary* RefcBinary::create(std::size_t size) {
  auto* b = new (std::nothrow) RefcBinary();
  if (b == nullptr) return nullptr;
  // malloc(0) may return nullptr; keep data non-null so views are always valid.
  b->data_ = static_cast<std::uint8_t*>(std::malloc(size == 0 ? 1 : size));
  if (b->data_ == nullptr) {
    delete b;
    return nullptr;
  }
  b->size_ = size;
  g_live_binaries.fetch_add(1, std::memory_order_relaxed);
  return b;
}

bool RefcBinary::resize(std::size_t size) {
  auto* p = static_cast<std::uint8_t*>(std::realloc(data_, size == 0 ? 1 : size));
  if (p == nullptr) return false;
  data_ = p;
  size_ = size;
  return true;
}

RefcBinary::~RefcBinary() {
  std::free(data_);
  g_live_binaries.fetch_sub(1, std::memory_order_relaxed);
}

std::int64_t RefcBinary::live_count() { return g_live_binaries.load(std::memory_order_relaxed); }

}  // namespace nifhost::core
