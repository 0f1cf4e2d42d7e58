#include "nifhost/inproc/inproc_backend.hpp"

#include <cassert>
#include <utility>

#include <fmt/format.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::inproc {

using core::LoadErrc;
using core::LoadError;

namespace {

// The load_info term of a spec, on `heap`: 0 when none is given, as
// erlang:load_nif(Path, 0) is the common call.
tl::expected<core::Term, LoadError> load_info_term(const core::LibrarySpec& spec,
                                                   core::Heap& heap) {
  if (spec.load_info_etf.empty()) return core::make_small(0);
  auto t = core::decode(spec.load_info_etf, heap);
  if (!t)
    return tl::make_unexpected(
        LoadError{LoadErrc::kBadArg, "load info is not an external term: " + t.error().what()});
  return *t;
}

// {nifhost, Module, Function, Why} on the caller's heap (docs/errors.md).
core::ContainedFailure contained(core::Heap& heap, core::Term module, core::Term function,
                                 core::Term why, std::string detail) {
  return core::ContainedFailure{
      core::make_tuple(heap, {core::atoms::kNifhost, module, function, why}), std::move(detail)};
}

}  // namespace

InprocBackend::~InprocBackend() {
  std::lock_guard life(lifecycle_);
  auto handles = registry_.handles();
  for (auto it = handles.rbegin(); it != handles.rend(); ++it) (void)registry_.remove(*it);
  core::NifLibrary::collect_retired();
}

tl::expected<core::LibraryHandle, LoadError> InprocBackend::load(const core::LibrarySpec& spec) {
  std::lock_guard life(lifecycle_);
  // As erts_load_nif: a module whose NIFs are loaded is refused before the
  // file is even opened.
  const LoadError reload{LoadErrc::kReload,
                         "NIF library already loaded (reload disallowed since OTP 20)."};
  if (!spec.module.empty() && registry_.find(spec.module)) return tl::make_unexpected(reload);
  auto lib = core::NifLibrary::open(spec.path, {.expected_module = spec.module});
  if (!lib) return tl::make_unexpected(lib.error());
  if (registry_.find((*lib)->module())) return tl::make_unexpected(reload);

  core::Heap heap;
  auto info = load_info_term(spec, heap);
  if (!info) return tl::make_unexpected(info.error());
  if (auto ok = (*lib)->load(&host_, *info); !ok) return tl::make_unexpected(ok.error());
  return registry_.add(std::move(*lib));
}

tl::expected<core::LibraryHandle, LoadError> InprocBackend::upgrade(core::LibraryHandle old,
                                                                    const core::LibrarySpec& spec) {
  std::shared_ptr<core::NifLibrary> previous;
  std::pair<core::LibraryHandle, std::shared_ptr<core::NifLibrary>> replaced;
  {
    std::lock_guard life(lifecycle_);
    auto prev = registry_.library(old);
    if (!prev) return tl::make_unexpected(prev.error());
    previous = std::move(*prev);
    if (!spec.module.empty() && spec.module != previous->module())
      return tl::make_unexpected(
          LoadError{LoadErrc::kBadArg, fmt::format("cannot upgrade module {} with a library for {}",
                                                   previous->module(), spec.module)});
    auto lib = core::NifLibrary::open(spec.path, {.expected_module = previous->module()});
    if (!lib) return tl::make_unexpected(lib.error());

    core::Heap heap;
    auto info = load_info_term(spec, heap);
    if (!info) return tl::make_unexpected(info.error());
    {
      std::unique_lock gate(upgrade_gate_);
      if (auto ok = (*lib)->upgrade(*previous, &host_, *info); !ok)
        return tl::make_unexpected(ok.error());
      auto r = registry_.replace(old, std::move(*lib));
      // The old handle was live under the lifecycle lock a moment ago.
      if (!r) return tl::make_unexpected(r.error());
      replaced = std::move(*r);
    }
  }
  // The old instance is purged now: its handles are stale, and once no call
  // is left in it (and no resource of its types) its unload callback runs.
  previous.reset();
  replaced.second.reset();
  return replaced.first;
}

tl::expected<void, LoadError> InprocBackend::unload(core::LibraryHandle lib) {
  std::shared_ptr<core::NifLibrary> removed;
  {
    std::lock_guard life(lifecycle_);
    auto r = registry_.remove(lib);
    if (!r) return tl::make_unexpected(r.error());
    removed = std::move(*r);
  }
  removed.reset();  // unloads now unless a call or a resource still needs the code
  return {};
}

tl::expected<core::LibraryInfo, LoadError> InprocBackend::info(core::LibraryHandle lib) const {
  auto l = registry_.library(lib);
  if (!l) return tl::make_unexpected(l.error());
  return (*l)->info();
}

tl::expected<core::FunctionHandle, LoadError> InprocBackend::lookup(core::LibraryHandle lib,
                                                                    std::string_view name,
                                                                    unsigned arity) const {
  return registry_.lookup(lib, name, arity);
}

core::CallResult InprocBackend::call(core::FunctionHandle fn, const core::Caller& caller,
                                     std::span<const core::Term> args) {
  assert(caller.heap != nullptr && "a call needs the caller's heap");
  calls_.fetch_add(1, std::memory_order_relaxed);
  auto resolved = registry_.resolve(fn);
  if (!resolved) {
    contained_failures_.fetch_add(1, std::memory_order_relaxed);
    return {contained(*caller.heap, core::atoms::kUndefined, core::atoms::kUndefined,
                      core::atom("stale_handle"), resolved.error().message())};
  }
  const core::NifFunction& f = *resolved->function;
  if (args.size() != f.arity) {
    contained_failures_.fetch_add(1, std::memory_order_relaxed);
    core::Heap& heap = *caller.heap;
    return {contained(
        heap, resolved->library->context().module_atom, f.name_atom,
        core::make_tuple(heap, {core::atom("badarity"),
                                core::make_integer(heap, static_cast<std::int64_t>(args.size()))}),
        fmt::format("{}:{}/{} called with {} arguments", resolved->library->module(), f.name,
                    f.arity, args.size()))};
  }

  const ErlNifFunc entry{f.name.c_str(), f.arity, f.fptr, f.flags};
  core::CallOutcome outcome;
  {
    std::shared_lock gate(upgrade_gate_);
    outcome =
        core::run_nif(resolved->library->context(), entry, *caller.heap, caller.self, host_, args);
  }
  if (auto* e = std::get_if<core::Exception>(&outcome)) {
    exceptions_.fetch_add(1, std::memory_order_relaxed);
    return {*e};
  }
  return {std::get<core::Term>(outcome)};
}

core::BackendStats InprocBackend::stats() const {
  return core::BackendStats{calls_.load(std::memory_order_relaxed),
                            exceptions_.load(std::memory_order_relaxed),
                            contained_failures_.load(std::memory_order_relaxed), 0};
}

tl::expected<std::unique_ptr<core::Backend>, LoadError> make_inproc_backend(
    core::HostServices& host) {
  return std::make_unique<InprocBackend>(host);
}

}  // namespace nifhost::inproc
