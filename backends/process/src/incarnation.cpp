// One worker process: start, control thread, lanes, host requests, death.
#include "incarnation.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <new>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "handle_codec.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::process::detail {

namespace {

using core::Term;

// A host-side reference to a resource living in the worker. The worker holds
// the resource as long as handles it sent are unreleased; the last reference
// to this object releases one of them.
class WorkerResource final : public core::RemoteResource {
 public:
  WorkerResource(std::weak_ptr<Incarnation> inc, const core::HandleWords& w)
      : RemoteResource(w.domain, w.generation, w.id, w.type_tag), inc_(std::move(inc)) {}

 private:
  void destroy() override {
    if (auto inc = inc_.lock()) inc->queue_release(id());
    delete this;
  }
  std::weak_ptr<Incarnation> inc_;
};

// A monitor the worker asked for lives here as a monitor of a host-side proxy
// resource, so the VM's own monitor machinery (HostServices::monitor_process
// and Resource::notify_down) drives it; the proxy's down callback forwards
// the DOWN to the worker.
struct ProxyData {
  std::weak_ptr<Incarnation> inc;
  std::uint64_t key;
};

void proxy_dtor(ErlNifEnv*, void* obj) { static_cast<ProxyData*>(obj)->~ProxyData(); }

void proxy_down(ErlNifEnv*, void* obj, ErlNifPid* pid, ErlNifMonitor*) {
  auto* d = static_cast<ProxyData*>(obj);
  if (auto inc = d->inc.lock()) inc->proxy_fired(d->key, pid->pid);
}

ErlNifResourceType* proxy_type() {
  static ErlNifResourceType* type = [] {
    auto* t = new enif_resource_type_t();
    t->module = "nifhost";
    t->name = "worker_monitor";
    t->init.dtor = proxy_dtor;
    t->init.down = proxy_down;
    t->init.members = 3;
    return t;
  }();
  return type;
}

std::string output_section(const std::string& tail) {
  if (tail.empty()) return {};
  return fmt::format("\n--- worker output (last {} bytes) ---\n{}", tail.size(), tail);
}

}  // namespace

// ---------------------------------------------------------------- HostHandles

std::optional<std::size_t> HostHandles::encoded_size(Term t) const {
  if (!core::is_boxed_of(t, core::Subtag::kHandle)) return std::nullopt;
  const core::RemoteResource* r = core::handle_object(t);
  if (r->domain() == inc_.domain() && r->generation() == inc_.generation()) return kHandleSize;
  refused_ = r->domain() == inc_.domain() ? Refused::kStale : Refused::kForeign;
  return std::nullopt;
}

void HostHandles::encode(Term t, std::uint8_t* out) const {
  const core::RemoteResource* r = core::handle_object(t);
  write_handle(out, {r->domain(), r->generation(), r->id(), r->type_tag()});
}

bool HostHandles::decodes_tag(std::uint8_t tag) const { return tag == kHandleTag; }

tl::expected<std::pair<Term, std::size_t>, std::string> HostHandles::decode(
    std::span<const std::uint8_t> in, core::Heap& heap) const {
  if (in.size() < kHandleSize) return tl::unexpected(std::string("a truncated handle"));
  core::HandleWords w = read_handle(in);
  if (w.domain != inc_.domain() || w.generation != inc_.generation())
    return tl::unexpected(fmt::format("a handle naming worker {}.{} (this is worker {}.{})",
                                      w.domain, w.generation, inc_.domain(), inc_.generation()));
  auto* r = new (std::nothrow) WorkerResource(inc_.weak_from_this(), w);
  if (r == nullptr) return tl::unexpected(std::string("out of memory"));
  Term t = core::make_handle_term(heap, r);
  r->release();  // the heap's reference is the one left
  return std::pair<Term, std::size_t>{t, kHandleSize};
}

// ---------------------------------------------------------------- start

