// The enif ABI's VM services: messages (enif_send, enif_port_command), the
// calling process (enif_self), the registry (enif_whereis_*), liveness,
// process monitors held by resources, and enif_select.
//
// Everything that needs a VM goes through HostServices (host_services.hpp).
// enif_select needs a poller, which a VM built on nifhost may not have, so
// nifhost runs its own: one epoll thread that turns readiness into the
// messages the BEAM sends ({select, Obj, Ref, ready_input} or the custom
// message), delivered through the host that selected.
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <sys/epoll.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"
#include "resource_registry.hpp"

namespace core = nifhost::core;
namespace enif = nifhost::core::enif;
using core::HostServices;
using core::Resource;
using core::Term;

namespace {

bool is_process_bound(const ErlNifEnv* env) {
  return env != nullptr && env->kind == core::EnvKind::kProcessBound && core::is_pid(env->self);
}

// ---------------------------------------------------------------- the poller

// One direction of a selection (read, write or error): who gets told, and
// what (the ref of the default message, or the custom message), on a heap
// of its own since it outlives the call that selected.
struct Selection {
  bool armed = false;
  bool custom = false;
  Term pid = core::kNilTerm;
  HostServices* host = nullptr;
  std::unique_ptr<core::Heap> heap;
  Term payload = core::kNilTerm;
};

struct FdState {
  Resource* resource = nullptr;  // kept (one reference) until STOP
  std::uint32_t generation = 0;  // tells a stale epoll event from a current one
  bool registered = false;       // in the epoll set
  Selection read, write, error;
};

// A message to deliver once the poller lock is released.
struct Delivery {
  HostServices* host;
  Term pid;
  std::unique_ptr<core::Heap> heap;
  Term msg;
};

class Poller {
 public:
  Poller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {}

  bool ok() const { return epfd_ >= 0; }
  std::mutex& mutex() { return mutex_; }
  std::unordered_map<int, FdState>& fds() { return fds_; }

