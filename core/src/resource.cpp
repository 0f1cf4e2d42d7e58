// Resources, the resource-type registry and the monitors resources hold.
//
// The three live here together because destruction ties them: the last
// reference going runs the destructor of the type's *current* owner (a
// takeover may have changed it), drops the resource's monitors through the
// host that made them, and may free an unloaded library's type.
#include "nifhost/core/resource.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/heap.hpp"
#include "resource_registry.hpp"

namespace nifhost::core {

// ====================================================================== registry

namespace {

struct PendingOp {
  ErlNifResourceFlags op;
  ErlNifResourceType* type;
  ErlNifResourceTypeInit callbacks;
};

struct Opening {
  std::size_t sizeof_init = 0;
  std::vector<PendingOp> ops;
};

struct Registry {
  std::shared_mutex mutex;
  // Visible types, by (module, name) in UTF-8.
  std::map<std::pair<std::string, std::string>, ErlNifResourceType*> by_name;
  // Every type not yet freed, visible or not.
  std::unordered_set<ErlNifResourceType*> all;
  // Types out of by_name that still have live resources; freed with the last.
  std::unordered_set<ErlNifResourceType*> orphans;
  // Libraries whose load/upgrade callback is running.
  std::unordered_map<const LibraryContext*, Opening> openings;
};

// Never destroyed: resources may outlive static destruction order.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

// How many leading callbacks fit in an ErlNifResourceTypeInit of `size`
// bytes (dtor, stop, down at 0/8/16; members at 24; dyncall at 32).
int members_that_fit(std::size_t size) {
  if (size == 0) return 4;  // size unknown: trust the call
  if (size >= offsetof(ErlNifResourceTypeInit, dyncall) + sizeof(void*)) return 4;
  if (size >= offsetof(ErlNifResourceTypeInit, down) + sizeof(void*)) return 3;
  if (size >= offsetof(ErlNifResourceTypeInit, stop) + sizeof(void*)) return 2;
  if (size >= sizeof(void*)) return 1;
  return 0;
}

ErlNifResourceTypeInit leading_callbacks(const ErlNifResourceTypeInit& init, int members) {
  ErlNifResourceTypeInit out{};
  if (members >= 1) out.dtor = init.dtor;
  if (members >= 2) out.stop = init.stop;
  if (members >= 3) out.down = init.down;
  if (members >= 4) out.dyncall = init.dyncall;
  out.members = members;
  return out;
}

// Drops a type that is out of by_name: freed now if nothing uses it.
// Caller holds the registry lock exclusively.
void drop_type_locked(Registry& r, ErlNifResourceType* type) {
  if (type->live.load(std::memory_order_acquire) == 0) {
    r.orphans.erase(type);
    r.all.erase(type);
    delete type;
  } else {
    r.orphans.insert(type);
  }
}

}  // namespace

ResourceTypeOpening::ResourceTypeOpening(LibraryContext& library, std::size_t sizeof_init)
    : library_(library) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  r.openings[&library] = Opening{sizeof_init, {}};
  library.opening_resource_types = true;
}

void ResourceTypeOpening::commit() {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  auto it = r.openings.find(&library_);
  if (it != r.openings.end()) {
    for (const PendingOp& p : it->second.ops) {
      if (p.op == ERL_NIF_RT_CREATE) {
        r.by_name[{p.type->module, p.type->name}] = p.type;
      } else {
        // The new library's callbacks take over the existing instances.
        p.type->init = p.callbacks;
        p.type->owner = &library_;
      }
    }
    r.openings.erase(it);
  }
  library_.opening_resource_types = false;
  committed_ = true;
}

ResourceTypeOpening::~ResourceTypeOpening() {
  if (committed_) return;
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  auto it = r.openings.find(&library_);
  if (it != r.openings.end()) {
    for (const PendingOp& p : it->second.ops) {
      if (p.op != ERL_NIF_RT_CREATE) continue;  // a takeover changed nothing yet
      // Resources made during the failed load outlive it without callbacks:
      // the library's code is about to be unmapped.
      p.type->init = ErlNifResourceTypeInit{};
      p.type->owner = nullptr;
      drop_type_locked(r, p.type);
    }
    r.openings.erase(it);
  }
  library_.opening_resource_types = false;
}