Incarnation::Incarnation(PrivateTag, const StartParams& p, Spawned spawned,
                         std::unique_ptr<HostChannel> channel, UniqueFd output)
    : config_(*p.config),
      host_(*p.host),
      domain_(p.domain),
      generation_(p.generation),
      pid_(spawned.pid),
      pidfd_(std::move(spawned.pidfd)),
      channel_(std::move(channel)),
      output_(std::move(output)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

tl::expected<std::shared_ptr<Incarnation>, Failure> Incarnation::start(const StartParams& p) {
  const IsolatedConfig& config = *p.config;
  auto channel = p.channels->create({config.max_frame_bytes});
  if (!channel)
    return tl::unexpected(Failure::start_failed(
        fmt::format("cannot make a {} channel: {}", p.channels->name(), channel.error().text)));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return tl::unexpected(Failure::start_failed(fmt::format("pipe: {}", std::strerror(errno))));
  UniqueFd out_read(pipefd[0]);
  UniqueFd out_write(pipefd[1]);
  ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);

  WorkerLaunch launch = (*channel)->launch();
  int keep = 3;
  for (auto [fd, child] : launch.fds) keep = std::max(keep, child + 1);
  SpawnSpec spec;
  spec.program = p.worker;
  spec.args = {"--parent-pid", std::to_string(::getpid()),
               "--domain",     std::to_string(p.domain),
               "--generation", std::to_string(p.generation),
               "--max-frame",  std::to_string(config.max_frame_bytes),
               "--keep-fds",   std::to_string(keep),
               "--core-dumps", config.core_dumps ? "1" : "0"};
  if (p.address_space_limit != 0) {
    spec.args.push_back("--address-space");
    spec.args.push_back(std::to_string(p.address_space_limit));
  }
  if (p.cpu_limit != 0) {
    spec.args.push_back("--cpu-seconds");
    spec.args.push_back(std::to_string(p.cpu_limit));
  }
  spec.args.insert(spec.args.end(), launch.args.begin(), launch.args.end());
  spec.fds = launch.fds;
  spec.output_fd = out_write.get();

  auto spawned = p.spawner->run([&] { return spawn_process(spec); });
  if (!spawned) return tl::unexpected(Failure::start_failed(spawned.error()));
  (*channel)->launched();
  out_write.reset();

  auto inc = std::make_shared<Incarnation>(PrivateTag{}, p, std::move(*spawned),
                                           std::move(*channel), std::move(out_read));
  // The control thread keeps the incarnation alive until the worker is reaped.
  inc->control_ = std::thread([self = inc] { self->control_loop(); });

  bool hello = false;
  {
    std::unique_lock lock(inc->state_mutex_);
    inc->state_cv_.wait_for(lock, config.start_timeout,
                            [&] { return inc->hello_ || inc->reaped_ || inc->cause_; });
    hello = inc->hello_ && !inc->cause_;
  }
  if (hello) return inc;
  inc->fail(
      Failure::start_failed(fmt::format("no hello within {} ms", config.start_timeout.count())));
  inc->stop();
  Failure why;
  {
    std::lock_guard lock(inc->state_mutex_);
    why = *inc->cause_;
  }
  std::string text = why.kind == Failure::Kind::kStartFailed ? why.text : why.describe();
  return tl::unexpected(
      Failure::start_failed(fmt::format("{} (worker {}, pid {}){}", text, p.worker.string(),
                                        inc->pid(), output_section(inc->output_tail()))));
}

Incarnation::~Incarnation() {
  fail(Failure::shutdown());
  if (control_.joinable()) {
    if (control_.get_id() == std::this_thread::get_id())
      control_.detach();  // the control thread let go of the last reference
    else
      control_.join();
  }
  drop_proxies();
}

// ---------------------------------------------------------------- lanes

