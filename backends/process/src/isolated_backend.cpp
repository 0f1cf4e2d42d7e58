// The isolated backends' host side: libraries, worker domains, restarts, calls.
#include "nifhost/process/isolated_backend.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "failure.hpp"
#include "incarnation.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"
#include "spawn.hpp"

namespace nifhost::process {

using core::LoadErrc;
using core::LoadError;
using core::Term;
using detail::Failure;
using detail::Incarnation;
using detail::LaneSlot;

namespace {

// Domain numbers are unique in the process, so a handle of one backend's
// worker can never pass for one of another backend's.
std::atomic<std::uint64_t> g_next_domain{1};

constexpr std::size_t kMaxTextBytes = 1024;
constexpr std::size_t kKeepBufferBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxFunctions = 65536;

struct Domain;

// A library as the host knows it; it outlives the worker processes that load it.
struct HostLibrary {
  std::uint32_t wire_id = 0;  // its number in the worker (LOAD, CALL)
  core::LibrarySpec spec;
  core::LibraryInfo info;
  Term module_atom = core::kNilTerm;
  std::vector<Term> function_atoms;
  std::shared_ptr<Domain> domain;
  std::optional<std::string> reload_failure;  // guarded by domain->state
};

// The libraries that share one worker, and that worker's history.
struct Domain {
  explicit Domain(std::string n) : id(g_next_domain.fetch_add(1)), name(std::move(n)) {}
  const std::uint64_t id;
  const std::string name;  // LibrarySpec::domain; empty for a library's own worker
  std::mutex lifecycle;    // starts, restarts, loads and unloads, one at a time
  std::mutex state;        // current, failed, libraries' reload_failure
  std::shared_ptr<Incarnation> current;
  std::optional<Failure> failed;  // the restart budget ran out
  std::uint64_t next_generation = 1;
  std::deque<Clock::time_point> restarts;
  int max_restarts = 5;
  std::chrono::milliseconds restart_period{10'000};
  std::uint64_t address_space_limit = 0;
  std::uint64_t cpu_limit = 0;
  std::vector<std::shared_ptr<HostLibrary>> libraries;  // in load order (lifecycle)
};

struct Slot {
  std::uint32_t generation = 0;  // 0: never used
  std::shared_ptr<HostLibrary> library;
};

// What a worker said about a library it loaded.
struct Loaded {
  core::LibraryInfo info;
  Term module_atom;
  std::vector<Term> function_atoms;
};
using LoadAnswer = std::variant<Loaded, LoadError>;

std::uint64_t stricter(std::uint64_t a, std::uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

std::string output_section(const std::string& tail) {
  if (tail.empty()) return {};
  return fmt::format("\n--- worker output (last {} bytes) ---\n{}", tail.size(), tail);
}

core::ContainedFailure contained(core::Heap& heap, Term module, Term function, Term why,
                                 std::string detail) {
  return core::ContainedFailure{
      core::make_tuple(heap, {core::atoms::kNifhost, module, function, why}), std::move(detail)};
}

// Sends `frame` (request number `request`) on the slot's lane and reads until
// one of `answers` arrives, serving the worker's host requests on the way.
// Any failure has ended the worker; it is returned as recorded.
tl::expected<Frame, Failure> exchange(Incarnation& inc, LaneSlot& slot,
                                      std::span<const std::span<const std::uint8_t>> frame,
                                      std::uint32_t request,
                                      std::initializer_list<MessageKind> answers, Deadline deadline,
                                      Term caller) {
  Lane& lane = *slot.lane;
  auto channel_failure = [&](const ChannelError& e) -> Failure {
    switch (e.code) {
      case ChannelErrc::kTimeout:
        return inc.fail(Failure::timeout());
      case ChannelErrc::kProtocol:
        return inc.fail(Failure::protocol(fmt::format("lane {}: {}", lane.id(), e.text)));
      default:
        return inc.lost(fmt::format("lane {}: {}", lane.id(), e.text));
    }
  };
  if (auto s = lane.send_parts(frame, deadline); !s)
    return tl::unexpected(channel_failure(s.error()));
  for (;;) {
    auto f = lane.receive(deadline);
    if (!f) return tl::unexpected(channel_failure(f.error()));
    const FrameHeader& h = f->header;
    if (h.lane != lane.id())
      return tl::unexpected(inc.fail(Failure::protocol(
          fmt::format("a frame for lane {} arrived on lane {}", h.lane, lane.id()))));
    if (!kind_allowed(h.kind, Direction::kToHost, false))
      return tl::unexpected(inc.fail(Failure::protocol(
          fmt::format("a {} frame on call lane {}", message_kind_name(h.kind), lane.id()))));
    if (h.request != request)
      return tl::unexpected(inc.fail(Failure::protocol(
          fmt::format("a {} frame answering request {} while request {} is in flight on lane {}",
                      message_kind_name(h.kind), h.request, request, lane.id()))));
    if (h.kind == MessageKind::kHostRequest) {
      auto reply = inc.serve(*f, caller, slot.scratch, slot.out);
      if (!reply) {
        slot.scratch.clear();
        return tl::unexpected(inc.fail(Failure::protocol(reply.error())));
      }
      auto s = lane.send(*reply, deadline);
      slot.scratch.clear();
      if (!s) return tl::unexpected(channel_failure(s.error()));
      continue;
    }
    if (std::find(answers.begin(), answers.end(), h.kind) != answers.end()) return *f;
    return tl::unexpected(
        inc.fail(Failure::protocol(fmt::format("a {} frame in answer to request {} on lane {}",
                                               message_kind_name(h.kind), request, lane.id()))));
  }
}

std::uint32_t next_request(LaneSlot& slot) {
  std::uint32_t r = slot.next_request++;
  if (slot.next_request == 0) slot.next_request = 1;
  return r;
}

tl::expected<Term, std::string> intern(const std::string& text, std::string_view what) {
  auto a = core::AtomTable::instance().intern(text);
  if (!a)
    return tl::unexpected(
        fmt::format("{} is not an atom: {}", what, core::atom_error_text(a.error())));
  return *a;
}

// A LOADED payload, checked as hostile input.
tl::expected<Loaded, std::string> parse_loaded(const Frame& f, const core::LibrarySpec& spec) {
  core::Heap heap;
  auto opts = wire_decode_options(nullptr, nullptr);
  PayloadReader r(f.payload, heap, opts);
  Loaded out;
  core::LibraryInfo& info = out.info;
  auto module = r.binary("loaded: module", kMaxTextBytes);
  if (!module) return tl::unexpected(module.error());
  auto module_atom = intern(*module, "loaded: module");
  if (!module_atom) return tl::unexpected(module_atom.error());
  if (!spec.module.empty() && *module != spec.module)
    return tl::unexpected(
        fmt::format("loaded: module {} (the host asked for {})", *module, spec.module));
  info.module = *module;
  out.module_atom = *module_atom;
  info.path = spec.path.string();
  auto major = r.integer("loaded: nif major version", 0, 65535);
  auto minor = r.integer("loaded: nif minor version", 0, 65535);
  auto variant = r.binary("loaded: vm variant", kMaxTextBytes);
  auto min_erts = r.binary("loaded: min erts", kMaxTextBytes);
  auto via_metadata = r.boolean("loaded: via metadata");
  auto metadata_version = r.integer("loaded: metadata version", 0, UINT32_MAX);
  auto module_version = r.binary("loaded: module version", kMaxTextBytes);
  for (const std::string* e :
       {major ? nullptr : &major.error(), minor ? nullptr : &minor.error(),
        variant ? nullptr : &variant.error(), min_erts ? nullptr : &min_erts.error(),
        via_metadata ? nullptr : &via_metadata.error(),
        metadata_version ? nullptr : &metadata_version.error(),
        module_version ? nullptr : &module_version.error()})
    if (e != nullptr) return tl::unexpected(*e);
  info.nif_major = static_cast<int>(*major);
  info.nif_minor = static_cast<int>(*minor);
  info.vm_variant = *variant;
  info.min_erts = *min_erts;
  info.via_metadata = *via_metadata;
  info.metadata_version = static_cast<unsigned>(*metadata_version);
  info.module_version = *module_version;
  auto functions = r.term("loaded: functions");
  if (!functions) return tl::unexpected(functions.error());
  auto n = core::list_length(*functions);
  if (!n || *n > kMaxFunctions)
    return tl::unexpected(std::string("loaded: functions is not a list of at most 65536"));
  std::unordered_set<std::string> seen;
  for (Term t : core::ListRange(*functions)) {
    if (!core::is_tuple(t) || core::tuple_arity(t) != 3)
      return tl::unexpected(std::string("loaded: a function is not {Name, Arity, Flags}"));
    const Term* e = core::tuple_elements(t);
    auto arity = core::integer_to_int64(e[1]);
    auto flags = core::integer_to_int64(e[2]);
    if (!core::is_bitstring(e[0]) || !core::bitstring_view(e[0]).is_binary() || !arity ||
        *arity < 0 || *arity > 255 || !flags || *flags < 0 || *flags > 2)
      return tl::unexpected(std::string("loaded: a function is not {Name, Arity, Flags}"));
    core::BitstringView name = core::bitstring_view(e[0]);
    if (name.byte_size > kMaxTextBytes)
      return tl::unexpected(std::string("loaded: a function name is too long"));
    std::string fname(reinterpret_cast<const char*>(name.data), name.byte_size);
    auto atom = intern(fname, "loaded: a function name");
    if (!atom) return tl::unexpected(atom.error());
    if (!seen.insert(fmt::format("{}/{}", fname, *arity)).second)
      return tl::unexpected(fmt::format("loaded: {}/{} twice", fname, *arity));
    info.functions.push_back({fname, static_cast<unsigned>(*arity), static_cast<unsigned>(*flags)});
    out.function_atoms.push_back(*atom);
  }
  if (auto e = r.end("loaded"); !e) return tl::unexpected(e.error());
  return out;
}

tl::expected<LoadError, std::string> parse_load_error(const Frame& f) {
  core::Heap heap;
  auto opts = wire_decode_options(nullptr, nullptr);
  PayloadReader r(f.payload, heap, opts);
  auto code = r.atom("load_error: reason");
  if (!code) return tl::unexpected(code.error());
  auto text = r.binary("load_error: text", 64 * kMaxTextBytes);
  if (!text) return tl::unexpected(text.error());
  if (auto e = r.end("load_error"); !e) return tl::unexpected(e.error());
  // The codes a worker's loader reports; anything else is not the protocol.
  for (LoadErrc c :
       {LoadErrc::kLoadFailed, LoadErrc::kBadLib, LoadErrc::kLoad, LoadErrc::kReload,
        LoadErrc::kUpgrade, LoadErrc::kOldCode, LoadErrc::kNotLoaded, LoadErrc::kBadArg})
    if (core::atom_text(*code) == core::load_errc_name(c)) return LoadError{c, *text};
  return tl::unexpected(fmt::format("load_error: unknown reason '{}'", core::atom_text(*code)));
}

bool same_functions(const core::LibraryInfo& a, const core::LibraryInfo& b) {
  if (a.functions.size() != b.functions.size()) return false;
  for (std::size_t i = 0; i < a.functions.size(); ++i)
    if (a.functions[i].name != b.functions[i].name ||
        a.functions[i].arity != b.functions[i].arity ||
        a.functions[i].flags != b.functions[i].flags)
      return false;
  return true;
}

}  // namespace

struct IsolatedBackend::Impl {
  Impl(core::BackendKind k, core::HostServices& h, std::unique_ptr<ChannelFactory> c,
       IsolatedConfig cfg)
      : kind(k), host(h), channels(std::move(c)), config(std::move(cfg)) {
    if (config.worker_path.empty()) {
      auto found = locate_worker();
      if (found)
        config.worker_path = *found;
      else
        worker_missing = found.error();
    }
  }