  // Brings the epoll set in line with what is armed for fd. Caller holds
  // the lock. 0, or an errno value from epoll_ctl.
  int sync_locked(int fd, FdState& s) {
    std::uint32_t events = 0;
    if (s.read.armed) events |= EPOLLIN;
    if (s.write.armed) events |= EPOLLOUT;
    if (s.error.armed) events |= EPOLLERR;
    if (events == 0) {
      if (s.registered) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      s.registered = false;
      return 0;
    }
    epoll_event ev{};
    // One-shot, like the BEAM's selections: a ready event is reported once
    // and must be selected again.
    ev.events = events | EPOLLONESHOT;
    if (!s.registered) s.generation = next_generation_++;
    ev.data.u64 = (static_cast<std::uint64_t>(s.generation) << 32) | static_cast<std::uint32_t>(fd);
    int rc = epoll_ctl(epfd_, s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (rc != 0) return errno;
    s.registered = true;
    if (!start_locked()) {
      forget_locked(fd, s);
      return EAGAIN;
    }
    return 0;
  }

  void forget_locked(int fd, FdState& s) {
    if (s.registered) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    s.registered = false;
  }

 private:
  // Starts the poller thread on first use; false if it cannot be started.
  bool start_locked() {
    if (started_) return true;
    try {
      std::thread([this] { run(); }).detach();
    } catch (const std::system_error&) {
      return false;
    }
    started_ = true;
    return true;
  }

  void run() {
    epoll_event events[64];
    for (;;) {
      int n = epoll_wait(epfd_, events, 64, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      std::vector<Delivery> deliveries;
      {
        std::lock_guard lock(mutex_);
        for (int i = 0; i < n; ++i) handle_locked(events[i], deliveries);
      }
      for (Delivery& d : deliveries) {
        try {
          d.host->send(std::nullopt, d.pid, d.msg);
        } catch (...) {
          // A VM that cannot take the message loses it, as a dead receiver would.
        }
      }
    }
  }

  void handle_locked(const epoll_event& ev, std::vector<Delivery>& out) {
    int fd = static_cast<int>(ev.data.u64 & 0xFFFFFFFFu);
    auto generation = static_cast<std::uint32_t>(ev.data.u64 >> 32);
    auto it = fds_.find(fd);
    if (it == fds_.end() || !it->second.registered || it->second.generation != generation) return;
    FdState& s = it->second;
    // The one-shot registration is now disabled: whatever does not fire
    // is armed again below.
    s.registered = false;
    bool err = (ev.events & EPOLLERR) != 0;
    bool hup = (ev.events & EPOLLHUP) != 0;
    if (err && s.error.armed) fire(s, s.error, "ready_error", out);
    // An error or hang-up makes reads and writes ready too (they will fail).
    bool any = err || hup;
    if (((ev.events & EPOLLIN) || (any && !s.error.armed)) && s.read.armed)
      fire(s, s.read, "ready_input", out);
    if (((ev.events & EPOLLOUT) || (any && !s.error.armed)) && s.write.armed)
      fire(s, s.write, "ready_output", out);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    sync_locked(fd, s);
  }

  static void fire(FdState& s, Selection& sel, const char* ready, std::vector<Delivery>& out) {
    sel.armed = false;
    try {
      core::Heap& heap = *sel.heap;
      Term msg = sel.payload;
      if (!sel.custom) {
        // {select, Obj, Ref, ready_input | ready_output | ready_error}
        msg = core::make_tuple(
            heap, {core::atom("select"), core::make_resource_term(heap, s.resource), sel.payload,
                   core::atom(ready)});
      }
      out.push_back(Delivery{sel.host, sel.pid, std::move(sel.heap), msg});
    } catch (const std::bad_alloc&) {
      // Out of memory: the notification is lost.
    }
  }

  int epfd_;
  bool started_ = false;
  std::uint32_t next_generation_ = 1;
  std::mutex mutex_;
  std::unordered_map<int, FdState> fds_;
};

std::atomic<Poller*> g_poller{nullptr};

void forget_poller_in_child() { g_poller.store(nullptr); }

// Never destroyed (its thread runs until exit); a forked child starts its own.
Poller* poller() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, forget_poller_in_child);
    return true;
  }();
  (void)registered;
  Poller* p = g_poller.load(std::memory_order_acquire);
  if (p != nullptr) return p;
  auto* fresh = new Poller();
  if (!fresh->ok()) {
    delete fresh;
    return nullptr;
  }
  if (g_poller.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return p;
}

void call_stop(Resource* r, ErlNifEvent fd) {
  core::resources::TypeCallbacks cb = core::resources::callbacks_of(r->type());
  if (cb.init.stop == nullptr) return;
  HostServices* host = cb.owner != nullptr ? cb.owner->host : nullptr;
  core::Heap heap(16);  // may throw: select_impl's caller catches
  core::EnvScope env(core::EnvKind::kCallback, heap, cb.owner, host);
  core::runtime::CallContextScope context(cb.owner, host);
  cb.init.stop(env.get(), r->data(), fd, 1);
}

// Drops fd's selections and the reference they kept on their resource.
Resource* clear_locked(Poller& p, int fd, FdState& s) {
  p.forget_locked(fd, s);
  Resource* kept = s.resource;
  s.resource = nullptr;
  s.read = Selection{};
  s.write = Selection{};
  s.error = Selection{};
  return kept;
}

// The message (the ref of the default one, or a custom one) is copied here:
// msg_env stays the caller's to free, as in OTP's own select tests.
int select_impl(ErlNifEnv* env, ErlNifEvent e, int mode, void* obj, const ErlNifPid* pid,
                Term msg) {
  constexpr int kFailed = INT_MIN | ERL_NIF_SELECT_FAILED;
  const int fd = e;
  if (fd < 0) return INT_MIN | ERL_NIF_SELECT_INVALID_EVENT;
  if (obj == nullptr) return kFailed;
  Resource* r = Resource::from_data(obj);
  Poller* p = poller();
  if (p == nullptr) return kFailed;

  if (mode & ERL_NIF_SELECT_STOP) {
    Resource* kept = nullptr;
    {
      std::lock_guard lock(p->mutex());
      auto it = p->fds().find(fd);
      if (it != p->fds().end()) {
        kept = clear_locked(*p, fd, it->second);
        p->fds().erase(it);
      }
    }
    // The poller can no longer report fd: the stop callback runs now.
    call_stop(r, e);
    if (kept != nullptr) kept->release();
    return ERL_NIF_SELECT_STOP_CALLED;
  }

  if (mode & ERL_NIF_SELECT_CANCEL) {
    int result = 0;
    std::lock_guard lock(p->mutex());
    auto it = p->fds().find(fd);
    if (it == p->fds().end()) return 0;
    FdState& s = it->second;
    auto cancel = [&](Selection& sel, int flag, int cancelled) {
      if ((mode & flag) && sel.armed) {
        sel = Selection{};
        result |= cancelled;
      }
    };
    cancel(s.read, ERL_NIF_SELECT_READ, ERL_NIF_SELECT_READ_CANCELLED);
    cancel(s.write, ERL_NIF_SELECT_WRITE, ERL_NIF_SELECT_WRITE_CANCELLED);
    cancel(s.error, ERL_NIF_SELECT_ERROR, ERL_NIF_SELECT_ERROR_CANCELLED);
    p->sync_locked(fd, s);
    return result;
  }

  const int directions = mode & (ERL_NIF_SELECT_READ | ERL_NIF_SELECT_WRITE | ERL_NIF_SELECT_ERROR);
  if (directions == 0) return kFailed;
  std::optional<Term> recipient;
  if (pid != nullptr) {
    recipient = pid->pid;
  } else if (is_process_bound(env)) {
    recipient = env->self;
  }
  HostServices* host = core::runtime::host_for(env);
  if (!recipient || host == nullptr) return kFailed;
  const bool custom = (mode & ERL_NIF_SELECT_CUSTOM_MSG) != 0;

  Resource* stolen = nullptr;
  int result = 0;
  try {
    std::lock_guard lock(p->mutex());
    FdState& s = p->fds()[fd];
    if (s.resource != nullptr && s.resource != r) stolen = clear_locked(*p, fd, s);
    const bool fresh = s.resource == nullptr;
    auto arm = [&](Selection& sel) {
      sel.armed = true;
      sel.custom = custom;
      sel.pid = *recipient;
      sel.host = host;
      sel.heap = std::make_unique<core::Heap>(16);
      sel.payload = core::copy_term(*sel.heap, msg);
    };
    // Build all selections first so an allocation failure leaves s untouched.
    Selection read, write, error;
    if (mode & ERL_NIF_SELECT_READ) arm(read);
    if (mode & ERL_NIF_SELECT_WRITE) arm(write);
    if (mode & ERL_NIF_SELECT_ERROR) arm(error);
    Selection old_read = std::move(s.read), old_write = std::move(s.write),
              old_error = std::move(s.error);
    s.read = read.armed ? std::move(read) : std::move(old_read);
    s.write = write.armed ? std::move(write) : std::move(old_write);
    s.error = error.armed ? std::move(error) : std::move(old_error);
    if (fresh) {
      s.resource = r;
      r->acquire();
    }
    int rc = p->sync_locked(fd, s);
    if (rc != 0) {
      Resource* undo = clear_locked(*p, fd, s);
      p->fds().erase(fd);
      if (undo != nullptr) undo->release();
      result = INT_MIN | (rc == EBADF ? ERL_NIF_SELECT_INVALID_EVENT : ERL_NIF_SELECT_FAILED);
    }
  } catch (...) {
    result = kFailed;
  }
  if (stolen != nullptr) stolen->release();
  return result;
}

// The ref term enif_make_monitor_term gives a monitor. Its first id word is
// above what make_ref/enif_make_ref produce (18 bits), so it never equals one.
constexpr std::uint32_t kMonitorRefTag = 0xFFFC0000u;

}  // namespace