tl::expected<LaneSlot*, Failure> Incarnation::acquire_lane() {
  std::unique_lock lock(lanes_mutex_);
  for (;;) {
    if (!alive()) {
      lock.unlock();
      return tl::unexpected(fail(Failure::shutdown()));
    }
    if (!free_lanes_.empty()) {
      LaneSlot* slot = free_lanes_.back();
      free_lanes_.pop_back();
      return slot;
    }
    if (all_lanes_.size() + opening_ < config_.max_lanes) {
      ++opening_;
      std::uint32_t id = next_lane_id_++;
      lock.unlock();
      auto lane = channel_->open_lane(id);
      lock.lock();
      --opening_;
      if (!lane) {
        lock.unlock();
        return tl::unexpected(lost("opening a lane: " + lane.error().text));
      }
      auto slot = std::make_unique<LaneSlot>();
      slot->lane = std::move(*lane);
      LaneSlot* raw = slot.get();
      all_lanes_.push_back(std::move(slot));
      if (!alive()) raw->lane->shut_down();
      return raw;
    }
    lane_freed_.wait(lock);
  }
}

void Incarnation::release_lane(LaneSlot* slot) {
  {
    std::lock_guard lock(lanes_mutex_);
    free_lanes_.push_back(slot);
  }
  lane_freed_.notify_one();
}

void Incarnation::shut_down_lanes() {
  {
    std::lock_guard lock(lanes_mutex_);
    for (auto& s : all_lanes_) s->lane->shut_down();
  }
  channel_->shut_down();
  lane_freed_.notify_all();
}

// ---------------------------------------------------------------- death

Failure Incarnation::fail(Failure why) {
  Failure recorded;
  bool kill_now = false;
  {
    std::lock_guard lock(state_mutex_);
    if (!cause_) cause_ = std::move(why);
    recorded = *cause_;
    if (!reaped_ && !killed_) {
      killed_ = true;
      kill_now = true;
    }
  }
  alive_.store(false, std::memory_order_release);
  if (kill_now) pidfd_signal(pidfd_.get(), SIGKILL);
  shut_down_lanes();
  state_cv_.notify_all();
  return recorded;
}

Failure Incarnation::lost(const std::string& what) {
  {
    std::unique_lock lock(state_mutex_);
    state_cv_.wait_for(lock, config_.exit_grace, [&] { return reaped_ || cause_.has_value(); });
    if (cause_) return *cause_;
  }
  return fail(Failure::protocol(what + ", and the worker did not exit"));
}

void Incarnation::stop() {
  fail(Failure::shutdown());
  std::lock_guard lock(join_mutex_);
  if (control_.joinable() && control_.get_id() != std::this_thread::get_id()) control_.join();
}

std::string Incarnation::output_tail() const {
  std::lock_guard lock(state_mutex_);
  return tail_;
}

void Incarnation::reap() {
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  drain_output();
  Failure natural = Failure::exit_status(-1);  // reaped by someone else (SIGCHLD ignored)
  if (r == pid_) {
    if (WIFSIGNALED(status))
      natural = Failure::signal(WTERMSIG(status));
    else if (WIFEXITED(status))
      natural = Failure::exit_status(WEXITSTATUS(status));
  }
  {
    std::lock_guard lock(state_mutex_);
    reaped_ = true;
    if (!cause_) cause_ = natural;
  }
  alive_.store(false, std::memory_order_release);
  shut_down_lanes();
  state_cv_.notify_all();
}

// ---------------------------------------------------------------- control thread

