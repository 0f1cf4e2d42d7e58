#pragma once
// nifhost/process/isolated_backend.hpp — the host side of the isolated
// backends, generic over the channel.
//
// Libraries run in worker processes (one per library, or one per
// LibrarySpec::domain). A call borrows a lane of its library's worker, sends
// CALL, serves the HOST_REQUESTs the NIF makes and reads RESULT or EXCEPTION
// on its own thread. Everything the worker sends is validated; a worker that
// dies, breaks the protocol or misses a deadline is killed and reaped, every
// call in flight on it gets a ContainedFailure (docs/errors.md), and the next
// call restarts it within the restart budget. `process` is this with the
// socket channel (process_backend.hpp); `shm` is this with its own.
//
//   IsolatedBackend backend(BackendKind::kProcess, vm, std::make_unique<SocketChannelFactory>(),
//   {}); auto lib = backend.load({.path = "nifs/nh_terms.so"});
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/types.h>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/process/channel.hpp"

namespace nifhost::process {

struct IsolatedConfig {
  // The worker executable; empty: locate_worker().
  std::filesystem::path worker_path;
  // Frames claiming a larger payload are refused before any of it is read.
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Call lanes per worker: how many calls one worker runs at once.
  unsigned max_lanes = 64;
  // How long a new worker may take to say HELLO.
  std::chrono::milliseconds start_timeout{30'000};
  // How long a load, upgrade or unload callback may run in the worker.
  std::chrono::milliseconds load_timeout{60'000};
  // After a lane closes, how long the worker may take to exit before it is
  // killed and the closing counted as a protocol violation.
  std::chrono::milliseconds exit_grace{2'000};
  // How much of a worker's stderr (and stdout) is kept for failure reports.
  std::size_t stderr_tail_bytes = 16 * 1024;
  // Let crashing workers write core files (off: a crash is contained and
  // reported; a core per crash is seldom wanted).
  bool core_dumps = false;
};

class IsolatedBackend final : public core::Backend {
 public:
  IsolatedBackend(core::BackendKind kind, core::HostServices& host,
                  std::unique_ptr<ChannelFactory> channels, IsolatedConfig config);
  // Stops every worker (SIGKILL) and reaps it.
  ~IsolatedBackend() override;
  IsolatedBackend(const IsolatedBackend&) = delete;
  IsolatedBackend& operator=(const IsolatedBackend&) = delete;

  core::BackendKind kind() const override;
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

  // The process serving `lib` now, or -1 if its worker is not running (for
  // tests and tools: a restart changes it).
  pid_t worker_pid(core::LibraryHandle lib) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Finds the worker executable: $NIFHOST_WORKER; nifhost-worker beside the
// running program or in its ../libexec; beside, or in ../libexec or ../bin of,
// the directory of libnifhost_core; then the install and build trees this was
// configured for. The error lists where it looked.
tl::expected<std::filesystem::path, std::string> locate_worker();

}  // namespace nifhost::process
