// The worker's lane server: runs the host's requests with the loader and run_nif.
#include "nifhost/process/worker_server.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <linux/close_range.h>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "handle_codec.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/nif_call.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::process {

namespace {

using core::Term;

constexpr int kExitProtocol = 76;  // EX_PROTOCOL: the host sent what the protocol forbids
constexpr int kExitUsage = 64;     // EX_USAGE: bad command line
constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::size_t kMaxModuleBytes = 1024;
constexpr std::size_t kKeepBufferBytes = std::size_t{1} << 20;  // a lane's buffers beyond: freed

// The host is trusted by the worker, but a worker that cannot follow it stops
// at once with a diagnostic (on stderr, which the host captures).
[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "nifhost-worker[%d]: %s\n", static_cast<int>(::getpid()), why.c_str());
  std::fflush(stderr);
  ::_exit(kExitProtocol);
}

class WorkerServer;

// The HostServices of the worker: every call becomes a HOST_REQUEST and waits
// for its HOST_REPLY. Subclasses choose the lane it travels on.
class ForwardingHost : public core::HostServices {
 public:
  explicit ForwardingHost(WorkerServer& server) : server_(server) {}

  bool send(std::optional<Term> from, Term to, Term msg) override;
  std::optional<Term> whereis_pid(Term name) override;
  std::optional<Term> whereis_port(Term name) override;
  bool is_process_alive(Term pid) override;
  bool is_port_alive(Term port) override;
  int monitor_process(core::Resource& resource, Term pid, core::MonitorId& out) override;
  int demonitor_process(core::Resource& resource, core::MonitorId monitor) override;
  bool port_command(Term port, Term msg) override;

  // Writes the request's terms (`on_lane`: whether the caller's identity may
  // be claimed); false if it could not (nothing is sent then).
  using Fill = std::function<bool(FrameWriter&, bool on_lane)>;

 protected:
  // Makes the request and returns the reply's one term, decoded on `heap`;
  // nullopt if `fill` could not write the request.
  virtual std::optional<Term> exchange(const Fill& fill, core::Heap& heap) = 0;
  WorkerServer& server_;

 private:
  static bool boolean_reply(std::optional<Term> t) { return t && *t == core::atoms::kTrue; }
};

class ControlHost final : public ForwardingHost {
 public:
  using ForwardingHost::ForwardingHost;
  std::optional<Term> exchange(const Fill& fill, core::Heap& heap) override;
};

class LaneServer;

class LaneHost final : public ForwardingHost {
 public:
  LaneHost(WorkerServer& server, LaneServer& lane) : ForwardingHost(server), lane_(lane) {}
  std::optional<Term> exchange(const Fill& fill, core::Heap& heap) override;

 private:
  LaneServer& lane_;
};

// The worker's side of the handle extension: resources leave as handles
// (registered in the handle table), handles come back as the resources.
class WorkerHandles final : public core::EtfExtension {
 public:
  explicit WorkerHandles(WorkerServer& server) : server_(server) {}
  std::optional<std::size_t> encoded_size(Term t) const override {
    if (core::is_boxed_of(t, core::Subtag::kResource)) return detail::kHandleSize;
    return std::nullopt;
  }
  void encode(Term t, std::uint8_t* out) const override;
  bool decodes_tag(std::uint8_t tag) const override { return tag == detail::kHandleTag; }
  tl::expected<std::pair<Term, std::size_t>, std::string> decode(std::span<const std::uint8_t> in,
                                                                 core::Heap& heap) const override;

 private:
  WorkerServer& server_;
};

class WorkerServer {
 public:
  WorkerServer(WorkerChannel& channel, const WorkerOptions& options)
      : channel_(channel), options_(options), control_host_(*this), handles_ext_(*this) {}

  int run();

  WorkerChannel& channel() { return channel_; }
  const WorkerOptions& options() const { return options_; }
  ControlHost& control_host() { return control_host_; }
  const WorkerHandles& handles_ext() const { return handles_ext_; }
  std::shared_mutex& upgrade_gate() { return upgrade_gate_; }

  std::optional<Term> control_exchange(const std::function<bool(FrameWriter&)>& fill,
                                       core::Heap& heap);