  core::BackendKind kind;
  core::HostServices& host;
  std::unique_ptr<ChannelFactory> channels;
  IsolatedConfig config;
  std::optional<std::string> worker_missing;
  detail::Spawner spawner;

  std::mutex lifecycle;  // load, upgrade and unload one at a time
  mutable std::shared_mutex registry;
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_slots;
  std::unordered_map<std::string, std::uint32_t> by_module;
  std::vector<std::shared_ptr<Domain>> domains;  // every domain with libraries (lifecycle)
  std::uint32_t next_wire_id = 1;

  std::atomic<std::uint64_t> calls{0}, exceptions{0}, contained_failures{0}, restarts{0};

  // ---- registry
  std::shared_ptr<HostLibrary> resolve(core::LibraryHandle h) const {
    std::shared_lock lock(registry);
    if (h.index >= slots.size() || slots[h.index].generation != h.generation || h.generation == 0)
      return nullptr;
    return slots[h.index].library;
  }
  core::LibraryHandle add(std::shared_ptr<HostLibrary> lib) {
    std::unique_lock lock(registry);
    std::uint32_t index;
    if (!free_slots.empty()) {
      index = free_slots.back();
      free_slots.pop_back();
    } else {
      index = static_cast<std::uint32_t>(slots.size());
      slots.emplace_back();
    }
    Slot& s = slots[index];
    ++s.generation;
    by_module[lib->info.module] = index;
    s.library = std::move(lib);
    return {index, s.generation};
  }
  core::LibraryHandle replace(core::LibraryHandle old, std::shared_ptr<HostLibrary> lib) {
    std::unique_lock lock(registry);
    Slot& s = slots[old.index];
    ++s.generation;
    s.library = std::move(lib);
    return {old.index, s.generation};
  }
  void remove(core::LibraryHandle h) {
    std::unique_lock lock(registry);
    Slot& s = slots[h.index];
    by_module.erase(s.library->info.module);
    ++s.generation;
    s.library.reset();
    free_slots.push_back(h.index);
  }
  bool module_loaded(const std::string& module) const {
    std::shared_lock lock(registry);
    return by_module.count(module) != 0;
  }

