// The enif ABI's resource objects: opening types, allocating, reference
// counting, resource terms and binaries, and dynamic resource calls.
//
// Follows erl_nif.c of OTP 25: types may be opened only while the library's
// load or upgrade callback runs; what was opened is committed when the
// callback succeeds (resource_registry.hpp).
#include <cstdint>
#include <string>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"
#include "resource_registry.hpp"

namespace core = nifhost::core;
namespace enif = nifhost::core::enif;
using core::Resource;
using core::Term;

namespace {

// The resource a term refers to: a resource term, or a binary whose bytes
// belong to a resource (enif_make_resource_binary), as enif_get_resource
// accepts both.
Resource* resource_of(Term term) {
  core::OffHeapObject* object = nullptr;
  if (core::is_boxed_of(term, core::Subtag::kResource)) {
    object = core::resource_object(term);
  } else if (core::is_bitstring(term)) {
    core::BitstringView v = core::bitstring_view(term);
    if (v.is_binary()) object = v.owner;
  }
  if (object == nullptr || object->type() != core::OffHeapObject::Type::kResource) return nullptr;
  return static_cast<Resource*>(object);
}

}  // namespace

extern "C" {

ErlNifResourceType* enif_open_resource_type(ErlNifEnv* env, const char* module_str,
                                            const char* name_str, ErlNifResourceDtor* dtor,
                                            ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  // module_str must be NULL (the BEAM asserts it); the calling library's
  // module is used either way.
  (void)module_str;
  ErlNifResourceTypeInit init{};
  init.dtor = dtor;
  return enif::guard<ErlNifResourceType*>(
      nullptr, [&] { return core::resources::open_type(env, name_str, init, 1, flags, tried); });
}

ErlNifResourceType* enif_open_resource_type_x(ErlNifEnv* env, const char* name_str,
                                              const ErlNifResourceTypeInit* init,
                                              ErlNifResourceFlags flags,
                                              ErlNifResourceFlags* tried) {
  if (init == nullptr) {
    if (tried != nullptr) *tried = flags;
    return nullptr;
  }
  return enif::guard<ErlNifResourceType*>(
      nullptr, [&] { return core::resources::open_type(env, name_str, *init, 3, flags, tried); });
}

ErlNifResourceType* enif_init_resource_type(ErlNifEnv* env, const char* name_str,
                                            const ErlNifResourceTypeInit* init,
                                            ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  if (init == nullptr) {
    if (tried != nullptr) *tried = flags;
    return nullptr;
  }
  return enif::guard<ErlNifResourceType*>(nullptr, [&] {
    return core::resources::open_type(env, name_str, *init, init->members, flags, tried);
  });
}

// NULL when out of memory (the BEAM aborts the VM instead).
void* enif_alloc_resource(ErlNifResourceType* type, size_t size) {
  Resource* r = Resource::create(type, size);
  return r != nullptr ? r->data() : nullptr;
}

void enif_release_resource(void* obj) {
  if (obj != nullptr) Resource::from_data(obj)->release();
}

void enif_keep_resource(void* obj) {
  if (obj != nullptr) Resource::from_data(obj)->acquire();
}

size_t enif_sizeof_resource(void* obj) { return Resource::from_data(obj)->size(); }

ERL_NIF_TERM enif_make_resource(ErlNifEnv* env, void* obj) {
  return enif::guard_term(
      env, [&] { return core::make_resource_term(enif::heap_of(env), Resource::from_data(obj)); });
}

// A binary term whose bytes are [data, data + size) — memory the resource
// owns — keeping the resource alive as long as the binary is.
ERL_NIF_TERM enif_make_resource_binary(ErlNifEnv* env, void* obj, const void* data, size_t size) {
  return enif::guard_term(env, [&] {
    return core::make_binary_view(enif::heap_of(env), Resource::from_data(obj),
                                  static_cast<const std::uint8_t*>(data), size);
  });
}

int enif_get_resource(ErlNifEnv*, ERL_NIF_TERM term, ErlNifResourceType* type, void** objp) {
  Resource* r = resource_of(term);
  if (r == nullptr || r->type() != type) return 0;
  if (objp != nullptr) *objp = r->data();
  return 1;
}

// Calls the dyncall callback of `rsrc`'s type if that type is the one named
// (module, name); 0 when it was called, 1 otherwise (erl_nif.c).
int enif_dynamic_resource_call(ErlNifEnv* env, ERL_NIF_TERM module, ERL_NIF_TERM name,
                               ERL_NIF_TERM rsrc, void* call_data) {
  if (!core::is_atom(module) || !core::is_atom(name) ||
      !core::is_boxed_of(rsrc, core::Subtag::kResource))
    return 1;
  Resource* r = resource_of(rsrc);
  if (r == nullptr) return 1;
  const ErlNifResourceType* type = r->type();
  if (core::atom_text(module) != type->module || core::atom_text(name) != type->name) return 1;
  core::resources::TypeCallbacks cb = core::resources::callbacks_of(type);
  if (cb.init.dyncall == nullptr) return 1;
  cb.init.dyncall(env, r->data(), call_data);
  return 0;
}

}  // extern "C"
