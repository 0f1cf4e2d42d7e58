#pragma once
// FakeHost: a HostServices that records what the enif runtime asks of the VM,
// for the runtime tests. Processes are pids the test declares alive; sends
// are copied into the host's own heap (as a VM copies a message); monitors
// are remembered until the test kills the process (kill()), which calls
// Resource::notify_down as a VM would.
//
//   FakeHost host;
//   Term pid = host.spawn();
//   EXPECT_TRUE(enif_send(env, &to, nullptr, msg));
//   EXPECT_EQ(host.messages(pid).size(), 1u);
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/term.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core::testing {

class FakeHost final : public HostServices {
 public:
  struct Sent {
    std::optional<Term> from;
    Term to;
    Term msg;  // a copy on the host's heap
  };
  struct Monitor {
    Resource* resource;
    Term pid;
    MonitorId id;
  };

  Term spawn() {
    std::lock_guard lock(mutex_);
    Term pid = make_local_pid(next_pid_++, 0);
    alive_.push_back(pid);
    return pid;
  }

  // The process exits: its monitors fire (outside the host's lock, as a VM
  // runs down callbacks after it has let go of its own structures).
  void kill(Term pid) {
    std::vector<Monitor> fired;
    {
      std::lock_guard lock(mutex_);
      std::erase(alive_, pid);
      for (auto it = monitors_.begin(); it != monitors_.end();) {
        if (it->pid == pid) {
          fired.push_back(*it);
          it = monitors_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const Monitor& m : fired) m.resource->notify_down(m.pid, m.id);
  }

  void register_name(Term name, Term pid_or_port) {
    std::lock_guard lock(mutex_);
    names_[name] = pid_or_port;
  }

  std::vector<Sent> sent() {
    std::lock_guard lock(mutex_);
    return sent_;
  }
  std::vector<Monitor> monitors() {
    std::lock_guard lock(mutex_);
    return monitors_;
  }
  std::vector<MonitorId> demonitored() {
    std::lock_guard lock(mutex_);
    return demonitored_;
  }
  std::vector<std::pair<Term, Term>> port_commands() {
    std::lock_guard lock(mutex_);
    return port_commands_;
  }
  // Ports the host says are open.
  void open_port(Term port) {
    std::lock_guard lock(mutex_);
    ports_.push_back(port);
  }

  bool send(std::optional<Term> from, Term to, Term msg) override {
    std::lock_guard lock(mutex_);
    if (!is_alive_locked(to)) return false;
    sent_.push_back(Sent{from, to, copy_term(heap_, msg)});
    return true;
  }
  std::optional<Term> whereis_pid(Term name) override {
    std::lock_guard lock(mutex_);
    auto it = names_.find(name);
    if (it == names_.end() || !is_pid(it->second)) return std::nullopt;
    return it->second;
  }
  std::optional<Term> whereis_port(Term name) override {
    std::lock_guard lock(mutex_);
    auto it = names_.find(name);
    if (it == names_.end() || !is_port(it->second)) return std::nullopt;
    return it->second;
  }
  bool is_process_alive(Term pid) override {
    std::lock_guard lock(mutex_);
    return is_alive_locked(pid);
  }
  bool is_port_alive(Term port) override {
    std::lock_guard lock(mutex_);
    return std::find(ports_.begin(), ports_.end(), port) != ports_.end();
  }
  int monitor_process(Resource& resource, Term pid, MonitorId& out) override {
    std::lock_guard lock(mutex_);
    if (!is_alive_locked(pid)) return 1;
    out = MonitorId{next_monitor_++};
    monitors_.push_back(Monitor{&resource, pid, out});
    return 0;
  }
  int demonitor_process(Resource& resource, MonitorId monitor) override {
    std::lock_guard lock(mutex_);
    demonitored_.push_back(monitor);
    for (auto it = monitors_.begin(); it != monitors_.end(); ++it) {
      if (it->resource == &resource && it->id == monitor) {
        monitors_.erase(it);
        return 0;
      }
    }
    return 1;
  }
  bool port_command(Term port, Term msg) override {
    std::lock_guard lock(mutex_);
    if (std::find(ports_.begin(), ports_.end(), port) == ports_.end()) return false;
    port_commands_.emplace_back(port, copy_term(heap_, msg));
    return true;
  }

 private:
  bool is_alive_locked(Term pid) const {
    return std::find(alive_.begin(), alive_.end(), pid) != alive_.end();
  }

  std::mutex mutex_;
  Heap heap_;
  std::uint32_t next_pid_ = 100;
  std::uint64_t next_monitor_ = 1;
  std::vector<Term> alive_;
  std::vector<Term> ports_;
  std::map<Term, Term> names_;
  std::vector<Sent> sent_;
  std::vector<Monitor> monitors_;
  std::vector<MonitorId> demonitored_;
  std::vector<std::pair<Term, Term>> port_commands_;
};

}  // namespace nifhost::core::testing
