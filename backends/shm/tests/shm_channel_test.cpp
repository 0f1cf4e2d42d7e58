// What is particular to the shm channel, through a real worker: the worker
// really serves its calls from the segment, terms of every size cross both
// ways (inline, through the data areas, in chunks), and a caller waiting on a
// worker that dies learns it at once — spinning or asleep — not at its
// deadline.
#include <chrono>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <thread>

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

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ShmChannel : public ::testing::Test {
 protected:
  void start(ShmOptions options = small()) {
    process::IsolatedConfig config;
    config.max_lanes = 4;
    auto b = make_shm_backend(host_, config, options);
    ASSERT_TRUE(b.has_value()) << b.error().message();
    backend_ = std::move(*b);
  }
  static ShmOptions small() {
    ShmOptions o;
    o.geometry.ring_bytes = 4096;      // inline up to 1 KiB
    o.geometry.data_bytes = 64 << 10;  // chunks beyond 64 KiB
    return o;
  }
  core::LibraryHandle load(const std::string& name, std::chrono::milliseconds deadline = 10s) {
    core::LibrarySpec s;
    s.path = nif_path(name);
    s.call_deadline = deadline;
    s.max_restarts = 100;
    auto lib = backend_->load(s);
    EXPECT_TRUE(lib.has_value()) << (lib ? "" : lib.error().message());
    return lib.value_or(core::LibraryHandle{});
  }
  core::CallResult call(core::LibraryHandle lib, const std::string& fn,
                        std::vector<core::Term> args) {
    auto f = backend_->lookup(lib, fn, static_cast<unsigned>(args.size()));
    EXPECT_TRUE(f.has_value()) << fn;
    return backend_->call(*f, core::Caller{&heap_, core::kNilTerm}, args);
  }
  pid_t worker(core::LibraryHandle lib) {
    return dynamic_cast<IsolatedBackend&>(*backend_).worker_pid(lib);
  }

  core::NullHostServices host_;
  std::unique_ptr<core::Backend> backend_;
  core::Heap heap_;
};

TEST_F(ShmChannel, TheWorkerServesCallsFromTheSegment) {
  start();
  EXPECT_EQ(backend_->kind(), core::BackendKind::kShm);
  auto lib = load("nh_terms");
  ASSERT_TRUE(call(lib, "noop", {}).ok());
  pid_t pid = worker(lib);
  ASSERT_GT(pid, 0);
  std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  EXPECT_NE(cmdline.find(std::string("--channel\0shm", 13)), std::string::npos);
  // One lane in use: its region is mapped, by name, in the worker.
  std::string maps = slurp("/proc/" + std::to_string(pid) + "/maps");
  EXPECT_NE(maps.find("/memfd:nifhost-shm"), std::string::npos) << maps;
}

TEST_F(ShmChannel, TermsOfEverySizeCrossBothWays) {
  start();
  auto lib = load("nh_terms");
  // Around the 1 KiB inline limit, the 64 KiB data area, and well past it.
  for (std::size_t n : {0, 1, 900, 1000, 1100, 5000, 64 << 10, 70'000, 1 << 20, 3 << 20}) {
    SCOPED_TRACE(n);
    heap_.clear();
    std::string bytes(n, '\0');
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(i * 31 + n);
    core::Term arg = core::make_tuple(
        heap_, {core::make_binary(heap_, bytes), core::make_small(static_cast<std::int64_t>(n))});
    auto r = call(lib, "echo", {arg});
    ASSERT_TRUE(r.ok()) << outcome_text(r);
    EXPECT_TRUE(core::identical(r.value(), arg));
  }
}

// The caller waits on a futex in the segment; the supervisor sees the death
// (pidfd) and wakes it.
TEST_F(ShmChannel, ACallerLearnsOfADeathAtOnceSpinningOrAsleep) {
  for (auto spin : {std::chrono::nanoseconds(50'000), std::chrono::nanoseconds(0)}) {
    SCOPED_TRACE(spin.count());
    ShmOptions o = small();
    o.host_wait.spin = spin;
    o.worker_wait.spin = spin;
    o.host_wait.slice = std::chrono::hours(1);  // only the wake-up can end the wait early
    start(o);
    auto lib = load("nh_faults", 60s);
    pid_t pid = worker(lib);
    ASSERT_GT(pid, 0);
    std::thread killer([&] {
      std::this_thread::sleep_for(200ms);
      ::kill(pid, SIGKILL);
    });
    auto begin = std::chrono::steady_clock::now();
    auto r = call(lib, "sleep_ms", {core::make_small(30'000)});
    auto took = std::chrono::steady_clock::now() - begin;
    killer.join();
    const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
    ASSERT_NE(f, nullptr) << outcome_text(r);
    EXPECT_EQ(text(f->reason), "{nifhost,nh_faults,sleep_ms,{signal,'SIGKILL'}}");
    EXPECT_LT(took, 5s);
    backend_.reset();
  }
}

}  // namespace
}  // namespace nifhost::shm