extern "C" {

// ---------------------------------------------------------------- messages

// env: the calling process's env, or NULL from a created thread. The
// message is copied by the VM; a msg_env (from enif_alloc_env) is cleared
// after a successful send, as its terms are then invalid in the BEAM.
int enif_send(ErlNifEnv* env, const ErlNifPid* to_pid, ErlNifEnv* msg_env, ERL_NIF_TERM msg) {
  if (to_pid == nullptr) return 0;
  HostServices* host = nullptr;
  if (env != nullptr && env->host != nullptr) {
    host = env->host;
  } else if (msg_env != nullptr && msg_env->host != nullptr) {
    host = msg_env->host;
  } else {
    host = core::runtime::host_for(env);
  }
  if (host == nullptr) return 0;
  std::optional<Term> from;
  if (is_process_bound(env)) from = env->self;
  bool sent = false;
  try {
    sent = host->send(from, to_pid->pid, msg);
  } catch (...) {
    sent = false;
  }
  if (sent && msg_env != nullptr && msg_env->kind == core::EnvKind::kAllocated)
    enif_clear_env(msg_env);
  return sent ? 1 : 0;
}

int enif_port_command(ErlNifEnv* env, const ErlNifPort* to_port, ErlNifEnv* msg_env,
                      ERL_NIF_TERM msg) {
  if (to_port == nullptr) return 0;
  HostServices* host = env != nullptr && env->host != nullptr ? env->host
                       : msg_env != nullptr && msg_env->host != nullptr
                           ? msg_env->host
                           : core::runtime::host_for(env);
  if (host == nullptr) return 0;
  try {
    return host->port_command(to_port->port_id, msg) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// ---------------------------------------------------------------- processes and ports

ErlNifPid* enif_self(ErlNifEnv* caller_env, ErlNifPid* pid) {
  if (!is_process_bound(caller_env) || pid == nullptr) return nullptr;
  pid->pid = caller_env->self;
  return pid;
}

int enif_whereis_pid(ErlNifEnv* env, ERL_NIF_TERM name, ErlNifPid* pid) {
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr || !core::is_atom(name) || pid == nullptr) return 0;
  try {
    std::optional<Term> found = host->whereis_pid(name);
    if (!found || !core::is_pid(*found)) return 0;
    pid->pid = *found;
    return 1;
  } catch (...) {
    return 0;
  }
}

int enif_whereis_port(ErlNifEnv* env, ERL_NIF_TERM name, ErlNifPort* port) {
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr || !core::is_atom(name) || port == nullptr) return 0;
  try {
    std::optional<Term> found = host->whereis_port(name);
    if (!found || !core::is_port(*found)) return 0;
    port->port_id = *found;
    return 1;
  } catch (...) {
    return 0;
  }
}

int enif_is_process_alive(ErlNifEnv* env, ErlNifPid* pid) {
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr || pid == nullptr) return 0;
  return enif::guard(0, [&] { return host->is_process_alive(pid->pid) ? 1 : 0; });
}