void Incarnation::wake() {
  std::uint64_t one = 1;
  while (::write(wake_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Incarnation::queue_release(std::uint64_t id) {
  bool signal = false;
  {
    std::lock_guard lock(queue_mutex_);
    releases_.push_back(id);
    signal = !std::exchange(wake_pending_, true);
  }
  if (signal) wake();
}

void Incarnation::proxy_fired(std::uint64_t key, Term pid) {
  bool signal = false;
  {
    std::lock_guard lock(queue_mutex_);
    downs_.emplace_back(key, pid);
    signal = !std::exchange(wake_pending_, true);
  }
  if (signal) wake();
}

bool Incarnation::drain_output() {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(output_.get(), buf, sizeof buf);
    if (n > 0) {
      std::lock_guard lock(state_mutex_);
      tail_.append(buf, static_cast<std::size_t>(n));
      if (tail_.size() > config_.stderr_tail_bytes)
        tail_.erase(0, tail_.size() - config_.stderr_tail_bytes);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n != 0;  // EOF: false; EAGAIN (or an error): keep polling
  }
}

void Incarnation::flush_queues() {
  std::vector<std::uint64_t> releases;
  std::vector<std::pair<std::uint64_t, Term>> downs;
  {
    std::lock_guard lock(queue_mutex_);
    releases.swap(releases_);
    downs.swap(downs_);
    wake_pending_ = false;
  }
  Lane& control = channel_->control();
  std::vector<std::uint8_t> out;
  auto send = [&](std::span<const std::uint8_t> frame) {
    if (!alive()) return;
    auto s = control.send(frame, Deadline::after(config_.exit_grace));
    if (!s && s.error().code == ChannelErrc::kTimeout)
      fail(Failure::protocol("the worker does not read its control lane"));
  };
  if (!releases.empty()) {
    std::map<std::uint64_t, std::uint64_t> counts;
    for (std::uint64_t id : releases) ++counts[id];
    FrameWriter w(out, MessageKind::kRelease, kControlLane, 0);
    for (auto [id, n] : counts) {
      w.unsigned_integer(id);
      w.unsigned_integer(n);
    }
    send(w.finish());
  }
  for (auto [key, pid] : downs) {
    core::Resource* proxy = nullptr;
    {
      std::lock_guard lock(proxies_mutex_);
      auto it = proxies_.find(key);
      if (it != proxies_.end()) {
        proxy = it->second.resource;
        proxies_.erase(it);
      }
    }
    FrameWriter w(out, MessageKind::kDown, kControlLane, 0);
    w.unsigned_integer(key);
    w.atom(pid);  // a local pid is an immediate, encoded like any term
    send(w.finish());
    if (proxy != nullptr) proxy->release();
  }
}

bool Incarnation::handle_control(const Frame& f) {
  if (f.header.lane != kControlLane) {
    fail(Failure::protocol(
        fmt::format("a frame for lane {} arrived on the control lane", f.header.lane)));
    return false;
  }
  if (!kind_allowed(f.header.kind, Direction::kToHost, true)) {
    fail(Failure::protocol(
        fmt::format("a {} frame on the control lane", message_kind_name(f.header.kind))));
    return false;
  }
  core::Heap heap(64);
  if (f.header.kind == MessageKind::kHello) {
    auto opts = wire_decode_options(nullptr, nullptr);
    PayloadReader r(f.payload, heap, opts);
    auto version = r.integer("hello: protocol version", 0, 65535);
    if (!version || *version != kProtocolVersion) {
      fail(Failure::protocol(version
                                 ? fmt::format("the worker speaks protocol version {}", *version)
                                 : version.error()));
      return false;
    }
    bool again;
    {
      std::lock_guard lock(state_mutex_);
      again = std::exchange(hello_, true);
    }
    state_cv_.notify_all();
    if (again) {
      fail(Failure::protocol("a second hello"));
      return false;
    }
    return true;
  }
  // A HOST_REQUEST from a thread that serves no call.
  {
    std::unique_lock lock(state_mutex_);
    if (!hello_) {
      lock.unlock();
      fail(Failure::protocol("a host request before hello"));
      return false;
    }
  }
  std::vector<std::uint8_t> out;
  auto reply = serve(f, core::kNilTerm, heap, out);
  if (!reply) {
    fail(Failure::protocol(reply.error()));
    return false;
  }
  auto s = channel_->control().send(*reply, Deadline::after(config_.exit_grace));
  heap.clear();
  if (!s) {
    if (s.error().code == ChannelErrc::kTimeout)
      fail(Failure::protocol("the worker does not read its control lane"));
    return false;
  }
  return true;
}

void Incarnation::control_loop() {
  bool control_open = true;
  bool output_open = true;
  std::optional<Clock::time_point> closed_at;
  for (;;) {
    pollfd fds[4] = {
        {control_open ? channel_->control().poll_fd() : -1, POLLIN, 0},
        {wake_.get(), POLLIN, 0},
        {pidfd_.get(), POLLIN, 0},
        {output_open ? output_.get() : -1, POLLIN, 0},
    };
    int timeout = -1;
    if (closed_at) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *closed_at + config_.exit_grace - Clock::now());
      if (left.count() <= 0) {
        fail(Failure::protocol("the worker closed its control lane and did not exit"));
        closed_at.reset();
      } else {
        timeout = static_cast<int>(left.count()) + 1;
      }
    }
    int n = ::poll(fds, 4, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Cannot watch the worker any more: end it rather than lose track of it.
      fail(Failure::protocol(fmt::format("poll: {}", std::strerror(errno))));
      reap();
      break;
    }
    if (fds[3].revents != 0 && !drain_output()) output_open = false;
    if (fds[2].revents != 0) {
      reap();
      break;
    }
    if (fds[0].revents != 0) {
      for (;;) {
        auto f = channel_->control().receive(Deadline::immediate());
        if (!f) {
          if (f.error().code == ChannelErrc::kWouldBlock) break;
          control_open = false;
          if (f.error().code == ChannelErrc::kClosed) {
            if (alive()) closed_at = Clock::now();
          } else {
            fail(Failure::protocol("control lane: " + f.error().text));
          }
          break;
        }
        if (!handle_control(*f)) {
          control_open = false;
          break;
        }
      }
    }
    if (fds[1].revents != 0) {
      std::uint64_t v;
      while (::read(wake_.get(), &v, sizeof v) < 0 && errno == EINTR) {
      }
      flush_queues();
    }
  }
  drop_proxies();
  // Releases queued after death concern nothing any more.
  std::lock_guard lock(queue_mutex_);
  releases_.clear();
  downs_.clear();
}

// ---------------------------------------------------------------- monitors

int Incarnation::monitor(std::uint64_t key, Term pid) {
  if (!core::is_local_pid(pid)) return 1;
  core::Resource* r = core::Resource::create(proxy_type(), sizeof(ProxyData));
  if (r == nullptr) return -1;
  new (r->data()) ProxyData{weak_from_this(), key};
  {
    std::lock_guard lock(proxies_mutex_);
    if (proxies_.count(key) != 0 || !alive()) {
      r->release();
      return -1;
    }
    r->acquire();  // the table's reference
    proxies_.emplace(key, Proxy{r, {}});
  }
  core::Heap heap(16);
  core::EnvScope env(core::EnvKind::kCallback, heap, nullptr, &host_);
  ErlNifPid target{pid};
  ErlNifMonitor mon;
  int rc = enif_monitor_process(env.get(), r->data(), &target, &mon);
  core::Resource* unused = nullptr;
  {
    std::lock_guard lock(proxies_mutex_);
    auto it = proxies_.find(key);
    if (it != proxies_.end() && it->second.resource == r) {
      if (rc == 0) {
        it->second.monitor = mon;
      } else {
        unused = r;
        proxies_.erase(it);
      }
    }
  }
  if (unused != nullptr) unused->release();
  r->release();
  return rc;
}

int Incarnation::demonitor(std::uint64_t key) {
  Proxy p{};
  {
    std::lock_guard lock(proxies_mutex_);
    auto it = proxies_.find(key);
    if (it == proxies_.end()) return 1;
    p = it->second;
    proxies_.erase(it);
  }
  core::Heap heap(16);
  core::EnvScope env(core::EnvKind::kCallback, heap, nullptr, &host_);
  int rc = enif_demonitor_process(env.get(), p.resource->data(), &p.monitor);
  p.resource->release();
  return rc == 0 ? 0 : 1;
}

void Incarnation::drop_proxies() {
  std::unordered_map<std::uint64_t, Proxy> proxies;
  {
    std::lock_guard lock(proxies_mutex_);
    proxies.swap(proxies_);
  }
  for (auto& [key, p] : proxies) {
    core::Heap heap(16);
    core::EnvScope env(core::EnvKind::kCallback, heap, nullptr, &host_);
    (void)enif_demonitor_process(env.get(), p.resource->data(), &p.monitor);
    p.resource->release();
  }
}

// ---------------------------------------------------------------- host requests

namespace {

template <class F>
auto guarded(F&& f, decltype(f()) fallback) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return fallback;  // the VM failed: the NIF sees the API's failure value
  }
}

}  // namespace

