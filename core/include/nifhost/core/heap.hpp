#pragma once
// nifhost/core/heap.hpp — an env's heap: an arena of words that grows.
//
// Terms hold raw pointers into the heap, so the heap never moves what it has
// handed out: it grows by adding chunks (like the BEAM's heap fragments) and
// frees everything at once on clear() or destruction. This is the seed's
// NifEnv surface: allocate words, available space, heap top, heap size.
//
//   Heap heap;
//   Term* words = heap.allocate_words(3);     // never nullptr (throws bad_alloc)
//   std::size_t used = heap.heap_top();
#include <cstddef>
#include <memory>
#include <vector>

#include "nifhost/core/offheap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

class Heap {
 public:
  static constexpr std::size_t kDefaultWords = 512;

  explicit Heap(std::size_t initial_words = kDefaultWords);
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  Heap(Heap&&) noexcept;
  Heap& operator=(Heap&&) noexcept;

  // Allocates `words` contiguous words. Grows by a new chunk when needed.
  Term* allocate_words(std::size_t words);
  // Words still free in the current chunk (an allocation up to this never grows).
  std::size_t available_words() const;
  // Words handed out since the last clear, over all chunks.
  std::size_t heap_top() const { return used_; }
  // Words reserved over all chunks.
  std::size_t heap_size() const { return reserved_; }

  // Takes over one reference to an off-heap object; released on clear().
  void keep(OffHeapObject* object);
  // Frees all terms and drops all off-heap references; keeps the first chunk.
  void clear();
  // True if p points into memory this heap handed out.
  bool contains(const void* p) const;

 private:
  struct Chunk {
    std::unique_ptr<Term[]> words;
    std::size_t capacity;
    std::size_t used;
  };
  std::vector<Chunk> chunks_;
  std::vector<OffHeapObject*> offheap_;
  std::size_t used_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace nifhost::core