  // ---- workers
  tl::expected<std::shared_ptr<Incarnation>, Failure> start(Domain& d) {
    detail::StartParams p;
    p.channels = channels.get();
    p.config = &config;
    p.worker = config.worker_path;
    p.host = &host;
    p.spawner = &spawner;
    p.domain = d.id;
    p.generation = d.next_generation++;
    p.address_space_limit = d.address_space_limit;
    p.cpu_limit = d.cpu_limit;
    return Incarnation::start(p);
  }

  // Sends LOAD or UPGRADE and reads the answer. A Failure means the worker ended.
  tl::expected<LoadAnswer, Failure> send_load(Incarnation& inc, MessageKind message,
                                              std::optional<std::uint32_t> old_id,
                                              std::uint32_t wire_id, const core::LibrarySpec& spec,
                                              const std::string& module) {
    auto slot = inc.acquire_lane();
    if (!slot) return tl::unexpected(slot.error());
    std::uint32_t request = next_request(**slot);
    FrameWriter w((*slot)->out, message, (*slot)->lane->id(), request);
    if (old_id) w.unsigned_integer(*old_id);
    w.unsigned_integer(wire_id);
    w.binary(spec.path.string());
    w.binary(module);
    w.binary(spec.load_info_etf);
    w.unsigned_integer(spec.address_space_limit_bytes);
    w.unsigned_integer(spec.cpu_limit_seconds);
    auto f = exchange(inc, **slot, w.finish_parts(), request,
                      {MessageKind::kLoaded, MessageKind::kLoadError},
                      Deadline::after(config.load_timeout), core::kNilTerm);
    if (!f) return tl::unexpected(f.error());
    LoadAnswer answer;
    if (f->header.kind == MessageKind::kLoaded) {
      auto loaded = parse_loaded(*f, spec);
      if (!loaded) return tl::unexpected(inc.fail(Failure::protocol(loaded.error())));
      answer = std::move(*loaded);
    } else {
      auto e = parse_load_error(*f);
      if (!e) return tl::unexpected(inc.fail(Failure::protocol(e.error())));
      answer = std::move(*e);
    }
    inc.release_lane(*slot);
    return answer;
  }