tl::expected<std::span<const std::uint8_t>, std::string> Incarnation::serve(
    const Frame& f, Term caller, core::Heap& scratch, std::vector<std::uint8_t>& out) {
  HostHandles ext(*this);
  auto opts = wire_decode_options(&ext, f.owner);
  PayloadReader r(f.payload, scratch, opts);
  auto op_atom = r.atom("host request");
  if (!op_atom) return tl::unexpected(op_atom.error());
  auto op = host_op_from_atom(*op_atom);
  if (!op)
    return tl::unexpected(fmt::format("unknown host request '{}'", core::atom_text(*op_atom)));
  std::string what = std::string("host request ") + host_op_name(*op);
  auto fail_with = [&](const std::string& e) { return tl::unexpected(what + ": " + e); };
  Term reply = core::kNilTerm;
  auto boolean = [](bool b) { return b ? core::atoms::kTrue : core::atoms::kFalse; };
  switch (*op) {
    case HostOp::kSend: {
      auto from_caller = r.boolean("from caller");
      if (!from_caller) return fail_with(from_caller.error());
      auto to = r.term("to");
      if (!to) return fail_with(to.error());
      auto msg = r.term("message");
      if (!msg) return fail_with(msg.error());
      std::optional<Term> from;
      if (*from_caller && !core::is_nil(caller)) from = caller;
      bool sent =
          core::is_local_pid(*to) && guarded([&] { return host_.send(from, *to, *msg); }, false);
      reply = boolean(sent);
      break;
    }
    case HostOp::kWhereisPid:
    case HostOp::kWhereisPort: {
      auto name = r.atom("name");
      if (!name) return fail_with(name.error());
      bool pid = *op == HostOp::kWhereisPid;
      std::optional<Term> found =
          guarded([&] { return pid ? host_.whereis_pid(*name) : host_.whereis_port(*name); },
                  std::optional<Term>());
      bool ok = found && (pid ? core::is_local_pid(*found) : core::is_local_port(*found));
      reply = ok ? *found : core::atoms::kUndefined;
      break;
    }
    case HostOp::kIsProcessAlive: {
      auto pid = r.term("pid");
      if (!pid) return fail_with(pid.error());
      reply = boolean(core::is_local_pid(*pid) &&
                      guarded([&] { return host_.is_process_alive(*pid); }, false));
      break;
    }
    case HostOp::kIsPortAlive: {
      auto port = r.term("port");
      if (!port) return fail_with(port.error());
      reply = boolean(core::is_local_port(*port) &&
                      guarded([&] { return host_.is_port_alive(*port); }, false));
      break;
    }
    case HostOp::kMonitor: {
      auto key = r.unsigned_integer("monitor");
      if (!key) return fail_with(key.error());
      auto pid = r.term("pid");
      if (!pid) return fail_with(pid.error());
      reply = core::make_small(guarded([&] { return monitor(*key, *pid); }, -1));
      break;
    }
    case HostOp::kDemonitor: {
      auto key = r.unsigned_integer("monitor");
      if (!key) return fail_with(key.error());
      reply = core::make_small(guarded([&] { return demonitor(*key); }, 1));
      break;
    }
    case HostOp::kPortCommand: {
      auto port = r.term("port");
      if (!port) return fail_with(port.error());
      auto msg = r.term("message");
      if (!msg) return fail_with(msg.error());
      reply = boolean(core::is_local_port(*port) &&
                      guarded([&] { return host_.port_command(*port, *msg); }, false));
      break;
    }
  }
  if (auto e = r.end(what); !e) return tl::unexpected(e.error());
  FrameWriter w(out, MessageKind::kHostReply, f.header.lane, f.header.request);
  if (auto e = w.term(reply); !e) return tl::unexpected(what + ": " + e.error().what());
  return w.finish();
}

}  // namespace nifhost::process::detail