  // ---- handle table
  core::HandleWords export_resource(core::Resource* r) {
    std::lock_guard lock(handles_mutex_);
    auto [it, inserted] = handle_ids_.try_emplace(r, next_handle_);
    if (inserted) {
      ++next_handle_;
      r->acquire();  // the table's reference, dropped by the host's release
      handles_.emplace(it->second, Exported{r, 0});
    }
    ++handles_[it->second].exports;
    auto [tag, new_tag] = type_tags_.try_emplace(r->type(), type_tags_.size() + 1);
    (void)new_tag;
    return core::HandleWords{options_.domain, options_.generation, it->second, tag->second};
  }

  tl::expected<Term, std::string> import_handle(core::Heap& heap, const core::HandleWords& w) {
    if (w.domain != options_.domain || w.generation != options_.generation)
      return tl::unexpected(std::string("a handle of another worker"));
    std::lock_guard lock(handles_mutex_);
    auto it = handles_.find(w.id);
    if (it == handles_.end())
      return tl::unexpected(fmt::format("handle {} is not in the table", w.id));
    return core::make_resource_term(heap, it->second.resource);
  }

  void release_handle(std::uint64_t id, std::uint64_t count) {
    core::Resource* dropped = nullptr;
    {
      std::lock_guard lock(handles_mutex_);
      auto it = handles_.find(id);
      if (it == handles_.end()) return;
      if (count >= it->second.exports) {
        dropped = it->second.resource;
        handle_ids_.erase(dropped);
        handles_.erase(it);
      } else {
        it->second.exports -= count;
      }
    }
    if (dropped != nullptr) dropped->release();  // the destructor may run here
  }

  // ---- monitors (keys are chosen here so a DOWN can never precede its entry)
  std::uint64_t new_monitor(core::Resource& r) {
    std::lock_guard lock(monitors_mutex_);
    std::uint64_t key = next_monitor_++;
    monitors_.emplace(key, MonitorEntry{&r, false, {}});
    return key;
  }

  // Forgets a monitor; if its down callback is running on another thread,
  // waits for it (the resource may be about to be freed).
  void drop_monitor(std::uint64_t key) {
    std::unique_lock lock(monitors_mutex_);
    for (;;) {
      auto it = monitors_.find(key);
      if (it == monitors_.end()) return;
      if (!it->second.firing || it->second.firing_thread == std::this_thread::get_id()) {
        monitors_.erase(it);
        return;
      }
      monitor_fired_.wait(lock);
    }
  }

  void fire_down(std::uint64_t key, Term pid) {
    core::Resource* r = nullptr;
    {
      std::lock_guard lock(monitors_mutex_);
      auto it = monitors_.find(key);
      if (it == monitors_.end() || it->second.firing) return;
      it->second.firing = true;
      it->second.firing_thread = std::this_thread::get_id();
      r = it->second.resource;
    }
    r->notify_down(pid, core::MonitorId{key});
    {
      std::lock_guard lock(monitors_mutex_);
      monitors_.erase(key);
    }
    monitor_fired_.notify_all();
  }

  // ---- libraries
  std::shared_ptr<core::NifLibrary> library(std::uint32_t id) {
    std::lock_guard lock(libraries_mutex_);
    auto it = libraries_.find(id);
    return it == libraries_.end() ? nullptr : it->second;
  }
  void put_library(std::uint32_t id, std::shared_ptr<core::NifLibrary> lib) {
    std::lock_guard lock(libraries_mutex_);
    libraries_[id] = std::move(lib);
  }
  std::shared_ptr<core::NifLibrary> take_library(std::uint32_t id) {
    std::lock_guard lock(libraries_mutex_);
    auto it = libraries_.find(id);
    if (it == libraries_.end()) return nullptr;
    auto lib = std::move(it->second);
    libraries_.erase(it);
    return lib;
  }
  std::mutex& lifecycle() { return lifecycle_; }

  void post(std::function<void()> job) {
    {
      std::lock_guard lock(janitor_mutex_);
      jobs_.push_back(std::move(job));
    }
    janitor_cv_.notify_one();
  }

 private:
  struct Exported {
    core::Resource* resource;
    std::uint64_t exports;  // handles sent to the host and not yet released
  };
  struct MonitorEntry {
    core::Resource* resource;
    bool firing;
    std::thread::id firing_thread;
  };
  struct PendingReply {
    bool done = false;
    std::vector<std::uint8_t> payload;
  };

