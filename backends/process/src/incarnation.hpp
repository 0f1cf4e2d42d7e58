#pragma once
// incarnation.hpp — one worker process as the host sees it: its channel and
// call lanes, the control thread that serves its control lane, watches its
// output and reaps it, and the single record of why it ended.
//
//   auto inc = Incarnation::start(params);           // spawned, HELLO received
//   LaneSlot* slot = inc->acquire_lane().value(); ... inc->release_lane(slot);
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "failure.hpp"
#include "fd.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/resource.hpp"
#include "nifhost/process/channel.hpp"
#include "nifhost/process/isolated_backend.hpp"
#include "spawn.hpp"

namespace nifhost::process::detail {

// One call lane, lent to one caller at a time, with the buffers its calls reuse.
struct LaneSlot {
  std::unique_ptr<Lane> lane;
  std::uint32_t next_request = 1;
  std::vector<std::uint8_t> out;  // outgoing frames
  core::Heap scratch{64};         // terms of host requests
};

struct StartParams {
  ChannelFactory* channels = nullptr;
  const IsolatedConfig* config = nullptr;
  std::filesystem::path worker;
  core::HostServices* host = nullptr;
  Spawner* spawner = nullptr;
  std::uint64_t domain = 0;
  std::uint64_t generation = 0;
  std::uint64_t address_space_limit = 0;
  std::uint64_t cpu_limit = 0;
};

class Incarnation : public std::enable_shared_from_this<Incarnation> {
  struct PrivateTag {};

 public:
  // Spawns the worker, starts the control thread and waits for HELLO.
  static tl::expected<std::shared_ptr<Incarnation>, Failure> start(const StartParams& params);

  Incarnation(PrivateTag, const StartParams& params, Spawned spawned,
              std::unique_ptr<HostChannel> channel, UniqueFd output);
  ~Incarnation();
  Incarnation(const Incarnation&) = delete;
  Incarnation& operator=(const Incarnation&) = delete;

  std::uint64_t domain() const { return domain_; }
  std::uint64_t generation() const { return generation_; }
  pid_t pid() const { return pid_; }
  bool alive() const { return alive_.load(std::memory_order_acquire); }
  const IsolatedConfig& config() const { return config_; }

  // A free call lane, opening one if none is free and fewer than max_lanes
  // exist, else waiting for one. Fails once the worker is gone.
  tl::expected<LaneSlot*, Failure> acquire_lane();
  void release_lane(LaneSlot* slot);

  // The worker must end: records why (the first reason recorded wins), kills
  // it and wakes every thread waiting on it. Returns the recorded reason.
  Failure fail(Failure why);
  // A lane reported that the worker closed it or failed: waits (up to
  // exit_grace) for the worker's death to be known and returns its reason; a
  // worker still alive by then broke the protocol and is killed.
  Failure lost(const std::string& what);
  // Kills the worker if it is alive and waits until it is reaped and the
  // control thread has finished.
  void stop();
  // The last bytes the worker wrote to stdout/stderr.
  std::string output_tail() const;

  // Serves one HOST_REQUEST frame; returns the HOST_REPLY frame (built in
  // `out`), or why the request breaks the protocol. `caller` is the process of
  // the call on whose lane it came (nil on the control lane).
  tl::expected<std::span<const std::uint8_t>, std::string> serve(const Frame& f, core::Term caller,
                                                                 core::Heap& scratch,
                                                                 std::vector<std::uint8_t>& out);

  // The last host reference to handle `id` is gone (WorkerResource).
  void queue_release(std::uint64_t id);
  // A monitor proxy's process went down (called by the VM, any thread).
  void proxy_fired(std::uint64_t key, core::Term pid);

 private:
  struct Proxy {
    core::Resource* resource;
    ErlNifMonitor monitor;
  };
  int monitor(std::uint64_t key, core::Term pid);
  int demonitor(std::uint64_t key);
  void drop_proxies();

  void control_loop();
  bool handle_control(const Frame& f);
  void flush_queues();
  bool drain_output();  // false at end of file
  void reap();
  void wake();
  void shut_down_lanes();

  const IsolatedConfig& config_;
  core::HostServices& host_;
  const std::uint64_t domain_;
  const std::uint64_t generation_;
  const pid_t pid_;
  UniqueFd pidfd_;
  std::unique_ptr<HostChannel> channel_;
  UniqueFd output_;  // read end of the worker's stdout/stderr pipe
  UniqueFd wake_;    // eventfd: wakes the control thread
  std::thread control_;
  std::mutex join_mutex_;  // join() from two threads at once is undefined

  std::atomic<bool> alive_{true};
  mutable std::mutex state_mutex_;
  std::condition_variable state_cv_;
  std::optional<Failure> cause_;  // guarded by state_mutex_
  bool hello_ = false;
  bool reaped_ = false;
  bool killed_ = false;
  std::string tail_;

  // Lane pool.
  std::mutex lanes_mutex_;
  std::condition_variable lane_freed_;
  std::vector<std::unique_ptr<LaneSlot>> all_lanes_;
  std::vector<LaneSlot*> free_lanes_;
  unsigned opening_ = 0;
  std::uint32_t next_lane_id_ = 1;

  // Work for the control thread.
  std::mutex queue_mutex_;
  std::vector<std::uint64_t> releases_;
  std::vector<std::pair<std::uint64_t, core::Term>> downs_;
  bool wake_pending_ = false;

  std::mutex proxies_mutex_;
  std::unordered_map<std::uint64_t, Proxy> proxies_;
};

// The host's side of the handle extension for one worker: handles of this
// incarnation leave as their words; any other handle is refused (and why is
// remembered); handles that arrive become WorkerResource objects.
class HostHandles final : public core::EtfExtension {
 public:
  enum class Refused { kNone, kStale, kForeign };
  explicit HostHandles(Incarnation& inc) : inc_(inc) {}
  Refused refused() const { return refused_; }

  std::optional<std::size_t> encoded_size(core::Term t) const override;
  void encode(core::Term t, std::uint8_t* out) const override;
  bool decodes_tag(std::uint8_t tag) const override;
  tl::expected<std::pair<core::Term, std::size_t>, std::string> decode(
      std::span<const std::uint8_t> in, core::Heap& heap) const override;

 private:
  Incarnation& inc_;
  mutable Refused refused_ = Refused::kNone;
};

}  // namespace nifhost::process::detail
