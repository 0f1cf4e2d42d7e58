// The worker can write anything into the segment at any time. A worker that
// lies about ring indices, record kinds and lengths, scribbles over its lanes
// while a call waits, rewrites an answer after publishing it, tries to resize
// the segment or plays with the futex words costs the caller a typed error —
// a contained failure naming the violation, or a timeout — and never the
// host its life; calls into other workers go on undisturbed throughout. A
// real worker whose NIF scribbles over the segment (nh_faults:scribble_shm/0)
// is contained the same way.
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <signal.h>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "../../process/tests/support.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/shm/shm_backend.hpp"

namespace nifhost::shm {
namespace {

using namespace std::chrono_literals;
using process::IsolatedBackend;
using process::IsolatedConfig;
using process::testing::eventually;
using process::testing::nif_path;
using process::testing::outcome_text;
using process::testing::text;

// Calls into a real worker (another process) from a thread of their own,
// checking each answer, for as long as the test runs.
class Bystander {
 public:
  Bystander() {
    backend_ = make_shm_backend(host_).value();
    core::LibrarySpec s;
    s.path = nif_path("nh_terms");
    lib_ = backend_->load(s).value();
    fn_ = backend_->lookup(lib_, "echo", 1).value();
    thread_ = std::thread([this] {
      core::Heap heap;
      while (!stop_) {
        heap.clear();
        core::Term arg =
            core::make_tuple(heap, {core::make_small(static_cast<std::int64_t>(calls_)),
                                    core::make_binary(heap, std::string(3000, 'b'))});
        auto r = backend_->call(fn_, core::Caller{&heap, core::kNilTerm}, {&arg, 1});
        if (!r.ok() || !core::identical(r.value(), arg)) ++wrong_;
        ++calls_;
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  ~Bystander() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t calls() const { return calls_; }
  std::uint64_t wrong() const { return wrong_; }

 private:
  core::NullHostServices host_;
  std::unique_ptr<core::Backend> backend_;
  core::LibraryHandle lib_;
  core::FunctionHandle fn_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> calls_{0}, wrong_{0};
  std::thread thread_;
};

class HostileShmWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    IsolatedConfig config;
    config.worker_path = NIFHOST_SHM_HOSTILE_WORKER;
    config.exit_grace = 300ms;
    config.max_lanes = 4;
    ShmOptions options;
    options.geometry.data_bytes = 1 << 20;
    backend_ = make_shm_backend(host_, config, options).value();
    core::LibrarySpec s;
    s.path = "/nonexistent/hostile.so";  // the hostile worker opens nothing
    s.module = "hostile";
    s.call_deadline = 300ms;
    s.max_restarts = 1000;
    auto lib = backend_->load(s);
    ASSERT_TRUE(lib.has_value()) << lib.error().message();
    lib_ = *lib;
  }

  core::CallResult call(const std::string& fn) {
    auto f = backend_->lookup(lib_, fn, 0);
    EXPECT_TRUE(f.has_value()) << fn;
    if (!f) return {core::ContainedFailure{core::atoms::kUndefined, "no such function"}};
    return backend_->call(*f, core::Caller{&heap_, core::kNilTerm}, {});
  }

  pid_t worker_pid() { return dynamic_cast<IsolatedBackend&>(*backend_).worker_pid(lib_); }

  void expect_ok(const std::string& fn) {
    auto r = call(fn);
    ASSERT_TRUE(r.ok()) << fn << ": " << outcome_text(r);
    EXPECT_EQ(r.value(), core::atoms::kOk);
  }

  core::NullHostServices host_;
  std::unique_ptr<core::Backend> backend_;
  core::LibraryHandle lib_;
  core::Heap heap_;
};

struct Lie {
  const char* function;
  const char* reason_prefix;  // of the printed reason
  const char* mentions;       // a phrase of the protocol text
};

TEST_F(HostileShmWorker, EveryLieInTheSegmentIsATypedErrorAndOtherWorkersCarryOn) {
  Bystander bystander;
  const Lie lies[] = {
      {"head_past_capacity", "{nifhost,hostile,head_past_capacity,{protocol,",
       "is not within the 65536-byte ring"},
      {"bad_record_kind", "{nifhost,hostile,bad_record_kind,{protocol,", "unknown kind 9"},
      {"inline_oversize", "{nifhost,hostile,inline_oversize,{protocol,", "an inline record of"},
      {"data_oversize", "{nifhost,hostile,data_oversize,{protocol,", "a data record of"},
      {"data_bad_seq", "{nifhost,hostile,data_bad_seq,{protocol,", "data frame 7 after"},
      {"chunk_liar", "{nifhost,hostile,chunk_liar,{protocol,", "announced as"},
      {"frame_length_lie", "{nifhost,hostile,frame_length_lie,{protocol,",
       "holds a frame claiming"},
      {"tail_lie", "{nifhost,hostile,tail_lie,{protocol,", "published tail"},
      {"bell_storm", "{nifhost,hostile,bell_storm,timeout}", ""},
  };
  for (const Lie& lie : lies) {
    SCOPED_TRACE(lie.function);
    pid_t worker = worker_pid();
    ASSERT_GT(worker, 0);
    auto start = std::chrono::steady_clock::now();
    auto r = call(lie.function);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
    ASSERT_NE(f, nullptr) << outcome_text(r);
    std::string reason = text(f->reason);
    EXPECT_EQ(reason.rfind(lie.reason_prefix, 0), 0u) << reason;
    EXPECT_NE(reason.find(lie.mentions), std::string::npos) << reason;
    EXPECT_TRUE(eventually([&] { return ::kill(worker, 0) != 0; })) << "not reaped: " << worker;
    expect_ok("ok");  // restarted
  }
  bystander.finish();
  EXPECT_GT(bystander.calls(), 10u);
  EXPECT_EQ(bystander.wrong(), 0u);
}

TEST_F(HostileShmWorker, ScribblingOverTheWholeLaneWhileACallWaitsIsContained) {
  Bystander bystander;
  for (int round = 0; round < 3; ++round) {
    auto r = call("scribble");
    const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
    ASSERT_NE(f, nullptr) << outcome_text(r);
    std::string reason = text(f->reason);
    EXPECT_TRUE(reason.rfind("{nifhost,hostile,scribble,{protocol,", 0) == 0 ||
                reason == "{nifhost,hostile,scribble,timeout}")
        << reason;
    expect_ok("ok");
  }
  bystander.finish();
  EXPECT_EQ(bystander.wrong(), 0u);
}

TEST_F(HostileShmWorker, AnAnswerRewrittenAfterPublishingIsReadOnceAndChecked) {
  for (int round = 0; round < 10; ++round) {
    auto r = call("flip_after_publish");
    // Whatever the host saw, it saw one consistent copy: either the answer
    // or a violation.
    if (!r.ok()) {
      const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
      ASSERT_NE(f, nullptr) << outcome_text(r);
      EXPECT_EQ(text(f->reason).rfind("{nifhost,hostile,flip_after_publish,{protocol,", 0), 0u)
          << text(f->reason);
    } else {
      EXPECT_EQ(r.value(), core::atoms::kOk);
    }
    std::this_thread::sleep_for(300ms);  // the liar stops rewriting
    expect_ok("ok");
  }
}

TEST_F(HostileShmWorker, TheSegmentCannotBeResizedOrSealedByTheWorker) {
  pid_t worker = worker_pid();
  expect_ok("shrink_segment");  // status 99 if it had succeeded
  EXPECT_EQ(worker_pid(), worker);
}

TEST_F(HostileShmWorker, HidingTheHostsSleepingFlagOnlyDelaysTheLiar) {
  expect_ok("sleeper_lie");  // the host wakes on its own within a sleep slice
}

// A real worker whose NIF finds the segment in /proc/self/maps and fills it
// with random bytes while other calls wait on the same worker.
TEST(ScribbleShm, ARealNifScribblingTheSegmentIsContained) {
  Bystander bystander;
  core::NullHostServices host;
  auto backend = make_shm_backend(host).value();
  core::LibrarySpec s;
  s.path = nif_path("nh_faults");
  s.max_restarts = 1000;
  s.call_deadline = 2000ms;
  auto lib = backend->load(s).value();
  auto scribble = backend->lookup(lib, "scribble_shm", 0).value();
  auto sleep = backend->lookup(lib, "sleep_ms", 1).value();
  auto ok = backend->lookup(lib, "ok", 0).value();
  for (int round = 0; round < 3; ++round) {
    // Calls in flight on other lanes of the same worker.
    std::vector<std::thread> waiting;
    std::atomic<int> contained{0}, answered{0};
    for (int i = 0; i < 3; ++i)
      waiting.emplace_back([&] {
        core::Heap heap;
        core::Term ms = core::make_small(300);
        auto r = backend->call(sleep, core::Caller{&heap, core::kNilTerm}, {&ms, 1});
        if (r.ok() && r.value() == core::atoms::kOk) ++answered;
        if (std::holds_alternative<core::ContainedFailure>(r.outcome)) ++contained;
      });
    std::this_thread::sleep_for(50ms);
    core::Heap heap;
    auto r = backend->call(scribble, core::Caller{&heap, core::kNilTerm}, {});
    for (auto& t : waiting) t.join();
    EXPECT_EQ(contained + answered, 3);
    const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
    ASSERT_NE(f, nullptr) << outcome_text(r);
    std::string reason = text(f->reason);
    // The worker's own end reads the garbage too and usually gives up first
    // (exit status 76, "the host broke the protocol"); otherwise the host
    // reports what it read.
    EXPECT_TRUE(reason.rfind("{nifhost,nh_faults,scribble_shm,{protocol,", 0) == 0 ||
                reason.rfind("{nifhost,nh_faults,scribble_shm,{exit_status,", 0) == 0 ||
                reason.rfind("{nifhost,nh_faults,scribble_shm,{signal,", 0) == 0 ||
                reason == "{nifhost,nh_faults,scribble_shm,timeout}")
        << reason;
    auto again = backend->call(ok, core::Caller{&heap, core::kNilTerm}, {});
    EXPECT_TRUE(again.ok()) << outcome_text(again);
  }
  bystander.finish();
  EXPECT_GT(bystander.calls(), 10u);
  EXPECT_EQ(bystander.wrong(), 0u);
}

// Whether this process maps a nifhost segment (as the NIF would find it).
bool maps_a_segment() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("/memfd:nifhost-shm") != std::string::npos) return true;
  return false;
}

TEST(ScribbleShm, OtherBackendsHaveNoSegmentToScribble) {
  // Under inproc the NIF runs in this process: it must find nothing here, or
  // it would scribble over a live shm backend's host-side mappings.
  ASSERT_FALSE(maps_a_segment()) << "an shm backend of an earlier test is still mapped";
  for (auto kind : {core::BackendKind::kProcess, core::BackendKind::kInproc}) {
    SCOPED_TRACE(core::backend_name(kind));
    auto vm = model::Vm::create(kind);
    ASSERT_TRUE(vm.has_value());
    core::LibrarySpec s;
    s.path = nif_path("nh_faults");
    auto lib = (*vm)->load(s).value();
    auto fn = (*vm)->lookup(lib, "scribble_shm", 0).value();
    model::Process& p = (*vm)->spawn();
    auto r = (*vm)->call(p, fn, {});
    ASSERT_TRUE(r.ok()) << outcome_text(r);
    EXPECT_EQ(text(r.value()), "no_segment");
  }
}

}  // namespace
}  // namespace nifhost::shm
