// The shm backend beside the physical limits of shared memory between two
// processes, measured in the same run. (Every backend's generic call rows are
// in call_bench.cpp; these are the ones the shm transport is judged by.)
//
//   nifhost_bench_shm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Rows:
//   Limit/spin                      a round trip between two processes through a
//                                   shared segment, both sides spinning (and, past
//                                   3 µs, yielding between looks, as the lanes do):
//                                   what no shared-memory transport can beat
//   Limit/spin-pure                 the same without yielding: equal to Limit/spin on
//                                   an idle machine, far worse when cores are busy
//   Limit/futex                     the same, both sides asleep in FUTEX_WAIT and
//                                   woken by FUTEX_WAKE each way: the floor of a
//                                   blocking transport
//   Limit/memcpy/<bytes>            one memcpy of that many bytes (hot buffers)
//   Ring/copy-out/<bytes>           a frame written to a ring (and data area) and
//                                   read back in this process, copied out of the
//                                   segment as the host reads; Ring/in-place/<bytes>:
//                                   read where it lies, as the worker reads. The
//                                   difference is the cost of the host's copy.
//   Call/shm/nh_terms:noop/0        a NIF call with no arguments (spin, then sleep)
//   Call/shm-blocking/...           the same with spinning off (both sides sleep at once)
//   Call/shm/nh_terms:add/2         two small integers in, one out
//   Call/process/nh_terms:noop/0    the socket transport, for comparison
//   Call/shm/nh_binaries:size/<bytes>  a binary of <bytes> as the argument, an
//                                   integer back: the data area's cost
//   Call/shm/nh_terms:noop/0/threads:N  N callers at once, each on its own lane
//                                   (real time per call per caller)
// Goals: Call/shm/noop <= 2 x Limit/spin; Call/shm-blocking/noop <= 1.25 x
// Limit/futex; size/1048576 <= 1.5 x (Limit/memcpy/1048576 + Call/shm/noop).
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <signal.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

#include "nifhost/core/host_services.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/process/process_backend.hpp"
#include "nifhost/process/protocol.hpp"
#include "nifhost/shm/ring.hpp"
#include "nifhost/shm/segment.hpp"
#include "nifhost/shm/shm_backend.hpp"
#include "nifhost/shm/wait.hpp"

namespace {

using namespace nifhost;
using core::Term;
using shm::word;

const std::size_t kSizes[] = {0, 64, 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024};

std::string nif_path(const char* name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir != nullptr ? dir : NIFHOST_BENCH_BINARY_DIR) / "nifs" /
          (std::string(name) + ".so"))
      .string();
}

// ------------------------------------------------------------------ limits

// Two words on lines of their own: the parent writes `ping`, the child
// answers with the same value in `pong`.
struct alignas(64) PingPong {
  alignas(64) std::uint32_t ping;
  alignas(64) std::uint32_t pong;
  alignas(64) std::uint32_t stop;
};

// How the two ends of the raw ping-pong wait.
enum class Wait {
  kSpinPure,  // poll with `pause` only: the floor on an idle machine
  kSpin,      // poll, and after 3 µs poll between sched_yield()s — what the
              // shm lanes do before they sleep, so that on a loaded machine the
              // limit is measured under the same rules as the transport
  kFutex,     // FUTEX_WAIT / FUTEX_WAKE every time
};

// Polls until `w` differs from `seen` (kSpin, kSpinPure) and returns it.
std::uint32_t spin_until_changed(std::uint32_t& w, std::uint32_t seen, Wait how) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      std::uint32_t v = word(w).load(std::memory_order_acquire);
      if (v != seen) return v;
      shm::cpu_relax();
    }
    if (how == Wait::kSpin &&
        std::chrono::steady_clock::now() - start > std::chrono::microseconds(3))
      shm::yield_cpu();
  }
}

// A child process answering pings through a shared segment, spinning or
// sleeping on the futex words.
class Peer {
 public:
  explicit Peer(Wait how) : how_(how) {
    auto seg = shm::Segment::create("nifhost-bench", 4096);
    if (!seg) std::abort();
    auto map = seg->map(0, 4096, true);
    if (!map) std::abort();
    map_ = *map;
    pp_ = reinterpret_cast<PingPong*>(map_->data());
    pid_ = ::fork();
    if (pid_ == 0) serve();
  }
  ~Peer() {
    word(pp_->stop).store(1);
    word(pp_->ping).fetch_add(1);
    shm::futex_wake(&pp_->ping);
    ::waitpid(pid_, nullptr, 0);
  }