  tl::expected<void, Failure> send_unload(Incarnation& inc, std::uint32_t wire_id) {
    auto slot = inc.acquire_lane();
    if (!slot) return tl::unexpected(slot.error());
    std::uint32_t request = next_request(**slot);
    FrameWriter w((*slot)->out, MessageKind::kUnload, (*slot)->lane->id(), request);
    w.unsigned_integer(wire_id);
    auto f = exchange(inc, **slot, w.finish_parts(), request, {MessageKind::kUnloaded},
                      Deadline::after(config.load_timeout), core::kNilTerm);
    if (!f) return tl::unexpected(f.error());
    inc.release_lane(*slot);
    return {};
  }

  // Loads every library of the domain into a new worker, in load order. A
  // library the worker now refuses is marked failed; a worker that dies doing
  // it is the Failure.
  tl::expected<void, Failure> reload(Domain& d, Incarnation& inc) {
    for (auto& lib : d.libraries) {
      auto r = send_load(inc, MessageKind::kLoad, std::nullopt, lib->wire_id, lib->spec,
                         lib->info.module);
      if (!r) return tl::unexpected(r.error());
      std::optional<std::string> failure;
      if (const auto* e = std::get_if<LoadError>(&*r)) {
        failure = e->message();
      } else if (!same_functions(std::get<Loaded>(*r).info, lib->info)) {
        failure = "the library now has other functions than when it was first loaded";
      }
      std::lock_guard lock(d.state);
      lib->reload_failure = std::move(failure);
    }
    return {};
  }

