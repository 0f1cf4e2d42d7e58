#pragma once
// FakeLibrary: a library instance as the loader makes one, without a shared
// object: its load/upgrade callback is a lambda run in a callback env while
// resource types may be opened, committed when it returns true. Unloading
// (destruction) forgets its resource types.
//
//   FakeLibrary lib("mymod", &host);
//   lib.load([&](ErlNifEnv* env) { type = enif_open_resource_type_x(env, ...); return true; });
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "../src/resource_registry.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"

namespace nifhost::core::testing {

struct FakeLibrary {
  LibraryContext ctx;
  explicit FakeLibrary(std::string module, HostServices* host = nullptr) {
    ctx.module = std::move(module);
    ctx.host = host;
  }
  ~FakeLibrary() { forget_resource_types(ctx); }
  FakeLibrary(const FakeLibrary&) = delete;
  FakeLibrary& operator=(const FakeLibrary&) = delete;

  bool load(const std::function<bool(ErlNifEnv*)>& callback,
            std::size_t sizeof_init = sizeof(ErlNifResourceTypeInit)) {
    Heap heap;
    EnvScope env(EnvKind::kCallback, heap, &ctx, ctx.host);
    ResourceTypeOpening opening(ctx, sizeof_init);
    bool ok = callback(env.get());
    if (ok) opening.commit();
    return ok;
  }
};

}  // namespace nifhost::core::testing
