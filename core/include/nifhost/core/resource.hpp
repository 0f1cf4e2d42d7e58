#pragma once
// nifhost/core/resource.hpp — NIF resources and their types.
//
// A resource is an off-heap object of a resource type; terms hold references
// (Subtag::kResource), as do enif_keep_resource callers; the destructor runs
// when the last reference goes. Types are keyed by (module, name) so an
// upgraded library can take a type over (ERL_NIF_RT_TAKEOVER).
//
//   ErlNifResourceType* t = enif_open_resource_type(env, nullptr, "counter", dtor,
//                                                   ERL_NIF_RT_CREATE, nullptr);
//   void* obj = enif_alloc_resource(t, sizeof(int));
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "nifhost/core/env.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/offheap.hpp"

// erl_nif.h declares `typedef struct enif_resource_type_t ErlNifResourceType;`.
struct enif_resource_type_t {
  std::string module;
  std::string name;
  ErlNifResourceTypeInit init{};  // dtor, stop, down, members, dyncall (callbacks of the owner)
  nifhost::core::LibraryContext* owner = nullptr;  // the library instance whose callbacks run
  std::atomic<std::int64_t> live{0};               // resources of this type still alive
};

namespace nifhost::core {

class Resource final : public OffHeapObject {
 public:
  // The object's user data (what enif_alloc_resource returns) lies right
  // after the header, aligned for any type.
  static Resource* create(ErlNifResourceType* type, std::size_t size);
  static Resource* from_data(void* data);
  void* data() { return reinterpret_cast<std::uint8_t*>(this) + kHeaderSize; }
  ErlNifResourceType* type() const { return type_; }
  std::size_t size() const { return size_; }
  // The VM calls this when a monitored process exits (runs the down callback).
  void notify_down(Term pid, MonitorId monitor);
  static std::int64_t live_count();

 private:
  static constexpr std::size_t kHeaderSize = 64;
  Resource(ErlNifResourceType* type, std::size_t size)
      : OffHeapObject(Type::kResource), type_(type), size_(size) {}
  ~Resource() override = default;
  void destroy() override;  // runs the type's destructor in a callback env, then frees
  ErlNifResourceType* type_;
  std::size_t size_;
};

}  // namespace nifhost::core