  void janitor();
  void handle_control(const Frame& f);

  WorkerChannel& channel_;
  WorkerOptions options_;
  ControlHost control_host_;
  WorkerHandles handles_ext_;

  std::mutex handles_mutex_;
  std::unordered_map<std::uint64_t, Exported> handles_;
  std::unordered_map<const core::Resource*, std::uint64_t> handle_ids_;
  std::unordered_map<const ErlNifResourceType*, std::uint64_t> type_tags_;
  std::uint64_t next_handle_ = 1;

  std::mutex monitors_mutex_;
  std::condition_variable monitor_fired_;
  std::unordered_map<std::uint64_t, MonitorEntry> monitors_;
  std::uint64_t next_monitor_ = 1;

  std::mutex libraries_mutex_;
  std::unordered_map<std::uint32_t, std::shared_ptr<core::NifLibrary>> libraries_;
  // Calls hold it shared; an upgrade callback runs alone, as in the BEAM.
  std::shared_mutex upgrade_gate_;
  std::mutex lifecycle_;

  std::mutex pending_mutex_;
  std::condition_variable replied_;
  std::unordered_map<std::uint32_t, PendingReply*> pending_;
  std::uint32_t next_request_ = 1;

  std::mutex janitor_mutex_;
  std::condition_variable janitor_cv_;
  std::deque<std::function<void()>> jobs_;

  core::Heap control_heap_;
};

// One call lane: its thread, its heap and buffers, and its HostServices.
class LaneServer {
 public:
  LaneServer(WorkerServer& server, std::unique_ptr<Lane> lane)
      : server_(server), lane_(std::move(lane)), host_(server, *this) {}

  void run();

  // For LaneHost: a host request on this lane while a request runs here.
  std::optional<Term> exchange(const ForwardingHost::Fill& fill, core::Heap& heap) {
    std::unique_lock lock(request_mutex_);
    if (!in_request_) {
      lock.unlock();
      return server_.control_exchange([&](FrameWriter& w) { return fill(w, false); }, heap);
    }
    FrameWriter w(request_buf_, MessageKind::kHostRequest, lane_->id(), current_request_);
    if (!fill(w, true) || w.payload_bytes() > server_.options().limits.max_frame_bytes)
      return std::nullopt;
    if (auto s = lane_->send(w.finish(), Deadline::never()); !s)
      die("host request: " + s.error().text);
    auto f = lane_->receive(Deadline::never());
    if (!f) die(fmt::format("lane {}: waiting for a host reply: {}", lane_->id(), f.error().text));
    if (f->header.kind != MessageKind::kHostReply || f->header.request != current_request_)
      die(fmt::format("lane {}: expected a host reply, got {}", lane_->id(),
                      message_kind_name(f->header.kind)));
    auto opts = wire_decode_options(&server_.handles_ext(), f->owner);
    PayloadReader r(f->payload, heap, opts);
    auto t = r.term("host reply");
    if (!t) die(t.error());
    return *t;
  }

 private:
  void handle_call(const Frame& f);
  void handle_load(const Frame& f, bool upgrade);
  void handle_unload(const Frame& f);
  void reply(MessageKind kind, std::uint32_t request,
             const std::function<void(FrameWriter&)>& fill);
  void send_out(std::span<const std::uint8_t> frame) {
    if (auto s = lane_->send(frame, Deadline::never()); !s)
      die(fmt::format("lane {}: {}", lane_->id(), s.error().text));
  }

  WorkerServer& server_;
  std::unique_ptr<Lane> lane_;
  LaneHost host_;
  core::Heap heap_;
  std::vector<std::uint8_t> out_;

  std::mutex request_mutex_;
  bool in_request_ = false;
  std::uint32_t current_request_ = 0;
  std::vector<std::uint8_t> request_buf_;
};

// ---------------------------------------------------------------- ForwardingHost

