#include "nifhost/model/vm.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::model {

using core::kNilTerm;

// ------------------------------------------------------------------ Process

bool Process::alive() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

std::optional<Term> Process::exit_reason() const {
  std::lock_guard lock(mutex_);
  if (alive_) return std::nullopt;
  return exit_reason_;
}

std::optional<Term> Process::take_locked() {
  if (mailbox_.empty()) return std::nullopt;
  Message m = std::move(mailbox_.front());
  mailbox_.pop_front();
  received_.push_back(std::move(m.fragment));
  return m.term;
}

std::optional<Term> Process::receive() {
  std::lock_guard lock(mutex_);
  return take_locked();
}

std::optional<Term> Process::receive(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  arrived_.wait_for(lock, timeout, [&] { return !mailbox_.empty() || !alive_; });
  return take_locked();
}

std::size_t Process::mailbox_size() const {
  std::lock_guard lock(mutex_);
  return mailbox_.size();
}

std::vector<core::LibraryHandle> Process::nif_libraries() const {
  std::lock_guard lock(mutex_);
  return nif_libraries_;
}

// ------------------------------------------------------------------ Vm

tl::expected<std::unique_ptr<Vm>, core::LoadError> Vm::create(core::BackendKind kind) {
  std::unique_ptr<Vm> vm(new Vm());
  auto backend = backends::make_backend(kind, *vm);
  if (!backend) return tl::make_unexpected(backend.error());
  vm->backend_ = std::move(*backend);
  // enif calls with no env outside any call (a NIF's own thread) reach the
  // first VM made; the destructor hands the role back.
  if (core::default_host() == nullptr) core::set_default_host(vm.get());
  return vm;
}

Vm::~Vm() {
  // The processes go first: their heaps hold resources, whose destructors
  // run in libraries that are still loaded and may demonitor through this VM
  // (so the lock is not held). Then the backend unloads every library.
  std::unordered_map<std::uint32_t, std::unique_ptr<Process>> processes;
  {
    std::lock_guard lock(mutex_);
    names_.clear();
    processes.swap(processes_);
  }
  processes.clear();
  backend_.reset();
  // Libraries that waited for resources on those heaps can unload now.
  core::NifLibrary::collect_retired();
  if (core::default_host() == this) core::set_default_host(nullptr);
}

Process& Vm::spawn() {
  std::lock_guard lock(mutex_);
  std::uint32_t id = next_process_id_++;
  auto process = std::unique_ptr<Process>(new Process(core::make_local_pid(id, 0)));
  Process& ref = *process;
  processes_.emplace(id, std::move(process));
  return ref;
}

Process* Vm::find_locked(Term pid) {
  if (!core::is_local_pid(pid) || core::local_pid_serial(pid) != 0) return nullptr;
  auto it = processes_.find(core::local_pid_id(pid));
  return it == processes_.end() ? nullptr : it->second.get();
}

Process* Vm::find(Term pid) {
  std::lock_guard lock(mutex_);
  return find_locked(pid);
}