  void round_trip() {
    std::uint32_t v = ++seq_;
    word(pp_->ping).store(v, std::memory_order_release);
    if (how_ == Wait::kFutex) {
      shm::futex_wake(&pp_->ping, 1);
      while (word(pp_->pong).load(std::memory_order_acquire) != v)
        shm::futex_wait(&pp_->pong, v - 1, std::chrono::nanoseconds(0));
    } else {
      spin_until_changed(pp_->pong, v - 1, how_);
    }
  }

 private:
  // Only atomics, futex, sched_yield and _exit here: the parent may have had threads.
  [[noreturn]] void serve() {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t v;
      if (how_ == Wait::kFutex) {
        while ((v = word(pp_->ping).load(std::memory_order_acquire)) == seen)
          shm::futex_wait(&pp_->ping, seen, std::chrono::nanoseconds(0));
      } else {
        v = spin_until_changed(pp_->ping, seen, how_);
      }
      if (word(pp_->stop).load() != 0) ::_exit(0);
      seen = v;
      word(pp_->pong).store(v, std::memory_order_release);
      if (how_ == Wait::kFutex) shm::futex_wake(&pp_->pong, 1);
    }
  }

  Wait how_;
  std::shared_ptr<shm::Mapping> map_;
  PingPong* pp_ = nullptr;
  pid_t pid_ = -1;
  std::uint32_t seq_ = 0;
};

void limit_ping_pong(benchmark::State& state, Wait how) {
  Peer peer(how);
  for (auto _ : state) peer.round_trip();
}

// Page-aligned buffers, as the data areas are: two heap blocks at the same
// small offset into their pages send some CPUs' `rep movsb` down a slow path
// (64 KiB at a tenth of the speed), which would flatter everything beside it.
void limit_memcpy(benchmark::State& state, std::size_t n) {
  auto alloc = [&](int fill) {
    auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(4096, (n + 4096) & ~std::size_t{4095}));
    std::memset(p, fill, n);
    return std::unique_ptr<std::uint8_t, decltype(&std::free)>(p, &std::free);
  };
  auto a = alloc(1);
  auto b = alloc(2);
  for (auto _ : state) {
    std::memcpy(b.get(), a.get(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n));
}

// One frame through a ring and its data area in this process, the reader
// copying it out (the host's way: the worker could change the bytes after
// they were checked) or decoding in place (the worker's way): the difference
// is what the host's copy costs.
void ring_transfer(benchmark::State& state, shm::DataMode mode, std::size_t n) {
  shm::Geometry g;
  g.data_bytes = 32ull << 20;
  g.max_lanes = 1;
  auto seg = shm::Segment::create("nifhost-bench", g.segment_bytes());
  if (!seg) return state.SkipWithError(seg.error().c_str());
  auto map = seg->map(g.lane_offset(1), g.lane_stride());
  if (!map) return state.SkipWithError(map.error().c_str());
  shm::LaneRegion r = shm::lane_region((*map)->data(), g);
  shm::WaitPolicy policy;
  shm::RingWriter writer(r.control->to_host, {r.ring_to_host, g.ring_bytes},
                         {r.data_to_host, static_cast<std::size_t>(g.data_bytes)}, g, policy);
  shm::RingReader reader(r.control->to_host, {r.ring_to_host, g.ring_bytes},
                         {r.data_to_host, static_cast<std::size_t>(g.data_bytes)}, g, policy,
                         std::size_t{64} << 20, mode, *map);
  std::vector<std::uint8_t> frame(process::kFrameHeaderSize + n, 7);
  process::write_header(frame.data(),
                        {process::MessageKind::kResult, 1, 1, static_cast<std::uint32_t>(n)});
  std::atomic<bool> shut{false};
  for (auto _ : state) {
    if (!writer.write(frame, process::Deadline::never(), shut))
      return state.SkipWithError("write failed");
    auto f = reader.read(process::Deadline::never(), shut);
    if (!f) return state.SkipWithError(f.error().text.c_str());
    benchmark::DoNotOptimize(f->payload.data());
    reader.release_frame();  // one thread plays both ends: free the area for the next
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n));
}

// ------------------------------------------------------------------ calls

struct Session {
  core::NullHostServices host;
  std::unique_ptr<core::Backend> backend;
  core::LibraryHandle lib;
  std::string error;
};

enum class Kind { kShm, kShmBlocking, kProcess };

