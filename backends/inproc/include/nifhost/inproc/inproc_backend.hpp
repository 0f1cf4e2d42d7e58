#pragma once
// nifhost/inproc/inproc_backend.hpp — NIF libraries loaded into the host itself.
//
// The baseline design: the library is dlopen'ed into this process and a call
// is a direct C call on the caller's heap, run by the same dispatcher the
// BEAM's schedulers would be (nif_call.hpp). No isolation: a crashing NIF
// takes the host with it. Thread-safe; calls from many threads run at once.
//
//   auto backend = nifhost::inproc::make_inproc_backend(vm).value();
//   auto lib = backend->load({.path = "nifs/nh_terms.so"});
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/registry.hpp"

namespace nifhost::inproc {

class InprocBackend final : public core::Backend {
 public:
  explicit InprocBackend(core::HostServices& host) : host_(host) {}
  // Unloads every library (unload callbacks run here, or when the last
  // resource of a library's types goes).
  ~InprocBackend() override;

  core::BackendKind kind() const override { return core::BackendKind::kInproc; }
  tl::expected<core::LibraryHandle, core::LoadError> load(const core::LibrarySpec& spec) override;
  tl::expected<core::LibraryHandle, core::LoadError> upgrade(
      core::LibraryHandle old, const core::LibrarySpec& spec) override;
  tl::expected<void, core::LoadError> unload(core::LibraryHandle lib) override;
  tl::expected<core::LibraryInfo, core::LoadError> info(core::LibraryHandle lib) const override;
  tl::expected<core::FunctionHandle, core::LoadError> lookup(core::LibraryHandle lib,
                                                             std::string_view name,
                                                             unsigned arity) const override;
  core::CallResult call(core::FunctionHandle fn, const core::Caller& caller,
                        std::span<const core::Term> args) override;
  core::BackendStats stats() const override;

 private:
  core::HostServices& host_;
  core::Registry registry_;
  // Load, upgrade and unload one at a time (the BEAM holds the code write
  // permission for them).
  std::mutex lifecycle_;
  // Calls share it; an upgrade callback runs alone, as the BEAM runs it with
  // the other schedulers blocked.
  std::shared_mutex upgrade_gate_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> exceptions_{0};
  std::atomic<std::uint64_t> contained_failures_{0};
};

tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_inproc_backend(
    core::HostServices& host);

}  // namespace nifhost::inproc