  // The domain's running worker: started if it never was, restarted (within
  // the restart budget, with its libraries reloaded) if it died. Caller holds
  // d.lifecycle.
  tl::expected<std::shared_ptr<Incarnation>, Failure> ensure(Domain& d) {
    for (;;) {
      std::shared_ptr<Incarnation> old;
      {
        std::lock_guard lock(d.state);
        if (d.failed) return tl::unexpected(*d.failed);
        old = d.current;
      }
      if (old && old->alive()) return old;
      if (old) {
        auto now = Clock::now();
        while (!d.restarts.empty() && now - d.restarts.front() > d.restart_period)
          d.restarts.pop_front();
        if (d.restarts.size() >= static_cast<std::size_t>(std::max(0, d.max_restarts))) {
          Failure last = old->fail(Failure::shutdown());
          Failure f{Failure::Kind::kBudgetExhausted, d.max_restarts,
                    fmt::format("The last worker (pid {}) ended because {}.", old->pid(),
                                last.describe())};
          old->stop();
          std::lock_guard lock(d.state);
          d.failed = f;
          d.current.reset();
          return tl::unexpected(f);
        }
        d.restarts.push_back(now);
        restarts.fetch_add(1, std::memory_order_relaxed);
        old->stop();
      }
      auto inc = start(d);
      if (!inc) return tl::unexpected(inc.error());
      // Published only once its libraries are loaded: callers that find it
      // running may call into any of them.
      auto reloaded = reload(d, **inc);
      {
        std::lock_guard lock(d.state);
        d.current = *inc;
      }
      if (!reloaded) continue;  // it died reloading: that needs a restart too
      return *inc;
    }
  }

  tl::expected<std::shared_ptr<Incarnation>, Failure> running(Domain& d) {
    {
      std::lock_guard lock(d.state);
      if (d.failed) return tl::unexpected(*d.failed);
      if (d.current && d.current->alive()) return d.current;
    }
    std::lock_guard life(d.lifecycle);
    return ensure(d);
  }

  std::string worker_detail(const Incarnation& inc) const {
    return fmt::format(" (worker pid {}){}", inc.pid(), output_section(inc.output_tail()));
  }

