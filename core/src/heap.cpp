#include "nifhost/core/heap.hpp"

#include <algorithm>
#include <cassert>

namespace nifhost::core {

Heap::Heap(std::size_t initial_words) {
  initial_words = std::max<std::size_t>(initial_words, 16);
  chunks_.push_back(Chunk{std::make_unique<Term[]>(initial_words), initial_words, 0});
  reserved_ = initial_words;
}

Heap::~Heap() { clear(); }

Heap::Heap(Heap&& other) noexcept
    : chunks_(std::move(other.chunks_)),
      offheap_(std::move(other.offheap_)),
      used_(other.used_),
      reserved_(other.reserved_) {
  other.chunks_.clear();
  other.offheap_.clear();
  other.used_ = other.reserved_ = 0;
}

Heap& Heap::operator=(Heap&& other) noexcept {
  if (this != &other) {
    clear();
    chunks_ = std::move(other.chunks_);
    offheap_ = std::move(other.offheap_);
    used_ = other.used_;
    reserved_ = other.reserved_;
    other.chunks_.clear();
    other.offheap_.clear();
    other.used_ = other.reserved_ = 0;
  }
  return *this;
}

Term* Heap::allocate_words(std::size_t words) {
  if (chunks_.empty() || chunks_.back().capacity - chunks_.back().used < words) {
    // Grow geometrically so a large term costs few chunks.
    std::size_t cap =
        std::max(words, chunks_.empty() ? kDefaultWords : chunks_.back().capacity * 2);
    chunks_.push_back(Chunk{std::make_unique<Term[]>(cap), cap, 0});
    reserved_ += cap;
  }
  Chunk& c = chunks_.back();
  Term* p = c.words.get() + c.used;
  c.used += words;
  used_ += words;
  return p;
}

std::size_t Heap::available_words() const {
  if (chunks_.empty()) return 0;
  return chunks_.back().capacity - chunks_.back().used;
}

void Heap::keep(OffHeapObject* object) { offheap_.push_back(object); }

void Heap::clear() {
  for (OffHeapObject* o : offheap_) o->release();
  offheap_.clear();
  if (!chunks_.empty()) {
    chunks_.resize(1);
    chunks_[0].used = 0;
    reserved_ = chunks_[0].capacity;
  }
  used_ = 0;
}

bool Heap::contains(const void* p) const {
  const auto* t = static_cast<const Term*>(p);
  return std::any_of(chunks_.begin(), chunks_.end(), [t](const Chunk& c) {
    return t >= c.words.get() && t < c.words.get() + c.used;
  });
}

}  // namespace nifhost::core
