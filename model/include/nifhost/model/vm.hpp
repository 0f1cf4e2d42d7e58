#pragma once
// nifhost/model/vm.hpp — a minimal VM that consumes the backend interface.
//
// Processes with a pid, a heap, a mailbox, registered names and an exit; NIF
// calls on behalf of a process, named by handle; and the HostServices a NIF
// reaches through enif_send, enif_whereis_pid, enif_is_process_alive and
// monitors. Schedulers and workloads build on this.
//
//   auto vm = nifhost::model::Vm::create(BackendKind::kInproc).value();
//   Process& p = vm->spawn();  auto r = vm->call(p, fn, args);  auto msg = p.receive();
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/load_error.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::model {

using core::Term;

class Vm;

// A simulated Erlang process. Its heap belongs to whichever thread runs the
// process (one at a time, as on a scheduler); mailbox and state are
// thread-safe. Messages arrive as heap fragments (like the BEAM's message
// buffers) so a sender never touches the heap the receiver is using, and
// become part of the process's heap when received.
class Process {
 public:
  Term pid() const { return pid_; }
  core::Heap& heap() { return heap_; }

  bool alive() const;
  // The exit reason once the process has exited (nullopt while alive).
  std::optional<Term> exit_reason() const;

  // The oldest message, or nullopt if the mailbox is empty. The term lives
  // as long as the process.
  std::optional<Term> receive();
  // Waits up to `timeout` for a message.
  std::optional<Term> receive(std::chrono::milliseconds timeout);
  std::size_t mailbox_size() const;

  // The NIF libraries this process has called into (the seed's per-process
  // NIF tracking, by handle: a stale one is detectable, never followed).
  std::vector<core::LibraryHandle> nif_libraries() const;

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

 private:
  friend class Vm;
  explicit Process(Term pid) : pid_(pid) {}
  struct Message {
    std::unique_ptr<core::Heap> fragment;
    Term term;
  };
  std::optional<Term> take_locked();

  const Term pid_;
  core::Heap heap_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Message> mailbox_;
  std::vector<std::unique_ptr<core::Heap>> received_;  // fragments now part of the heap
  bool alive_ = true;
  Term exit_reason_ = core::kNilTerm;
  std::vector<core::LibraryHandle> nif_libraries_;
};

class Vm final : public core::HostServices {
 public:
  // A VM whose NIFs run on a backend of `kind` (see nifhost/backends/select.hpp).
  static tl::expected<std::unique_ptr<Vm>, core::LoadError> create(core::BackendKind kind);
  // Unloads every library, then lets every process go.
  ~Vm() override;
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  core::Backend& backend() { return *backend_; }

  Process& spawn();
  // The process with this pid, alive or exited; nullptr if there is none.
  Process* find(Term pid);
  // Ends a process: its names go, its mailbox is dropped, and every monitor
  // on it fires (the resource type's down callback runs in this thread).
  void exit(Process& process, Term reason);

  // erlang:register/2: false if the name is taken, is `undefined`, or the
  // process is not alive.
  bool register_name(Term name, Process& process);
  bool unregister_name(Term name);

  // Loads a library (backend().load) and looks a function up by name/arity.
  tl::expected<core::LibraryHandle, core::LoadError> load(const core::LibrarySpec& spec);
  tl::expected<core::FunctionHandle, core::LoadError> lookup(core::LibraryHandle library,
                                                             std::string_view name, unsigned arity);
  // Runs a NIF on behalf of `process`: arguments and result live on its heap.
  core::CallResult call(Process& process, core::FunctionHandle fn, std::span<const Term> args);

  // HostServices
  bool send(std::optional<Term> from, Term to, Term msg) override;
  std::optional<Term> whereis_pid(Term name) override;
  std::optional<Term> whereis_port(Term name) override;
  bool is_process_alive(Term pid) override;
  bool is_port_alive(Term port) override;
  int monitor_process(core::Resource& resource, Term pid, core::MonitorId& out) override;
  int demonitor_process(core::Resource& resource, core::MonitorId monitor) override;
  bool port_command(Term port, Term msg) override;

  // Monitors currently active (for tests and statistics).
  std::size_t monitor_count() const;

 private:
  Vm() = default;
  Process* find_locked(Term pid);

  // A resource's monitors do not keep it alive: when it goes, the resource
  // code removes them (demonitor_process). A monitor whose down callback is
  // running is "firing"; removing it waits for the callback, so the resource
  // cannot be freed under it.
  struct Monitor {
    core::Resource* resource;
    Term pid;
  };

  std::unique_ptr<core::Backend> backend_;
  mutable std::mutex mutex_;  // processes_, names_, monitors_
  std::unordered_map<std::uint32_t, std::unique_ptr<Process>> processes_;
  std::unordered_map<Term, Term> names_;  // name atom -> pid
  std::unordered_map<std::uint64_t, Monitor> monitors_;
  std::unordered_map<std::uint64_t, std::thread::id> firing_;  // monitor -> thread running down
  std::condition_variable fired_;
  std::uint32_t next_process_id_ = 0;
  std::uint64_t next_monitor_id_ = 0;
};

}  // namespace nifhost::model