int enif_is_port_alive(ErlNifEnv* env, ErlNifPort* port_id) {
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr || port_id == nullptr) return 0;
  return enif::guard(0, [&] { return host->is_port_alive(port_id->port_id) ? 1 : 0; });
}

int enif_is_current_process_alive(ErlNifEnv* env) {
  if (!is_process_bound(env)) return 0;
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr) return 0;
  return enif::guard(0, [&] { return host->is_process_alive(env->self) ? 1 : 0; });
}

// ---------------------------------------------------------------- monitors

// 0 on success, > 0 if the process is not alive (or pid is undefined), < 0
// if the resource type has no down callback — or there is no VM to monitor.
int enif_monitor_process(ErlNifEnv* env, void* obj, const ErlNifPid* target_pid,
                         ErlNifMonitor* monitor) {
  if (obj == nullptr) return -1;
  Resource* r = Resource::from_data(obj);
  if (core::resources::callbacks_of(r->type()).init.down == nullptr) return -1;
  if (target_pid == nullptr || !core::is_local_pid(target_pid->pid)) return 1;
  HostServices* host = core::runtime::host_for(env);
  if (host == nullptr) return -1;
  core::MonitorId id;
  int rc = -1;
  if (!core::runtime::begin_monitor(*r)) return -1;
  try {
    rc = host->monitor_process(*r, target_pid->pid, id);
  } catch (...) {
    rc = -1;
  }
  core::runtime::end_monitor(*r, rc == 0, id, target_pid->pid, host);
  if (rc == 0 && monitor != nullptr) *monitor = core::runtime::to_nif_monitor(id);
  return rc;
}