void Vm::exit(Process& process, Term reason) {
  std::vector<std::pair<std::uint64_t, Monitor>> fired;
  {
    std::lock_guard lock(mutex_);
    {
      std::lock_guard plock(process.mutex_);
      if (!process.alive_) return;
      process.alive_ = false;
      // The reason must outlive the caller's heap: keep a copy on the process's.
      auto fragment = std::make_unique<core::Heap>(core::flat_size(reason) + 1);
      process.exit_reason_ = core::copy_term(*fragment, reason);
      process.received_.push_back(std::move(fragment));
      process.mailbox_.clear();
    }
    process.arrived_.notify_all();
    std::erase_if(names_, [&](const auto& kv) { return kv.second == process.pid(); });
    for (auto it = monitors_.begin(); it != monitors_.end();) {
      if (it->second.pid == process.pid()) {
        fired.emplace_back(it->first, it->second);
        firing_.emplace(it->first, std::this_thread::get_id());
        it = monitors_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Down callbacks run without the VM lock: they may send, monitor or look up.
  std::sort(fired.begin(), fired.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, m] : fired) m.resource->notify_down(m.pid, core::MonitorId{id});
  if (!fired.empty()) {
    std::lock_guard lock(mutex_);
    for (auto& [id, m] : fired) firing_.erase(id);
    fired_.notify_all();
  }
}

bool Vm::register_name(Term name, Process& process) {
  if (!core::is_atom(name) || name == core::atoms::kUndefined) return false;
  std::lock_guard lock(mutex_);
  if (!process.alive() || names_.contains(name)) return false;
  for (const auto& [n, pid] : names_)
    if (pid == process.pid()) return false;  // a process has at most one name
  names_.emplace(name, process.pid());
  return true;
}

bool Vm::unregister_name(Term name) {
  std::lock_guard lock(mutex_);
  return names_.erase(name) > 0;
}

tl::expected<core::LibraryHandle, core::LoadError> Vm::load(const core::LibrarySpec& spec) {
  return backend_->load(spec);
}

tl::expected<core::FunctionHandle, core::LoadError> Vm::lookup(core::LibraryHandle library,
                                                               std::string_view name,
                                                               unsigned arity) {
  return backend_->lookup(library, name, arity);
}

core::CallResult Vm::call(Process& process, core::FunctionHandle fn, std::span<const Term> args) {
  {
    std::lock_guard lock(process.mutex_);
    auto& libs = process.nif_libraries_;
    if (std::find(libs.begin(), libs.end(), fn.library) == libs.end()) libs.push_back(fn.library);
  }
  return backend_->call(fn, core::Caller{&process.heap(), process.pid()}, args);
}

// ------------------------------------------------------------------ HostServices

bool Vm::send(std::optional<Term> /*from*/, Term to, Term msg) {
  // Copy outside any lock into a fragment of its own; only the hand-over locks.
  auto fragment = std::make_unique<core::Heap>(core::flat_size(msg) + 1);
  Term copy = core::copy_term(*fragment, msg);
  std::lock_guard lock(mutex_);
  Process* p = find_locked(to);
  if (p == nullptr) return false;
  {
    std::lock_guard plock(p->mutex_);
    if (!p->alive_) return false;
    p->mailbox_.push_back(Process::Message{std::move(fragment), copy});
  }
  p->arrived_.notify_one();
  return true;
}

std::optional<Term> Vm::whereis_pid(Term name) {
  std::lock_guard lock(mutex_);
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::optional<Term> Vm::whereis_port(Term) { return std::nullopt; }

bool Vm::is_process_alive(Term pid) {
  std::lock_guard lock(mutex_);
  Process* p = find_locked(pid);
  return p != nullptr && p->alive();
}

bool Vm::is_port_alive(Term) { return false; }

int Vm::monitor_process(core::Resource& resource, Term pid, core::MonitorId& out) {
  std::lock_guard lock(mutex_);
  Process* p = find_locked(pid);
  if (p == nullptr || !p->alive()) return 1;
  std::uint64_t id = ++next_monitor_id_;
  monitors_.emplace(id, Monitor{&resource, pid});
  out = core::MonitorId{id};
  return 0;
}

int Vm::demonitor_process(core::Resource& resource, core::MonitorId monitor) {
  std::unique_lock lock(mutex_);
  auto it = monitors_.find(monitor.value);
  if (it != monitors_.end() && it->second.resource == &resource) {
    monitors_.erase(it);
    return 0;
  }
  // Fired already. If its down callback is running in another thread, wait:
  // the caller may be about to free the resource (the callback's own thread
  // may remove it, e.g. by releasing the resource from the callback).
  fired_.wait(lock, [&] {
    auto f = firing_.find(monitor.value);
    return f == firing_.end() || f->second == std::this_thread::get_id();
  });
  return 1;
}

bool Vm::port_command(Term, Term) { return false; }

std::size_t Vm::monitor_count() const {
  std::lock_guard lock(mutex_);
  return monitors_.size();
}

}  // namespace nifhost::model