bool ForwardingHost::send(std::optional<Term> from, Term to, Term msg) {
  core::Heap heap(16);
  return boolean_reply(exchange(
      [&](FrameWriter& w, bool on_lane) {
        w.atom(core::atom(host_op_name(HostOp::kSend)));
        // Only a call's own env names a sender; the host substitutes the
        // caller's pid (a worker cannot name another process).
        bool own = on_lane && from && !core::is_nil(*from);
        w.atom(own ? core::atoms::kTrue : core::atoms::kFalse);
        return w.term(to).has_value() && w.term(msg, &server_.handles_ext()).has_value();
      },
      heap));
}

std::optional<Term> ForwardingHost::whereis_pid(Term name) {
  core::Heap heap(16);
  auto r = exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kWhereisPid)));
        w.atom(name);
        return true;
      },
      heap);
  if (r && core::is_local_pid(*r)) return *r;
  return std::nullopt;
}

std::optional<Term> ForwardingHost::whereis_port(Term name) {
  core::Heap heap(16);
  auto r = exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kWhereisPort)));
        w.atom(name);
        return true;
      },
      heap);
  if (r && core::is_local_port(*r)) return *r;
  return std::nullopt;
}

bool ForwardingHost::is_process_alive(Term pid) {
  core::Heap heap(16);
  return boolean_reply(exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kIsProcessAlive)));
        return w.term(pid).has_value();
      },
      heap));
}

bool ForwardingHost::is_port_alive(Term port) {
  core::Heap heap(16);
  return boolean_reply(exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kIsPortAlive)));
        return w.term(port).has_value();
      },
      heap));
}

int ForwardingHost::monitor_process(core::Resource& resource, Term pid, core::MonitorId& out) {
  std::uint64_t key = server_.new_monitor(resource);
  core::Heap heap(16);
  auto r = exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kMonitor)));
        w.integer(static_cast<std::int64_t>(key));
        return w.term(pid).has_value();
      },
      heap);
  auto rc = r ? core::integer_to_int64(*r) : std::nullopt;
  int result = rc && *rc >= INT32_MIN && *rc <= INT32_MAX ? static_cast<int>(*rc) : -1;
  if (result != 0) {
    server_.drop_monitor(key);
  } else {
    out = core::MonitorId{key};
  }
  return result;
}

int ForwardingHost::demonitor_process(core::Resource&, core::MonitorId monitor) {
  server_.drop_monitor(monitor.value);
  core::Heap heap(16);
  auto r = exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kDemonitor)));
        w.integer(static_cast<std::int64_t>(monitor.value));
        return true;
      },
      heap);
  auto rc = r ? core::integer_to_int64(*r) : std::nullopt;
  return rc && *rc == 0 ? 0 : 1;
}

bool ForwardingHost::port_command(Term port, Term msg) {
  core::Heap heap(16);
  return boolean_reply(exchange(
      [&](FrameWriter& w, bool) {
        w.atom(core::atom(host_op_name(HostOp::kPortCommand)));
        return w.term(port).has_value() && w.term(msg, &server_.handles_ext()).has_value();
      },
      heap));
}

std::optional<Term> ControlHost::exchange(const Fill& fill, core::Heap& heap) {
  return server_.control_exchange([&](FrameWriter& w) { return fill(w, false); }, heap);
}

std::optional<Term> LaneHost::exchange(const Fill& fill, core::Heap& heap) {
  return lane_.exchange(fill, heap);
}

// ---------------------------------------------------------------- WorkerHandles

void WorkerHandles::encode(Term t, std::uint8_t* out) const {
  auto* r = static_cast<core::Resource*>(core::resource_object(t));
  detail::write_handle(out, server_.export_resource(r));
}

tl::expected<std::pair<Term, std::size_t>, std::string> WorkerHandles::decode(
    std::span<const std::uint8_t> in, core::Heap& heap) const {
  if (in.size() < detail::kHandleSize) return tl::unexpected(std::string("a truncated handle"));
  auto t = server_.import_handle(heap, detail::read_handle(in));
  if (!t) return tl::unexpected(t.error());
  return std::pair<Term, std::size_t>{*t, detail::kHandleSize};
}

// ---------------------------------------------------------------- WorkerServer

