#pragma once
// nifhost/core/offheap.hpp — reference-counted objects that terms point at
// from outside any heap: refc binaries and resources.
//
// A heap holds one reference to each off-heap object its terms use and drops
// it when the heap is cleared, as the BEAM's MSO list does.
//
//   RefcBinary* b = RefcBinary::create(1024);   // refcount 1, owned by caller
//   heap.keep(b);                               // the heap now owns that reference
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nifhost::core {

class OffHeapObject {
 public:
  enum class Type : std::uint8_t { kBinary, kResource, kRemoteResource };
  explicit OffHeapObject(Type t) : type_(t) {}
  OffHeapObject(const OffHeapObject&) = delete;
  OffHeapObject& operator=(const OffHeapObject&) = delete;

  void acquire() { refc_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refc_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  std::int64_t refcount() const { return refc_.load(std::memory_order_acquire); }
  Type type() const { return type_; }

 protected:
  virtual ~OffHeapObject() = default;
  virtual void destroy() = 0;  // called once, when the last reference goes

 private:
  std::atomic<std::int64_t> refc_{1};
  Type type_;
};

// A binary whose bytes live outside any heap and are shared by reference.
class RefcBinary final : public OffHeapObject {
 public:
  // Returns nullptr if the allocation fails.
  static RefcBinary* create(std::size_t size);
  // Resizes in place (only while uniquely owned). False if allocation fails.
  bool resize(std::size_t size);
  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

  static std::int64_t live_count();  // for leak tests

 private:
  RefcBinary() : OffHeapObject(Type::kBinary) {}
  ~RefcBinary() override;
  void destroy() override { delete this; }
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// A resource that lives in an isolated worker: the host holds terms that point
// here (Subtag::kHandle); when the last one goes, destroy() tells the worker so
// the resource's destructor runs there. Backends subclass it.
class RemoteResource : public OffHeapObject {
 public:
  RemoteResource(std::uint64_t domain, std::uint64_t generation, std::uint64_t id,
                 std::uint64_t type_tag)
      : OffHeapObject(Type::kRemoteResource),
        domain_(domain),
        generation_(generation),
        id_(id),
        type_tag_(type_tag) {}
  std::uint64_t domain() const { return domain_; }          // which worker
  std::uint64_t generation() const { return generation_; }  // which incarnation of it
  std::uint64_t id() const { return id_; }                  // the worker's handle
  std::uint64_t type_tag() const { return type_tag_; }      // the resource type

 private:
  std::uint64_t domain_, generation_, id_, type_tag_;
};

}  // namespace nifhost::core
