#include "nifhost/core/registry.hpp"

#include <cassert>
#include <limits>
#include <mutex>
#include <utility>

#include <fmt/format.h>

namespace nifhost::core {

namespace {
constexpr std::uint32_t kRetiredGeneration = std::numeric_limits<std::uint32_t>::max();

LoadError not_loaded(std::string text) { return {LoadErrc::kNotLoaded, std::move(text)}; }
}  // namespace

const Registry::Slot* Registry::live_slot(LibraryHandle handle, LoadError& error) const {
  if (handle.index >= slots_.size() || slots_[handle.index].generation == 0) {
    error = not_loaded(fmt::format("unknown library handle (slot {}, generation {})", handle.index,
                                   handle.generation));
    return nullptr;
  }
  const Slot& slot = slots_[handle.index];
  if (slot.library == nullptr || slot.generation != handle.generation) {
    error = not_loaded(fmt::format(
        "stale library handle (slot {}, generation {}): the library was unloaded or replaced",
        handle.index, handle.generation));
    return nullptr;
  }
  return &slot;
}

tl::expected<LibraryHandle, LoadError> Registry::add(std::shared_ptr<NifLibrary> library) {
  assert(library != nullptr);
  std::unique_lock lock(mutex_);
  const std::string& module = library->module();
  if (by_module_.contains(module))
    return tl::make_unexpected(LoadError{
        LoadErrc::kReload, "NIF library already loaded (reload disallowed since OTP 20)."});
  std::uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.generation += 1;
  slot.library = std::move(library);
  by_module_.emplace(module, index);
  return LibraryHandle{index, slot.generation};
}

tl::expected<std::pair<LibraryHandle, std::shared_ptr<NifLibrary>>, LoadError> Registry::replace(
    LibraryHandle old, std::shared_ptr<NifLibrary> library) {
  assert(library != nullptr);
  std::unique_lock lock(mutex_);
  LoadError error;
  if (live_slot(old, error) == nullptr) return tl::make_unexpected(error);
  Slot& slot = slots_[old.index];
  if (slot.library->module() != library->module())
    return tl::make_unexpected(
        LoadError{LoadErrc::kBadLib,
                  fmt::format("Library module name '{}' does not match calling module '{}'",
                              library->module(), slot.library->module())});
  std::shared_ptr<NifLibrary> previous = std::exchange(slot.library, std::move(library));
  // A slot whose generation would wrap is never handed out again.
  if (slot.generation + 1 == kRetiredGeneration) {
    std::uint32_t index = static_cast<std::uint32_t>(slots_.size());
    Slot fresh{1, std::move(slot.library)};
    slot.generation = kRetiredGeneration;
    slots_.push_back(std::move(fresh));
    by_module_[slots_.back().library->module()] = index;
    return std::pair{LibraryHandle{index, 1}, std::move(previous)};
  }
  slot.generation += 1;
  return std::pair{LibraryHandle{old.index, slot.generation}, std::move(previous)};
}

tl::expected<std::shared_ptr<NifLibrary>, LoadError> Registry::remove(LibraryHandle handle) {
  std::unique_lock lock(mutex_);
  LoadError error;
  if (live_slot(handle, error) == nullptr) return tl::make_unexpected(error);
  Slot& slot = slots_[handle.index];
  std::shared_ptr<NifLibrary> library = std::move(slot.library);
  slot.library = nullptr;
  by_module_.erase(library->module());
  // Bump now, so the handle is stale even before the slot is reused.
  slot.generation += 1;
  if (slot.generation < kRetiredGeneration - 1) free_slots_.push_back(handle.index);
  return library;
}

tl::expected<std::shared_ptr<NifLibrary>, LoadError> Registry::library(LibraryHandle handle) const {
  std::shared_lock lock(mutex_);
  LoadError error;
  const Slot* slot = live_slot(handle, error);
  if (slot == nullptr) return tl::make_unexpected(error);
  return slot->library;
}

std::optional<LibraryHandle> Registry::find(std::string_view module) const {
  std::shared_lock lock(mutex_);
  auto it = by_module_.find(std::string(module));
  if (it == by_module_.end()) return std::nullopt;
  return LibraryHandle{it->second, slots_[it->second].generation};
}

tl::expected<FunctionHandle, LoadError> Registry::lookup(LibraryHandle handle,
                                                         std::string_view name,
                                                         unsigned arity) const {
  std::shared_lock lock(mutex_);
  LoadError error;
  const Slot* slot = live_slot(handle, error);
  if (slot == nullptr) return tl::make_unexpected(error);
  auto index = slot->library->find_function(name, arity);
  if (!index)
    return tl::make_unexpected(LoadError{
        LoadErrc::kNoFunction, fmt::format("{}:{}/{} is not a NIF of {}", slot->library->module(),
                                           name, arity, slot->library->info().path)});
  return FunctionHandle{handle, *index};
}

tl::expected<Registry::Resolved, LoadError> Registry::resolve(FunctionHandle fn) const {
  std::shared_lock lock(mutex_);
  LoadError error;
  const Slot* slot = live_slot(fn.library, error);
  if (slot == nullptr) return tl::make_unexpected(error);
  auto functions = slot->library->functions();
  if (fn.index >= functions.size())
    return tl::make_unexpected(LoadError{
        LoadErrc::kNoFunction, fmt::format("function handle {} is out of range ({} has {} NIFs)",
                                           fn.index, slot->library->module(), functions.size())});
  return Resolved{slot->library, &functions[fn.index]};
}

std::vector<LibraryHandle> Registry::handles() const {
  std::shared_lock lock(mutex_);
  std::vector<LibraryHandle> out;
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].library != nullptr)
      out.push_back(LibraryHandle{static_cast<std::uint32_t>(i), slots_[i].generation});
  return out;
}

std::size_t Registry::size() const {
  std::shared_lock lock(mutex_);
  return by_module_.size();
}

}  // namespace nifhost::core
