// Many threads make many calls through the shm backend while the worker is
// killed at random moments. Every call ends — with its own answer (never
// another call's: each argument is unique and must come back identical) or a
// contained failure — and none hangs. Runs under ThreadSanitizer in CI.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <signal.h>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../../process/tests/support.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/shm/shm_backend.hpp"

namespace nifhost::shm {
namespace {

using namespace std::chrono_literals;
using process::IsolatedBackend;
using process::testing::nif_path;
using process::testing::outcome_text;
using process::testing::text;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr auto kRunFor = 4s;
#else
constexpr auto kRunFor = 3s;
#endif

// The bytes of call `seq` of thread `thread`: sizes that cross the inline,
// data-area and chunked paths of a small segment.
std::string payload(int thread, std::uint64_t seq) {
  static constexpr std::size_t kSizes[] = {0, 40, 900, 3000, 70'000, 300'000};
  std::size_t n = kSizes[(seq * 7 + static_cast<std::uint64_t>(thread)) % std::size(kSizes)];
  std::string s(n, '\0');
  std::uint32_t x =
      static_cast<std::uint32_t>(seq * 2654435761u) ^ static_cast<std::uint32_t>(thread + 1);
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// What a call on a worker killed under it may end with: the kill itself, or
// a replacement killed before it said hello. Anything else (a protocol
// violation, say) would be a bug in the channel.
bool killed(const std::string& reason) {
  return reason == "{nifhost,nh_terms,echo,{signal,'SIGKILL'}}" ||
         reason.rfind("{nifhost,nh_terms,echo,{start_failed,", 0) == 0;
}

TEST(ShmStress, EveryCallGetsItsOwnAnswerOrAContainedFailureWhileWorkersDie) {
  core::NullHostServices host;
  process::IsolatedConfig config;
  config.max_lanes = 8;
  ShmOptions options;
  options.geometry.ring_bytes = 16 << 10;   // inline up to 4 KiB
  options.geometry.data_bytes = 128 << 10;  // chunks beyond 128 KiB
  auto backend = make_shm_backend(host, config, options).value();
  auto& isolated = dynamic_cast<IsolatedBackend&>(*backend);
  core::LibrarySpec spec;
  spec.path = nif_path("nh_terms");
  spec.max_restarts = 1'000'000;
  spec.call_deadline = 30s;  // a hang shows as a slow test, not a timeout answer
  auto lib = backend->load(spec).value();
  auto echo = backend->lookup(lib, "echo", 1).value();

  constexpr int kThreads = 6;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0}, contained{0}, wrong{0}, kills{0};
  std::atomic<std::int64_t> slowest_ms{0};
  std::vector<std::string> wrong_text(kThreads);

  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t)
    callers.emplace_back([&, t] {
      core::Heap heap;
      for (std::uint64_t seq = 0; !stop.load(); ++seq) {
        heap.clear();
        core::Term arg = core::make_tuple(
            heap, {core::make_small(t), core::make_small(static_cast<std::int64_t>(seq)),
                   core::make_binary(heap, payload(t, seq))});
        auto start = std::chrono::steady_clock::now();
        auto r = backend->call(echo, core::Caller{&heap, core::kNilTerm}, {&arg, 1});
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
        std::int64_t prev = slowest_ms.load();
        while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
        }
        if (r.ok() && core::identical(r.value(), arg)) {
          ++answered;
        } else if (const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
                   f != nullptr && killed(text(f->reason))) {
          ++contained;
        } else {
          if (wrong++ == 0) wrong_text[static_cast<std::size_t>(t)] = outcome_text(r);
        }
      }
    });

  std::thread killer([&] {
    std::mt19937 rng(12345);
    while (!stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 150));
      pid_t pid = isolated.worker_pid(lib);
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ++kills;
    }
  });

  std::this_thread::sleep_for(kRunFor);
  stop = true;
  killer.join();
  for (auto& c : callers) c.join();

  for (const auto& w : wrong_text) EXPECT_TRUE(w.empty()) << w;
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(answered.load(), 0u);
  EXPECT_GT(kills.load(), 0u);
  EXPECT_GT(contained.load(), 0u);
  // A death is noticed when it happens, not at the 30 s deadline.
  EXPECT_LT(slowest_ms.load(), 10'000);

  // After the storm the worker is back and answers (the first call may still
  // meet the last one killed, if its death was not yet reaped).
  core::Heap heap;
  core::Term arg = core::make_binary(heap, payload(0, 1));
  auto r = backend->call(echo, core::Caller{&heap, core::kNilTerm}, {&arg, 1});
  if (!r.ok()) r = backend->call(echo, core::Caller{&heap, core::kNilTerm}, {&arg, 1});
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  EXPECT_TRUE(core::identical(r.value(), arg));
  std::printf("answered %llu, contained %llu, kills %llu, slowest call %lld ms\n",
              static_cast<unsigned long long>(answered.load()),
              static_cast<unsigned long long>(contained.load()),
              static_cast<unsigned long long>(kills.load()),
              static_cast<long long>(slowest_ms.load()));
}

}  // namespace
}  // namespace nifhost::shm