std::optional<Term> WorkerServer::control_exchange(const std::function<bool(FrameWriter&)>& fill,
                                                   core::Heap& heap) {
  PendingReply slot;
  std::uint32_t id;
  std::vector<std::uint8_t> buffer;
  {
    std::lock_guard lock(pending_mutex_);
    id = next_request_++;
    if (next_request_ == 0) next_request_ = 1;
  }
  FrameWriter w(buffer, MessageKind::kHostRequest, kControlLane, id);
  if (!fill(w) || w.payload_bytes() > options_.limits.max_frame_bytes) return std::nullopt;
  {
    std::lock_guard lock(pending_mutex_);
    pending_.emplace(id, &slot);
  }
  if (auto s = channel_.control().send(w.finish(), Deadline::never()); !s)
    die("control: " + s.error().text);
  {
    std::unique_lock lock(pending_mutex_);
    replied_.wait(lock, [&] { return slot.done; });
  }
  auto opts = wire_decode_options(&handles_ext_, nullptr);
  PayloadReader r(slot.payload, heap, opts);
  auto t = r.term("host reply");
  if (!t) die(t.error());
  return *t;
}

void WorkerServer::janitor() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(janitor_mutex_);
      janitor_cv_.wait(lock, [&] { return !jobs_.empty(); });
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void WorkerServer::handle_control(const Frame& f) {
  control_heap_.clear();
  auto opts = wire_decode_options(nullptr, nullptr);
  switch (f.header.kind) {
    case MessageKind::kOpenLane: {
      auto lane = channel_.accept_lane(f.header.lane);
      if (!lane) die("open_lane: " + lane.error().text);
      auto server = std::make_shared<LaneServer>(*this, std::move(*lane));
      std::thread([server] { server->run(); }).detach();
      return;
    }
    case MessageKind::kHostReply: {
      std::lock_guard lock(pending_mutex_);
      auto it = pending_.find(f.header.request);
      if (it == pending_.end())
        die(fmt::format("a host reply to request {}, which was never made", f.header.request));
      it->second->payload.assign(f.payload.begin(), f.payload.end());
      it->second->done = true;
      pending_.erase(it);
      replied_.notify_all();
      return;
    }
    case MessageKind::kRelease: {
      PayloadReader r(f.payload, control_heap_, opts);
      std::vector<std::pair<std::uint64_t, std::uint64_t>> releases;
      while (!r.at_end()) {
        auto id = r.unsigned_integer("release id");
        auto n = r.unsigned_integer("release count");
        if (!id || !n) die("release: " + (id ? n.error() : id.error()));
        releases.emplace_back(*id, *n);
      }
      // Destructors are NIF code and may call the host: not on this thread,
      // which is the one that reads the host's replies.
      post([this, releases = std::move(releases)] {
        for (auto [id, n] : releases) release_handle(id, n);
      });
      return;
    }
    case MessageKind::kDown: {
      PayloadReader r(f.payload, control_heap_, opts);
      auto key = r.unsigned_integer("monitor");
      auto pid = r.term("pid");
      if (!key || !pid || !core::is_local_pid(*pid)) die("down: malformed");
      post([this, key = *key, pid = *pid] { fire_down(key, pid); });
      return;
    }
    default:
      die(fmt::format("unexpected {} frame on the control lane", message_kind_name(f.header.kind)));
  }
}

int WorkerServer::run() {
  core::set_default_host(&control_host_);
  std::thread([this] { janitor(); }).detach();
  {
    std::vector<std::uint8_t> buffer;
    FrameWriter w(buffer, MessageKind::kHello, kControlLane, 0);
    w.integer(kProtocolVersion);
    w.integer(::getpid());
    w.integer(static_cast<std::int64_t>(options_.domain));
    w.integer(static_cast<std::int64_t>(options_.generation));
    if (auto s = channel_.control().send(w.finish(), Deadline::never()); !s) return 0;
  }
  for (;;) {
    auto f = channel_.control().receive(Deadline::never());
    if (!f) {
      if (f.error().code == ChannelErrc::kClosed) return 0;  // the host went away
      die("control lane: " + f.error().text);
    }
    if (!kind_allowed(f->header.kind, Direction::kToWorker, true))
      die(fmt::format("a {} frame on the control lane", message_kind_name(f->header.kind)));
    handle_control(*f);
  }
}

// ---------------------------------------------------------------- LaneServer

