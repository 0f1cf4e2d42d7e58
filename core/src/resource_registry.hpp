#pragma once
// resource_registry.hpp — the process-wide table of NIF resource types.
//
// Types are keyed by (module, name), as in the BEAM's resource_type_list, so
// that an upgraded library finds the types of the instance it replaces and
// can take them over (ERL_NIF_RT_TAKEOVER). What a load or upgrade callback
// opens is pending until the callback succeeds: created types become
// visible, taken-over types switch to the new library's callbacks; a failed
// callback rolls all of it back (erl_nif.c: prepare/commit/rollback_opened_rt).
//
//   ResourceTypeOpening opening(library, entry->sizeof_ErlNifResourceTypeInit);
//   if (load(env, &priv, info) == 0) opening.commit();   // else rolled back
#include <cstddef>
#include <cstdint>

#include "nifhost/core/env.hpp"
#include "nifhost/core/resource.hpp"

namespace nifhost::core {

// Allows enif_open_resource_type[_x] and enif_init_resource_type for the
// library while it lives (they return NULL at any other time), and undoes
// what they opened unless commit() is called. sizeof_init is the size of
// ErlNifResourceTypeInit the library was built with (0 if it predates 2.12):
// no more of a library's ErlNifResourceTypeInit than that is read.
class ResourceTypeOpening {
 public:
  ResourceTypeOpening(LibraryContext& library, std::size_t sizeof_init);
  ~ResourceTypeOpening();
  void commit();
  ResourceTypeOpening(const ResourceTypeOpening&) = delete;
  ResourceTypeOpening& operator=(const ResourceTypeOpening&) = delete;

 private:
  LibraryContext& library_;
  bool committed_ = false;
};

// True while a resource of a type whose callbacks belong to `library` is
// alive: the library's code must stay mapped (the BEAM's dynlib_refc).
bool resources_pending_for(const LibraryContext& library);

// The library is unloaded: its types leave the registry (a later load of the
// module creates new ones). Types with live resources stay until the last
// one goes; their callbacks are not called after this if none are live.
void forget_resource_types(LibraryContext& library);

namespace resources {

// enif_open_resource_type / _x / enif_init_resource_type. `members` is how
// many leading callbacks of `init` to read (1: dtor; 3: dtor, stop, down;
// 4: and dyncall), bounded by what the library's init struct holds.
ErlNifResourceType* open_type(ErlNifEnv* env, const char* name, const ErlNifResourceTypeInit& init,
                              int members, ErlNifResourceFlags flags, ErlNifResourceFlags* tried);

// The callbacks and owner of a type now (a takeover may change them at any
// time, so callers copy them once per use).
struct TypeCallbacks {
  ErlNifResourceTypeInit init{};
  LibraryContext* owner = nullptr;
};
TypeCallbacks callbacks_of(const ErlNifResourceType* type);

// Bookkeeping for Resource::create / Resource::destroy.
void type_resource_created(ErlNifResourceType* type);
void type_resource_destroyed(ErlNifResourceType* type);

}  // namespace resources
}  // namespace nifhost::core