// 0 if the monitor was active and is now removed, 1 if it was not active
// (already fired, removed, or never made).
int enif_demonitor_process(ErlNifEnv*, void* obj, const ErlNifMonitor* monitor) {
  if (obj == nullptr || monitor == nullptr) return 1;
  Resource* r = Resource::from_data(obj);
  core::MonitorId id = core::runtime::from_nif_monitor(*monitor);
  HostServices* host = nullptr;
  if (!core::runtime::remove_monitor(*r, id, &host)) return 1;
  if (host != nullptr) {
    try {
      host->demonitor_process(*r, id);
    } catch (...) {
      // Forgotten here either way: no down callback will run for it.
    }
  }
  return 0;
}

int enif_compare_monitors(const ErlNifMonitor* monitor1, const ErlNifMonitor* monitor2) {
  std::uint64_t a = core::runtime::from_nif_monitor(*monitor1).value;
  std::uint64_t b = core::runtime::from_nif_monitor(*monitor2).value;
  return a < b ? -1 : (a > b ? 1 : 0);
}

// A reference identifying the monitor: equal monitors give equal refs.
ERL_NIF_TERM enif_make_monitor_term(ErlNifEnv* env, const ErlNifMonitor* monitor) {
  std::uint64_t v = core::runtime::from_nif_monitor(*monitor).value;
  return enif::guard_term(env, [&] {
    std::uint32_t ids[3] = {kMonitorRefTag, static_cast<std::uint32_t>(v),
                            static_cast<std::uint32_t>(v >> 32)};
    return core::make_ref(enif::heap_of(env), core::atoms::kNonode, core::kLocalCreation, ids);
  });
}

// ---------------------------------------------------------------- select

int enif_select(ErlNifEnv* env, ErlNifEvent e, enum ErlNifSelectFlags flags, void* obj,
                const ErlNifPid* pid, ERL_NIF_TERM ref) {
  // The plain call never takes a custom message: ref goes into the default one.
  int mode = static_cast<int>(flags) & ~ERL_NIF_SELECT_CUSTOM_MSG;
  return enif::guard(INT_MIN | ERL_NIF_SELECT_FAILED,
                     [&] { return select_impl(env, e, mode, obj, pid, ref); });
}

int enif_select_x(ErlNifEnv* env, ErlNifEvent e, enum ErlNifSelectFlags flags, void* obj,
                  const ErlNifPid* pid, ERL_NIF_TERM msg, ErlNifEnv* msg_env) {
  (void)msg_env;  // msg is copied; the env stays valid and the caller's
  return enif::guard(INT_MIN | ERL_NIF_SELECT_FAILED,
                     [&] { return select_impl(env, e, static_cast<int>(flags), obj, pid, msg); });
}

}  // extern "C"