  void forget_domain(const std::shared_ptr<Domain>& d) { std::erase(domains, d); }
  std::shared_ptr<Domain> named_domain(const std::string& name) {
    for (auto& d : domains)
      if (d->name == name) return d;
    return nullptr;
  }
};

IsolatedBackend::IsolatedBackend(core::BackendKind kind, core::HostServices& host,
                                 std::unique_ptr<ChannelFactory> channels, IsolatedConfig config)
    : impl_(std::make_unique<Impl>(kind, host, std::move(channels), std::move(config))) {}

IsolatedBackend::~IsolatedBackend() {
  std::lock_guard life(impl_->lifecycle);
  for (auto& d : impl_->domains) {
    std::lock_guard dl(d->lifecycle);
    std::shared_ptr<Incarnation> inc;
    {
      std::lock_guard lock(d->state);
      inc = std::move(d->current);
    }
    if (inc) inc->stop();
    // Libraries still loaded point at their domain and it at them: break the
    // cycle, or both outlive the backend.
    d->libraries.clear();
  }
}

core::BackendKind IsolatedBackend::kind() const { return impl_->kind; }

tl::expected<core::LibraryHandle, LoadError> IsolatedBackend::load(const core::LibrarySpec& spec) {
  Impl& m = *impl_;
  if (m.worker_missing)
    return tl::make_unexpected(LoadError{LoadErrc::kUnavailable, *m.worker_missing});
  std::lock_guard life(m.lifecycle);
  const LoadError reload{LoadErrc::kReload,
                         "NIF library already loaded (reload disallowed since OTP 20)."};
  if (!spec.module.empty() && m.module_loaded(spec.module)) return tl::make_unexpected(reload);

  std::shared_ptr<Domain> d = spec.domain.empty() ? nullptr : m.named_domain(spec.domain);
  const bool fresh = d == nullptr;
  if (fresh) {
    d = std::make_shared<Domain>(spec.domain);
    d->max_restarts = spec.max_restarts;
    d->restart_period = spec.restart_period;
  }
  std::lock_guard dl(d->lifecycle);
  d->address_space_limit = stricter(d->address_space_limit, spec.address_space_limit_bytes);
  d->cpu_limit = stricter(d->cpu_limit, spec.cpu_limit_seconds);
  auto abandon = [&](LoadError e) -> tl::expected<core::LibraryHandle, LoadError> {
    if (fresh) {
      std::shared_ptr<Incarnation> inc;
      {
        std::lock_guard lock(d->state);
        inc = std::move(d->current);
      }
      if (inc) inc->stop();
    }
    return tl::make_unexpected(std::move(e));
  };

  auto inc = m.ensure(*d);
  if (!inc)
    return abandon({LoadErrc::kWorker, "no worker for the library: " + inc.error().describe()});
  std::uint32_t wire_id = m.next_wire_id++;
  auto answer = m.send_load(**inc, MessageKind::kLoad, std::nullopt, wire_id, spec, spec.module);
  if (!answer)
    return abandon({LoadErrc::kWorker, "the worker ended while loading the library: " +
                                           answer.error().describe() + m.worker_detail(**inc)});
  if (auto* e = std::get_if<LoadError>(&*answer)) return abandon(std::move(*e));
  Loaded& loaded = std::get<Loaded>(*answer);
  if (m.module_loaded(loaded.info.module)) {
    (void)m.send_unload(**inc, wire_id);
    return abandon(reload);
  }
  auto lib = std::make_shared<HostLibrary>();
  lib->wire_id = wire_id;
  lib->spec = spec;
  lib->info = std::move(loaded.info);
  lib->module_atom = loaded.module_atom;
  lib->function_atoms = std::move(loaded.function_atoms);
  lib->domain = d;
  d->libraries.push_back(lib);
  if (fresh) m.domains.push_back(d);
  return m.add(std::move(lib));
}

tl::expected<core::LibraryHandle, LoadError> IsolatedBackend::upgrade(
    core::LibraryHandle old, const core::LibrarySpec& spec) {
  Impl& m = *impl_;
  std::lock_guard life(m.lifecycle);
  auto lib = m.resolve(old);
  if (!lib)
    return tl::make_unexpected(LoadError{LoadErrc::kNotLoaded, "no such library (stale handle)"});
  if (!spec.module.empty() && spec.module != lib->info.module)
    return tl::make_unexpected(
        LoadError{LoadErrc::kBadArg, fmt::format("cannot upgrade module {} with a library for {}",
                                                 lib->info.module, spec.module)});
  Domain& d = *lib->domain;
  std::lock_guard dl(d.lifecycle);
  auto inc = m.ensure(d);
  if (!inc)
    return tl::make_unexpected(
        LoadError{LoadErrc::kWorker, "no worker for the library: " + inc.error().describe()});
  std::uint32_t wire_id = m.next_wire_id++;
  core::LibrarySpec next = spec;
  next.module = lib->info.module;
  next.domain = d.name;
  auto answer =
      m.send_load(**inc, MessageKind::kUpgrade, lib->wire_id, wire_id, next, lib->info.module);
  if (!answer)
    return tl::make_unexpected(
        LoadError{LoadErrc::kWorker, "the worker ended while upgrading the library: " +
                                         answer.error().describe() + m.worker_detail(**inc)});
  if (auto* e = std::get_if<LoadError>(&*answer)) return tl::make_unexpected(std::move(*e));
  Loaded& loaded = std::get<Loaded>(*answer);
  auto replacement = std::make_shared<HostLibrary>();
  replacement->wire_id = wire_id;
  replacement->spec = next;
  replacement->info = std::move(loaded.info);
  replacement->module_atom = loaded.module_atom;
  replacement->function_atoms = std::move(loaded.function_atoms);
  replacement->domain = lib->domain;
  std::replace(d.libraries.begin(), d.libraries.end(), lib, replacement);
  return m.replace(old, std::move(replacement));
}

tl::expected<void, LoadError> IsolatedBackend::unload(core::LibraryHandle handle) {
  Impl& m = *impl_;
  std::lock_guard life(m.lifecycle);
  auto lib = m.resolve(handle);
  if (!lib)
    return tl::make_unexpected(LoadError{LoadErrc::kNotLoaded, "no such library (stale handle)"});
  m.remove(handle);
  std::shared_ptr<Domain> d = lib->domain;
  std::lock_guard dl(d->lifecycle);
  std::erase(d->libraries, lib);
  std::shared_ptr<Incarnation> inc;
  {
    std::lock_guard lock(d->state);
    inc = d->current;
  }
  if (inc && inc->alive()) (void)m.send_unload(*inc, lib->wire_id);
  if (d->libraries.empty()) {
    {
      std::lock_guard lock(d->state);
      d->current.reset();
    }
    if (inc) inc->stop();
    m.forget_domain(d);
  }
  return {};
}

tl::expected<core::LibraryInfo, LoadError> IsolatedBackend::info(core::LibraryHandle handle) const {
  auto lib = impl_->resolve(handle);
  if (!lib)
    return tl::make_unexpected(LoadError{LoadErrc::kNotLoaded, "no such library (stale handle)"});
  return lib->info;
}

tl::expected<core::FunctionHandle, LoadError> IsolatedBackend::lookup(core::LibraryHandle handle,
                                                                      std::string_view name,
                                                                      unsigned arity) const {
  auto lib = impl_->resolve(handle);
  if (!lib)
    return tl::make_unexpected(LoadError{LoadErrc::kNotLoaded, "no such library (stale handle)"});
  for (std::size_t i = 0; i < lib->info.functions.size(); ++i)
    if (lib->info.functions[i].name == name && lib->info.functions[i].arity == arity)
      return core::FunctionHandle{handle, static_cast<std::uint32_t>(i)};
  return tl::make_unexpected(LoadError{
      LoadErrc::kNoFunction,
      fmt::format("{}:{}/{} is not a NIF of this library", lib->info.module, name, arity)});
}

core::CallResult IsolatedBackend::call(core::FunctionHandle fn, const core::Caller& caller,
                                       std::span<const Term> args) {
  Impl& m = *impl_;
  m.calls.fetch_add(1, std::memory_order_relaxed);
  core::Heap& heap = *caller.heap;
  auto lib = m.resolve(fn.library);
  if (!lib || fn.index >= lib->info.functions.size()) {
    m.contained_failures.fetch_add(1, std::memory_order_relaxed);
    return {contained(heap, core::atoms::kUndefined, core::atoms::kUndefined,
                      core::atom("stale_handle"),
                      "not_loaded: no such library or function (stale handle)")};
  }
  const core::FunctionInfo& fi = lib->info.functions[fn.index];
  Term module = lib->module_atom;
  Term function = lib->function_atoms[fn.index];
  auto failed = [&](const Failure& f, const Incarnation* inc) -> core::CallResult {
    m.contained_failures.fetch_add(1, std::memory_order_relaxed);
    std::string detail =
        fmt::format("{}:{}/{}: {}", lib->info.module, fi.name, fi.arity, f.describe());
    if (inc != nullptr && f.ends_worker()) detail += m.worker_detail(*inc);
    return {contained(heap, module, function, f.why(heap), std::move(detail))};
  };
  if (args.size() != fi.arity) {
    m.contained_failures.fetch_add(1, std::memory_order_relaxed);
    return {contained(
        heap, module, function,
        core::make_tuple(heap, {core::atom("badarity"),
                                core::make_integer(heap, static_cast<std::int64_t>(args.size()))}),
        fmt::format("{}:{}/{} called with {} arguments", lib->info.module, fi.name, fi.arity,
                    args.size()))};
  }
  Domain& d = *lib->domain;
  auto inc = m.running(d);
  if (!inc) return failed(inc.error(), nullptr);
  {
    std::lock_guard lock(d.state);
    if (lib->reload_failure)
      return failed(Failure{Failure::Kind::kReloadFailed, 0, *lib->reload_failure}, nullptr);
  }
  auto slot = (*inc)->acquire_lane();
  if (!slot) return failed(slot.error(), inc->get());
  LaneSlot& s = **slot;
  std::uint32_t request = next_request(s);
  detail::HostHandles ext(**inc);
  FrameWriter w(s.out, MessageKind::kCall, s.lane->id(), request);
  w.unsigned_integer(lib->wire_id);
  w.unsigned_integer(fn.index);
  (void)w.term(caller.self);
  for (Term a : args) {
    if (auto e = w.term_scatter(a, &ext); !e) {
      (*inc)->release_lane(*slot);
      // Only handles are unencodable: the extension says whose they are.
      return failed(
          {ext.refused() == detail::HostHandles::Refused::kStale ? Failure::Kind::kStaleResource
                                                                 : Failure::Kind::kForeignResource,
           0,
           {}},
          nullptr);
    }
  }
  if (w.payload_bytes() > m.config.max_frame_bytes) {
    (*inc)->release_lane(*slot);
    return failed({Failure::Kind::kTooLarge, static_cast<std::int64_t>(w.payload_bytes()), {}},
                  nullptr);
  }
  std::chrono::milliseconds budget =
      caller.deadline.count() > 0 ? caller.deadline : lib->spec.call_deadline;
  auto f =
      exchange(**inc, s, w.finish_parts(), request, {MessageKind::kResult, MessageKind::kException},
               Deadline::after(budget), caller.self);
  if (!f) return failed(f.error(), inc->get());

  auto opts = wire_decode_options(&ext, f->owner);
  PayloadReader r(f->payload, heap, opts);
  core::CallResult result;
  if (f->header.kind == MessageKind::kResult) {
    auto t = r.term("result");
    if (!t) return failed((*inc)->fail(Failure::protocol(t.error())), inc->get());
    result.outcome = *t;
  } else {
    auto klass = r.atom("exception: class");
    if (!klass || (*klass != core::atoms::kError && *klass != core::atoms::kExit &&
                   *klass != core::atoms::kThrow))
      return failed(
          (*inc)->fail(Failure::protocol("exception: the class is not error, exit or throw")),
          inc->get());
    auto reason = r.term("exception: reason");
    if (!reason) return failed((*inc)->fail(Failure::protocol(reason.error())), inc->get());
    result.outcome = core::Exception{*klass, *reason};
    m.exceptions.fetch_add(1, std::memory_order_relaxed);
  }
  if (auto e = r.end(message_kind_name(f->header.kind)); !e)
    return failed((*inc)->fail(Failure::protocol(e.error())), inc->get());
  // A lane keeps its buffers between calls, but not a large one.
  if (s.out.capacity() > kKeepBufferBytes) std::vector<std::uint8_t>().swap(s.out);
  (*inc)->release_lane(*slot);
  return result;
}

core::BackendStats IsolatedBackend::stats() const {
  const Impl& m = *impl_;
  return core::BackendStats{m.calls.load(std::memory_order_relaxed),
                            m.exceptions.load(std::memory_order_relaxed),
                            m.contained_failures.load(std::memory_order_relaxed),
                            m.restarts.load(std::memory_order_relaxed)};
}

pid_t IsolatedBackend::worker_pid(core::LibraryHandle handle) const {
  auto lib = impl_->resolve(handle);
  if (!lib) return -1;
  std::lock_guard lock(lib->domain->state);
  const auto& inc = lib->domain->current;
  return inc && inc->alive() ? inc->pid() : -1;
}

}  // namespace nifhost::process