void LaneServer::run() {
  for (;;) {
    auto f = lane_->receive(Deadline::never());
    if (!f) {
      if (f.error().code == ChannelErrc::kClosed) return;
      die(fmt::format("lane {}: {}", lane_->id(), f.error().text));
    }
    if (f->header.lane != lane_->id())
      die(fmt::format("lane {}: a frame for lane {}", lane_->id(), f->header.lane));
    switch (f->header.kind) {
      case MessageKind::kCall:
        handle_call(*f);
        break;
      case MessageKind::kLoad:
        handle_load(*f, false);
        break;
      case MessageKind::kUpgrade:
        handle_load(*f, true);
        break;
      case MessageKind::kUnload:
        handle_unload(*f);
        break;
      case MessageKind::kPing:
        reply(MessageKind::kPong, f->header.request, [](FrameWriter&) {});
        break;
      default:
        die(fmt::format("lane {}: unexpected {} frame", lane_->id(),
                        message_kind_name(f->header.kind)));
    }
    // Terms of the request go now; a resource whose last reference they held
    // is destroyed here, outside any request (its host calls take the control lane).
    heap_.clear();
  }
}

void LaneServer::reply(MessageKind kind, std::uint32_t request,
                       const std::function<void(FrameWriter&)>& fill) {
  FrameWriter w(out_, kind, lane_->id(), request);
  fill(w);
  send_out(w.finish());
}

void LaneServer::handle_call(const Frame& f) {
  auto opts = wire_decode_options(&server_.handles_ext(), f.owner);
  PayloadReader r(f.payload, heap_, opts);
  auto lib_id = r.integer("library", 0, UINT32_MAX);
  auto fn_index = r.integer("function", 0, UINT32_MAX);
  auto self = r.term("caller");
  if (!lib_id || !fn_index || !self) die("call: malformed header terms");
  auto lib = server_.library(static_cast<std::uint32_t>(*lib_id));
  std::uint32_t request = f.header.request;
  auto fail = [&](Term reason) {
    reply(MessageKind::kException, request, [&](FrameWriter& w) {
      w.atom(core::atoms::kError);
      (void)w.term(reason);
    });
  };
  if (lib == nullptr || static_cast<std::size_t>(*fn_index) >= lib->functions().size())
    return fail(core::atoms::kUndef);  // unloaded meanwhile
  const core::NifFunction& fn = lib->functions()[static_cast<std::size_t>(*fn_index)];
  std::array<Term, 256> args;
  for (unsigned i = 0; i < fn.arity; ++i) {
    auto a = r.term("argument");
    if (!a) {
      // Only a handle the host still names but this worker no longer has
      // can get here; the BEAM would see a dead resource as badarg.
      return fail(core::atoms::kBadarg);
    }
    args[i] = *a;
  }
  if (auto e = r.end("call"); !e) die(e.error());
  Term self_pid = core::is_local_pid(*self) ? *self : core::kNilTerm;

  {
    std::lock_guard lock(request_mutex_);
    in_request_ = true;
    current_request_ = request;
  }
  const ErlNifFunc entry{fn.name.c_str(), fn.arity, fn.fptr, fn.flags};
  core::CallOutcome outcome;
  {
    std::shared_lock gate(server_.upgrade_gate());
    outcome = core::run_nif(lib->context(), entry, heap_, self_pid, host_,
                            std::span<const Term>(args.data(), fn.arity));
  }
  // Large binaries of the result go out from where they are (the heap is
  // cleared only after the frame is sent).
  std::optional<FrameWriter> w;
  tl::expected<void, core::EtfError> encoded;
  if (const auto* value = std::get_if<Term>(&outcome)) {
    w.emplace(out_, MessageKind::kResult, lane_->id(), request);
    encoded = w->term_scatter(*value, &server_.handles_ext());
  } else {
    const auto& e = std::get<core::Exception>(outcome);
    w.emplace(out_, MessageKind::kException, lane_->id(), request);
    (void)w->term(e.klass);
    encoded = w->term_scatter(e.reason, &server_.handles_ext());
  }
  if (encoded && w->payload_bytes() > server_.options().limits.max_frame_bytes) {
    // The host would refuse the frame: a term too large to pass, as the BEAM
    // says of terms it cannot handle.
    w.emplace(out_, MessageKind::kException, lane_->id(), request);
    w->atom(core::atoms::kError);
    w->atom(core::atom("system_limit"));
  } else if (!encoded) {
    // Only running out of memory gets here: say so rather than answer nothing.
    std::string text = encoded.error().what();
    w.emplace(out_, MessageKind::kException, lane_->id(), request);
    w->atom(core::atoms::kError);
    (void)w->term(core::make_tuple(
        heap_, {core::atom("nifhost_encode"), core::make_binary(heap_, std::string_view(text))}));
  }
  auto parts = w->finish_parts();
  {
    std::lock_guard lock(request_mutex_);
    in_request_ = false;
    if (auto s = lane_->send_parts(parts, Deadline::never()); !s)
      die(fmt::format("lane {}: {}", lane_->id(), s.error().text));
  }
  if (out_.capacity() > kKeepBufferBytes) std::vector<std::uint8_t>().swap(out_);
}