bool resources_pending_for(const LibraryContext& library) {
  Registry& r = registry();
  std::shared_lock lock(r.mutex);
  return std::any_of(r.all.begin(), r.all.end(), [&](const ErlNifResourceType* t) {
    return t->owner == &library && t->live.load(std::memory_order_acquire) > 0;
  });
}

void forget_resource_types(LibraryContext& library) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  std::vector<ErlNifResourceType*> owned;
  for (ErlNifResourceType* t : r.all)
    if (t->owner == &library) owned.push_back(t);
  for (ErlNifResourceType* t : owned) {
    auto named = r.by_name.find({t->module, t->name});
    if (named != r.by_name.end() && named->second == t) r.by_name.erase(named);
    // The library context (and, right after, its code) goes away: a resource
    // still alive must not call back into it.
    t->init = ErlNifResourceTypeInit{};
    t->owner = nullptr;
    drop_type_locked(r, t);
  }
}

namespace resources {

ErlNifResourceType* open_type(ErlNifEnv* env, const char* name, const ErlNifResourceTypeInit& init,
                              int members, ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  ErlNifResourceFlags op = flags;
  ErlNifResourceType* type = nullptr;
  LibraryContext* lib = env != nullptr ? env->library : nullptr;
  if (lib != nullptr && lib->opening_resource_types && name != nullptr) {
    Registry& r = registry();
    std::unique_lock lock(r.mutex);
    auto opening = r.openings.find(lib);
    if (opening != r.openings.end()) {
      int n = std::clamp(members, 0, members_that_fit(opening->second.sizeof_init));
      ErlNifResourceTypeInit callbacks = leading_callbacks(init, n);
      std::pair<std::string, std::string> key{lib->module, enif::latin1_to_utf8(name)};
      auto found = r.by_name.find(key);
      if (found == r.by_name.end()) {
        if (flags & ERL_NIF_RT_CREATE) {
          type = new enif_resource_type_t();
          type->module = key.first;
          type->name = key.second;
          type->init = callbacks;
          type->owner = lib;
          r.all.insert(type);
          op = ERL_NIF_RT_CREATE;
        }
      } else if (flags & ERL_NIF_RT_TAKEOVER) {
        type = found->second;
        op = ERL_NIF_RT_TAKEOVER;
      }
      if (type != nullptr) opening->second.ops.push_back(PendingOp{op, type, callbacks});
    }
  }
  if (tried != nullptr) *tried = op;
  return type;
}

TypeCallbacks callbacks_of(const ErlNifResourceType* type) {
  Registry& r = registry();
  std::shared_lock lock(r.mutex);
  return TypeCallbacks{type->init, type->owner};
}

void type_resource_created(ErlNifResourceType* type) {
  type->live.fetch_add(1, std::memory_order_relaxed);
}

void type_resource_destroyed(ErlNifResourceType* type) {
  if (type->live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  if (r.orphans.count(type) != 0 && type->live.load(std::memory_order_acquire) == 0) {
    r.orphans.erase(type);
    r.all.erase(type);
    delete type;
  }
}

}  // namespace resources

// ====================================================================== monitors

namespace {

struct MonitorEntry {
  MonitorId id;
  Term pid;
  HostServices* host;
  // Fired while enif_monitor_process was still waiting for the host's answer;
  // its down callback is pending on a helper thread (counted in in_flight).
  bool early = false;
};

// What a resource's monitors need beyond the entries themselves: a down
// callback may be running (in_flight) when the last reference goes, in which
// case the destruction is finished by that callback's end.
struct ResourceMonitors {
  std::vector<MonitorEntry> active;
  std::vector<std::pair<MonitorId, Term>> early_downs;  // fired before being recorded
  int creating = 0;
  int in_flight = 0;
  bool destroy_requested = false;
  bool idle() const {
    return active.empty() && early_downs.empty() && creating == 0 && in_flight == 0 &&
           !destroy_requested;
  }
};

struct MonitorTable {
  std::mutex mutex;
  std::unordered_map<const Resource*, ResourceMonitors> by_resource;
  std::atomic<std::size_t> size{0};  // by_resource.size(), readable without the lock
};

MonitorTable& monitor_table() {
  static MonitorTable* t = new MonitorTable();
  return *t;
}

void erase_if_idle(MonitorTable& t,
                   std::unordered_map<const Resource*, ResourceMonitors>::iterator it) {
  if (it->second.idle()) {
    t.by_resource.erase(it);
    t.size.store(t.by_resource.size(), std::memory_order_release);
  }
}

ResourceMonitors& record_for(MonitorTable& t, const Resource* r) {
  auto [it, inserted] = t.by_resource.try_emplace(r);
  if (inserted) t.size.store(t.by_resource.size(), std::memory_order_release);
  return it->second;
}

// Claims an active monitor for a down callback. False if it is not active
// (demonitored, already fired, or not recorded yet — then it is remembered).
bool claim_down(const Resource* r, Term pid, MonitorId id, HostServices** host) {
  MonitorTable& t = monitor_table();
  std::lock_guard lock(t.mutex);
  auto it = t.by_resource.find(r);
  if (it == t.by_resource.end()) return false;
  ResourceMonitors& rm = it->second;
  auto e = std::find_if(rm.active.begin(), rm.active.end(),
                        [&](const MonitorEntry& m) { return m.id == id; });
  if (e == rm.active.end()) {
    if (rm.creating > 0) {
      try {
        rm.early_downs.emplace_back(id, pid);
      } catch (const std::bad_alloc&) {
        // Out of memory: this down is lost, as a VM out of memory would lose it.
      }
    }
    return false;
  }
  if (!e->early) ++rm.in_flight;  // an early one was counted when it was found
  *host = e->host;
  rm.active.erase(e);
  return true;
}

// A down callback finished. True if the resource's last reference went
// meanwhile and the caller must now finish destroying it.
bool end_down(const Resource* r) {
  MonitorTable& t = monitor_table();
  std::lock_guard lock(t.mutex);
  auto it = t.by_resource.find(r);
  if (it == t.by_resource.end()) return false;
  ResourceMonitors& rm = it->second;
  --rm.in_flight;
  if (rm.in_flight == 0 && rm.destroy_requested) {
    t.by_resource.erase(it);
    t.size.store(t.by_resource.size(), std::memory_order_release);
    return true;
  }
  erase_if_idle(t, it);
  return false;
}

// The last reference went. Removes the resource's monitors (through their
// hosts, after the lock) and says whether the destructor may run now; if a
// down callback is running, its end finishes the destruction instead.
bool release_monitors_for_destroy(Resource& r) {
  MonitorTable& t = monitor_table();
  if (t.size.load(std::memory_order_acquire) == 0) return true;
  std::vector<MonitorEntry> to_remove;
  bool may_destroy = true;
  {
    std::lock_guard lock(t.mutex);
    auto it = t.by_resource.find(&r);
    if (it == t.by_resource.end()) return true;
    ResourceMonitors& rm = it->second;
    for (auto e = rm.active.begin(); e != rm.active.end();) {
      if (e->early) {
        ++e;  // its callback is pending and counted in in_flight
      } else {
        to_remove.push_back(*e);
        e = rm.active.erase(e);
      }
    }
    rm.early_downs.clear();
    if (rm.in_flight > 0) {
      rm.destroy_requested = true;
      may_destroy = false;
    } else {
      t.by_resource.erase(it);
      t.size.store(t.by_resource.size(), std::memory_order_release);
    }
  }
  for (const MonitorEntry& e : to_remove) {
    if (e.host == nullptr) continue;
    try {
      e.host->demonitor_process(r, e.id);
    } catch (...) {
      // The VM failed to forget it; it must then never call notify_down.
    }
  }
  return may_destroy;
}

// Runs `body` in a callback env of the type's current owner.
template <class F>
void in_callback_env(LibraryContext* owner, HostServices* host, F&& body) {
  std::optional<Heap> heap;
  try {
    heap.emplace(16);
  } catch (const std::bad_alloc&) {
    // Not even a small heap: the BEAM aborts the VM on out-of-memory too, and
    // no exception may leave through the enif function that let go last.
    std::abort();
  }
  EnvScope env(EnvKind::kCallback, *heap, owner, host);
  runtime::CallContextScope context(owner, host);
  body(env.get());
}

std::atomic<std::int64_t> g_live_resources{0};

}  // namespace

namespace runtime {

bool begin_monitor(Resource& resource) {
  MonitorTable& t = monitor_table();
  std::lock_guard lock(t.mutex);
  try {
    ResourceMonitors& rm = record_for(t, &resource);
    // Room for every monitor being made, so recording one cannot fail after
    // the VM has made it.
    rm.active.reserve(rm.active.size() + static_cast<std::size_t>(rm.creating) + 1);
    ++rm.creating;
    return true;
  } catch (const std::bad_alloc&) {
    auto it = t.by_resource.find(&resource);
    if (it != t.by_resource.end()) erase_if_idle(t, it);
    return false;
  }
}

void end_monitor(Resource& resource, bool established, MonitorId id, Term pid, HostServices* host) {
  MonitorTable& t = monitor_table();
  bool fired_early = false;
  {
    std::lock_guard lock(t.mutex);
    auto it = t.by_resource.find(&resource);
    if (it == t.by_resource.end()) return;  // cannot happen: begin_monitor made it
    ResourceMonitors& rm = it->second;
    --rm.creating;
    if (established) {
      auto early = std::find_if(rm.early_downs.begin(), rm.early_downs.end(),
                                [&](const auto& d) { return d.first == id; });
      fired_early = early != rm.early_downs.end();
      if (fired_early) {
        rm.early_downs.erase(early);
        ++rm.in_flight;
      }
      rm.active.push_back(MonitorEntry{id, pid, host, fired_early});
    }
    if (rm.creating == 0) rm.early_downs.clear();
    erase_if_idle(t, it);
  }
  if (fired_early) {
    // The process went before the monitor was recorded. Its down callback
    // runs on another thread, as it would in the BEAM: the NIF calling
    // enif_monitor_process may hold locks that callback takes.
    Resource* r = &resource;
    try {
      std::thread([r, pid, id] { r->notify_down(pid, id); }).detach();
    } catch (const std::system_error&) {
      r->notify_down(pid, id);
    }
  }
}

bool remove_monitor(Resource& resource, MonitorId id, HostServices** host) {
  MonitorTable& t = monitor_table();
  std::lock_guard lock(t.mutex);
  auto it = t.by_resource.find(&resource);
  if (it == t.by_resource.end()) return false;
  ResourceMonitors& rm = it->second;
  auto e = std::find_if(rm.active.begin(), rm.active.end(),
                        [&](const MonitorEntry& m) { return m.id == id && !m.early; });
  if (e == rm.active.end()) return false;
  *host = e->host;
  rm.active.erase(e);
  erase_if_idle(t, it);
  return true;
}

}  // namespace runtime

// ====================================================================== Resource

Resource* Resource::create(ErlNifResourceType* type, std::size_t size) {
  static_assert(sizeof(Resource) <= kHeaderSize, "the header must fit before the user data");
  static_assert(kHeaderSize % alignof(std::max_align_t) == 0, "user data must stay aligned");
  if (type == nullptr || size > SIZE_MAX - kHeaderSize) return nullptr;
  void* memory = std::malloc(kHeaderSize + size);
  if (memory == nullptr) return nullptr;
  auto* r = new (memory) Resource(type, size);
  resources::type_resource_created(type);
  g_live_resources.fetch_add(1, std::memory_order_relaxed);
  return r;
}

Resource* Resource::from_data(void* data) {
  return reinterpret_cast<Resource*>(static_cast<std::uint8_t*>(data) - kHeaderSize);
}

std::int64_t Resource::live_count() { return g_live_resources.load(std::memory_order_acquire); }

void Resource::destroy() {
  if (!release_monitors_for_destroy(*this)) return;  // a down callback finishes it
  resources::TypeCallbacks cb = resources::callbacks_of(type_);
  if (cb.init.dtor != nullptr) {
    HostServices* host = cb.owner != nullptr ? cb.owner->host : nullptr;
    in_callback_env(cb.owner, host, [&](ErlNifEnv* env) { cb.init.dtor(env, data()); });
  }
  ErlNifResourceType* type = type_;
  this->~Resource();
  std::free(this);
  resources::type_resource_destroyed(type);
  g_live_resources.fetch_sub(1, std::memory_order_acq_rel);
}

void Resource::notify_down(Term pid, MonitorId monitor) {
  HostServices* host = nullptr;
  if (!claim_down(this, pid, monitor, &host)) return;
  resources::TypeCallbacks cb = resources::callbacks_of(type_);
  if (cb.init.down != nullptr) {
    if (host == nullptr && cb.owner != nullptr) host = cb.owner->host;
    in_callback_env(cb.owner, host, [&](ErlNifEnv* env) {
      ErlNifPid p{pid};
      ErlNifMonitor m = runtime::to_nif_monitor(monitor);
      cb.init.down(env, data(), &p, &m);
    });
  }
  if (end_down(this)) destroy();
}

}  // namespace nifhost::core