// One backend per kind and suite for the whole run: concurrent rows share it
// as callers of one VM would.
Session& session(Kind kind, const char* suite) {
  static std::mutex mutex;
  static std::map<std::pair<Kind, std::string>, std::unique_ptr<Session>> sessions;
  std::lock_guard lock(mutex);
  auto& slot = sessions[{kind, suite}];
  if (slot) return *slot;
  slot = std::make_unique<Session>();
  Session& s = *slot;
  process::IsolatedConfig config;
  config.max_lanes = 8;
  tl::expected<std::unique_ptr<core::Backend>, core::LoadError> b;
  if (kind == Kind::kProcess) {
    b = process::make_process_backend(s.host, config);
  } else {
    shm::ShmOptions options;
    // The largest row (16 MiB and its framing) fits the data area in one piece.
    options.geometry.data_bytes = 32ull << 20;
    if (kind == Kind::kShmBlocking) {
      options.host_wait.spin = std::chrono::nanoseconds(0);
      options.worker_wait.spin = std::chrono::nanoseconds(0);
    }
    b = shm::make_shm_backend(s.host, config, options);
  }
  if (!b) {
    s.error = b.error().message();
    return s;
  }
  s.backend = std::move(*b);
  core::LibrarySpec spec;
  spec.path = nif_path(suite);
  spec.max_restarts = INT_MAX;
  auto lib = s.backend->load(spec);
  if (!lib) {
    s.error = lib.error().message();
    return s;
  }
  s.lib = *lib;
  return s;
}

void call_loop(benchmark::State& state, Session& s, const char* fn, std::vector<Term> args) {
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  auto f = s.backend->lookup(s.lib, fn, static_cast<unsigned>(args.size()));
  if (!f) return state.SkipWithError(f.error().message().c_str());
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  std::size_t n = 0;
  for (auto _ : state) {
    auto r = s.backend->call(*f, caller, args);
    if (!r.ok()) return state.SkipWithError("the call failed");
    benchmark::DoNotOptimize(r.value());
    if (++n % 64 == 0) heap.clear();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void call_noop(benchmark::State& state, Kind kind) {
  call_loop(state, session(kind, "nh_terms"), "noop", {});
}

void call_add(benchmark::State& state, Kind kind) {
  call_loop(state, session(kind, "nh_terms"), "add", {core::make_small(40), core::make_small(2)});
}

void call_size(benchmark::State& state, Kind kind, std::size_t n) {
  Session& s = session(kind, "nh_binaries");
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 13);
  core::Heap heap;
  Term bin = *core::make_binary(heap, bytes);
  call_loop(state, s, "size", {bin});
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n));
}

// Names carry the size themselves (no ->Arg suffix), so the JSON rows read
// "Limit/memcpy/1048576" beside "Call/shm/nh_binaries:size/1048576".
void register_all() {
  using benchmark::RegisterBenchmark;
  RegisterBenchmark("Limit/spin", limit_ping_pong, Wait::kSpin);
  RegisterBenchmark("Limit/spin-pure", limit_ping_pong, Wait::kSpinPure);
  RegisterBenchmark("Limit/futex", limit_ping_pong, Wait::kFutex);
  for (std::size_t n : kSizes)
    RegisterBenchmark(("Limit/memcpy/" + std::to_string(n)).c_str(), limit_memcpy, n);
  for (std::size_t n : kSizes) {
    RegisterBenchmark(("Ring/copy-out/" + std::to_string(n)).c_str(), ring_transfer,
                      shm::DataMode::kCopy, n);
    RegisterBenchmark(("Ring/in-place/" + std::to_string(n)).c_str(), ring_transfer,
                      shm::DataMode::kLease, n);
  }
  RegisterBenchmark("Call/shm/nh_terms:noop/0", call_noop, Kind::kShm);
  RegisterBenchmark("Call/shm/nh_terms:add/2", call_add, Kind::kShm);
  RegisterBenchmark("Call/shm-blocking/nh_terms:noop/0", call_noop, Kind::kShmBlocking);
  RegisterBenchmark("Call/shm-blocking/nh_terms:add/2", call_add, Kind::kShmBlocking);
  RegisterBenchmark("Call/process/nh_terms:noop/0", call_noop, Kind::kProcess);
  RegisterBenchmark("Call/process/nh_terms:add/2", call_add, Kind::kProcess);
  for (std::size_t n : kSizes)
    RegisterBenchmark(("Call/shm/nh_binaries:size/" + std::to_string(n)).c_str(), call_size,
                      Kind::kShm, n);
  for (int threads : {2, 4})
    RegisterBenchmark("Call/shm/nh_terms:noop/0", call_noop, Kind::kShm)
        ->Threads(threads)
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