// Lowers the worker's resource limits to what a library asks for (a worker
// serving several libraries runs under the strictest).
void apply_limits(std::uint64_t address_space, std::uint64_t cpu_seconds) {
  rlimit cur{};
  if (address_space != 0 && ::getrlimit(RLIMIT_AS, &cur) == 0) {
    rlim_t v = static_cast<rlim_t>(address_space);
    if (cur.rlim_max != RLIM_INFINITY) v = std::min(v, cur.rlim_max);
    if (cur.rlim_cur == RLIM_INFINITY || v < cur.rlim_cur) {
      rlimit next{v, v};
      ::setrlimit(RLIMIT_AS, &next);
    }
  }
  if (cpu_seconds != 0 && ::getrlimit(RLIMIT_CPU, &cur) == 0) {
    rlim_t v = static_cast<rlim_t>(cpu_seconds);
    if (cur.rlim_cur == RLIM_INFINITY || v < cur.rlim_cur) {
      // Soft limit: SIGXCPU; one more second and the kernel's SIGKILL.
      rlim_t hard = v + 1;
      if (cur.rlim_max != RLIM_INFINITY) hard = std::min(hard, cur.rlim_max);
      rlimit next{std::min(v, hard), hard};
      ::setrlimit(RLIMIT_CPU, &next);
    }
  }
}

void LaneServer::handle_load(const Frame& f, bool upgrade) {
  auto opts = wire_decode_options(nullptr, f.owner);
  PayloadReader r(f.payload, heap_, opts);
  std::optional<std::uint32_t> old_id;
  if (upgrade) {
    auto o = r.integer("old library", 0, UINT32_MAX);
    if (!o) die(o.error());
    old_id = static_cast<std::uint32_t>(*o);
  }
  auto id = r.integer("library", 0, UINT32_MAX);
  auto path = r.binary("path", kMaxPathBytes);
  auto module = r.binary("module", kMaxModuleBytes);
  auto info_etf = r.binary("load info", SIZE_MAX);
  auto as = r.unsigned_integer("address space limit");
  auto cpu = r.unsigned_integer("cpu limit");
  if (!id || !path || !module || !info_etf || !as || !cpu) die("load: malformed");
  if (auto e = r.end("load"); !e) die(e.error());
  std::uint32_t request = f.header.request;
  auto load_error = [&](const core::LoadError& e) {
    reply(MessageKind::kLoadError, request, [&](FrameWriter& w) {
      w.atom(core::atom(core::load_errc_name(e.code)));
      w.binary(e.text);
    });
  };

  apply_limits(*as, *cpu);
  std::lock_guard life(server_.lifecycle());
  std::shared_ptr<core::NifLibrary> previous;
  if (old_id) {
    previous = server_.library(*old_id);
    if (previous == nullptr)
      return load_error({core::LoadErrc::kNotLoaded, "the library to upgrade is not loaded"});
  }
  std::string expected = previous != nullptr ? previous->module() : *module;
  auto lib = core::NifLibrary::open(*path, {.expected_module = expected});
  if (!lib) return load_error(lib.error());
  Term info = core::make_small(0);
  if (!info_etf->empty()) {
    auto plain = wire_decode_options(nullptr, nullptr);
    auto t =
        core::decode(std::span<const std::uint8_t>(
                         reinterpret_cast<const std::uint8_t*>(info_etf->data()), info_etf->size()),
                     heap_, plain);
    if (!t) return load_error({core::LoadErrc::kBadArg, "load info: " + t.error().what()});
    info = *t;
  }
  if (previous != nullptr) {
    std::unique_lock gate(server_.upgrade_gate());
    if (auto ok = (*lib)->upgrade(*previous, &server_.control_host(), info); !ok)
      return load_error(ok.error());
    (void)server_.take_library(*old_id);
    server_.put_library(static_cast<std::uint32_t>(*id), *lib);
  } else {
    if (auto ok = (*lib)->load(&server_.control_host(), info); !ok) return load_error(ok.error());
    server_.put_library(static_cast<std::uint32_t>(*id), *lib);
  }
  const core::LibraryInfo& li = (*lib)->info();
  previous.reset();
  reply(MessageKind::kLoaded, request, [&](FrameWriter& w) { write_library_info(w, heap_, li); });
}

