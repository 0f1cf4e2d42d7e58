#pragma once
// nifhost/core/registry.hpp — the loaded NIF libraries, by module and by handle.
//
// Callers hold handles (slot index + generation), never pointers: unloading or
// upgrading a library bumps its slot's generation, so an old handle is refused
// with kNotLoaded instead of being followed. Thread-safe; resolve() is the
// per-call path and takes only a shared lock.
//
//   LibraryHandle h = registry.add(std::move(lib)).value();
//   auto fn = registry.resolve(registry.lookup(h, "echo", 1).value());  // .library, .function
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/core/loader.hpp"

namespace nifhost::core {

class Registry {
 public:
  // A function ready to call; `library` keeps the code mapped for the call.
  struct Resolved {
    std::shared_ptr<NifLibrary> library;
    const NifFunction* function;
  };

  // Registers a loaded library under its module. kReload if the module is
  // already registered (the BEAM refuses a second load of a module's NIFs).
  tl::expected<LibraryHandle, LoadError> add(std::shared_ptr<NifLibrary> library);
  // Puts `library` (same module) in place of `old`; `old` and its function
  // handles go stale. Returns the new handle and hands back the old library.
  tl::expected<std::pair<LibraryHandle, std::shared_ptr<NifLibrary>>, LoadError> replace(
      LibraryHandle old, std::shared_ptr<NifLibrary> library);
  // Unregisters; the handle and its function handles go stale.
  tl::expected<std::shared_ptr<NifLibrary>, LoadError> remove(LibraryHandle handle);

  tl::expected<std::shared_ptr<NifLibrary>, LoadError> library(LibraryHandle handle) const;
  std::optional<LibraryHandle> find(std::string_view module) const;
  tl::expected<FunctionHandle, LoadError> lookup(LibraryHandle handle, std::string_view name,
                                                 unsigned arity) const;
  tl::expected<Resolved, LoadError> resolve(FunctionHandle fn) const;
  // Every registered library, in registration order of their slots.
  std::vector<LibraryHandle> handles() const;
  std::size_t size() const;

 private:
  struct Slot {
    std::uint32_t generation = 0;  // 0: never used; a live slot's handles carry it
    std::shared_ptr<NifLibrary> library;
  };
  // Caller holds the lock. nullptr with `error` set if the handle is not live.
  const Slot* live_slot(LibraryHandle handle, LoadError& error) const;

  mutable std::shared_mutex mutex_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<std::string, std::uint32_t> by_module_;
};

}  // namespace nifhost::core
