#pragma once
// failure.hpp — why an isolated call did not complete: the Why of
// {nifhost, Module, Function, Why} (docs/errors.md lists every one).
#include <cstdint>
#include <string>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::process::detail {

struct Failure {
  enum class Kind {
    kSignal,           // {signal, 'SIGSEGV'}: the worker was killed by a signal
    kExitStatus,       // {exit_status, N}: the worker exited
    kTimeout,          // timeout: a call on the worker missed its deadline; it was killed
    kProtocol,         // {protocol, Text}: the worker sent what the protocol forbids; killed
    kShutdown,         // shutdown: the backend stopped the worker (unload, destruction)
    kStartFailed,      // {start_failed, Text}: a worker could not be started
    kBudgetExhausted,  // {restart_budget_exhausted, N}: too many restarts; library failed
    kReloadFailed,     // {reload_failed, Text}: a restarted worker could not load it again
    kStaleResource,    // stale_resource: a handle from an earlier incarnation of the worker
    kForeignResource,  // foreign_resource: a handle of a resource living in another worker
    kTooLarge,         // {too_large, Bytes}: the arguments exceed the frame limit
  };
  Kind kind;
  std::int64_t value = 0;  // signal number, exit status, restart count
  std::string text;

  static Failure signal(int sig) { return {Kind::kSignal, sig, {}}; }
  static Failure exit_status(int status) { return {Kind::kExitStatus, status, {}}; }
  static Failure timeout() { return {Kind::kTimeout, 0, {}}; }
  static Failure protocol(std::string text) { return {Kind::kProtocol, 0, std::move(text)}; }
  static Failure shutdown() { return {Kind::kShutdown, 0, {}}; }
  static Failure start_failed(std::string text) { return {Kind::kStartFailed, 0, std::move(text)}; }

  // The Why term, on `heap`.
  core::Term why(core::Heap& heap) const;
  // A sentence for ContainedFailure::detail.
  std::string describe() const;
  // True for the kinds that end a worker.
  bool ends_worker() const {
    return kind == Kind::kSignal || kind == Kind::kExitStatus || kind == Kind::kTimeout ||
           kind == Kind::kProtocol || kind == Kind::kShutdown;
  }
};

}  // namespace nifhost::process::detail