void LaneServer::handle_unload(const Frame& f) {
  auto opts = wire_decode_options(nullptr, nullptr);
  PayloadReader r(f.payload, heap_, opts);
  auto id = r.integer("library", 0, UINT32_MAX);
  if (!id) die(id.error());
  std::shared_ptr<core::NifLibrary> lib;
  {
    std::lock_guard life(server_.lifecycle());
    lib = server_.take_library(static_cast<std::uint32_t>(*id));
  }
  lib.reset();  // the unload callback runs now, or when its last resource goes
  core::NifLibrary::collect_retired();
  reply(MessageKind::kUnloaded, f.header.request, [](FrameWriter&) {});
}

// ---------------------------------------------------------------- worker_main

std::optional<std::uint64_t> number(const std::map<std::string, std::string>& o,
                                    const std::string& key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  try {
    std::size_t used = 0;
    unsigned long long v = std::stoull(it->second, &used);
    if (used != it->second.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int run_worker(WorkerChannel& channel, const WorkerOptions& options) {
  WorkerServer server(channel, options);
  return server.run();
}

int worker_main(int argc, char** argv, std::span<const ChannelKind> channels) {
  std::map<std::string, std::string> options;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.substr(0, 2) != "--" || i + 1 >= argc) {
      std::fprintf(stderr,
                   "nifhost-worker: started by a nifhost host, not by hand (bad option '%s')\n",
                   argv[i]);
      return kExitUsage;
    }
    options[std::string(a.substr(2))] = argv[++i];
  }

  // Die with the host. PR_SET_PDEATHSIG fires when the thread that started us
  // exits (the host starts workers from a thread that lives as long as the
  // backend); a host that is gone already leaves us with another parent.
  if (auto parent = number(options, "parent-pid")) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (static_cast<std::uint64_t>(::getppid()) != *parent) return 0;
  }
  // Nothing but the channel's descriptors and stdio is inherited (the host's
  // posix_spawn closes the rest too; this covers other launchers).
  auto keep = number(options, "keep-fds").value_or(3);
  ::syscall(SYS_close_range, static_cast<unsigned>(keep), ~0U, 0U);
  if (number(options, "core-dumps").value_or(0) == 0) {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
  }
  apply_limits(number(options, "address-space").value_or(0),
               number(options, "cpu-seconds").value_or(0));

  WorkerOptions wo;
  wo.domain = number(options, "domain").value_or(0);
  wo.generation = number(options, "generation").value_or(0);
  wo.limits.max_frame_bytes = number(options, "max-frame").value_or(kDefaultMaxFrameBytes);

  auto kind = options.find("channel");
  if (kind == options.end()) {
    std::fprintf(stderr, "nifhost-worker: --channel is required\n");
    return kExitUsage;
  }
  for (const ChannelKind& c : channels) {
    if (kind->second != c.name) continue;
    auto channel = c.attach(options, wo.limits);
    if (!channel) {
      std::fprintf(stderr, "nifhost-worker: %s\n", channel.error().c_str());
      return kExitUsage;
    }
    return run_worker(**channel, wo);
  }
  std::fprintf(stderr, "nifhost-worker: unknown channel '%s'\n", kind->second.c_str());
  return kExitUsage;
}

}  // namespace nifhost::process
