// The host treats every byte from a worker as hostile: a worker that answers
// garbage, lies about lengths, answers twice or out of turn, names the wrong
// lane, sends frames only the host may send, never answers, closes its lane or
// babbles on the control lane costs the caller a typed error — a contained
// failure naming the violation, or a timeout — and the host lives on and
// restarts it.
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "nifhost/process/isolated_backend.hpp"
#include "nifhost/process/socket_channel.hpp"
#include "support.hpp"

namespace nifhost::process::testing {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr auto kDeadline = 1500ms;  // a sanitized worker takes longer to even exit
#else
constexpr auto kDeadline = 300ms;
#endif

class HostileWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    IsolatedConfig config;
    config.worker_path = NIFHOST_HOSTILE_WORKER;
    config.exit_grace = 300ms;
    backend_ = std::make_unique<IsolatedBackend>(core::BackendKind::kProcess, host_,
                                                 std::make_unique<SocketChannelFactory>(), config);
    auto lib = backend_->load(spec("hostile"));
    ASSERT_TRUE(lib.has_value()) << lib.error().message();
    lib_ = *lib;
  }

  core::LibrarySpec spec(const std::string& module) {
    core::LibrarySpec s;
    s.path = "/nonexistent/hostile.so";  // the hostile worker opens nothing
    s.module = module;
    s.call_deadline = kDeadline;
    s.max_restarts = 1000;
    return s;
  }

  core::CallResult call(const std::string& fn) {
    auto f = backend_->lookup(lib_, fn, 0);
    EXPECT_TRUE(f.has_value()) << fn;
    if (!f) return {core::ContainedFailure{core::atoms::kUndefined, "no such function"}};
    return backend_->call(*f, core::Caller{&heap_, core::kNilTerm}, {});
  }

  // The failure's reason and detail; asserts the call ended in one.
  std::pair<std::string, std::string> failure_of(const core::CallResult& r) {
    const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
    EXPECT_NE(f, nullptr) << outcome_text(r);
    if (f == nullptr) return {};
    return {text(f->reason), f->detail};
  }

  void expect_recovers() {
    auto r = call("ok");
    ASSERT_TRUE(r.ok()) << outcome_text(r);
    EXPECT_EQ(r.value(), core::atoms::kOk);
  }

  core::NullHostServices host_;
  std::unique_ptr<IsolatedBackend> backend_;
  core::LibraryHandle lib_;
  core::Heap heap_;
};

struct Violation {
  const char* function;
  const char* reason_prefix;  // of the printed reason
  const char* mentions;       // a phrase of the protocol text
};

TEST_F(HostileWorker, EveryViolationIsATypedErrorAndTheWorkerIsReplaced) {
  const Violation cases[] = {
      {"garbage", "{nifhost,hostile,garbage,{protocol,", "bad frame magic ab ab ab ab"},
      {"oversize", "{nifhost,hostile,oversize,{protocol,", "claims 4294967280 payload bytes"},
      {"short", "{nifhost,hostile,short,timeout}", ""},
      {"huge_claim", "{nifhost,hostile,huge_claim,timeout}", ""},
      {"unsolicited", "{nifhost,hostile,unsolicited,{protocol,", "while request"},
      {"wrong_lane", "{nifhost,hostile,wrong_lane,{protocol,", "a frame for lane 10"},
      {"silent", "{nifhost,hostile,silent,timeout}", ""},
      {"bad_etf", "{nifhost,hostile,bad_etf,{protocol,", "result"},
      {"trailing", "{nifhost,hostile,trailing,{protocol,", "bytes after the last expected term"},
      {"bad_kind", "{nifhost,hostile,bad_kind,{protocol,", "unknown message kind 999"},
      {"wrong_kind", "{nifhost,hostile,wrong_kind,{protocol,", "a loaded frame in answer"},
      {"call_kind", "{nifhost,hostile,call_kind,{protocol,", "a call frame on call lane"},
      {"host_reply_kind", "{nifhost,hostile,host_reply_kind,{protocol,",
       "a host_reply frame on call lane"},
      {"close_lane", "{nifhost,hostile,close_lane,{protocol,", "did not exit"},
      {"exit", "{nifhost,hostile,exit,{exit_status,7}}", ""},
      {"scream", "{nifhost,hostile,scream,{exit_status,9}}", ""},
      {"bad_handle", "{nifhost,hostile,bad_handle,{protocol,", "a handle naming worker"},
      {"bad_class", "{nifhost,hostile,bad_class,{protocol,", "class"},
      {"bad_host_request", "{nifhost,hostile,bad_host_request,{protocol,",
       "unknown host request 'format_disk'"},
      {"control_garbage", "{nifhost,hostile,control_garbage,{protocol,", "control lane"},
  };
  for (const Violation& v : cases) {
    SCOPED_TRACE(v.function);
    pid_t worker = backend_->worker_pid(lib_);
    auto start = std::chrono::steady_clock::now();
    auto [reason, detail] = failure_of(call(v.function));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_EQ(reason.rfind(v.reason_prefix, 0), 0u) << reason;
    EXPECT_NE(reason.find(v.mentions), std::string::npos) << reason;
    EXPECT_TRUE(eventually([&] { return ::kill(worker, 0) != 0; })) << "not reaped: " << worker;
    expect_recovers();
  }
}

TEST_F(HostileWorker, WhatTheWorkerWroteIsAttachedToTheReport) {
  auto [reason, detail] = failure_of(call("scream"));
  EXPECT_EQ(reason, "{nifhost,hostile,scream,{exit_status,9}}");
  EXPECT_NE(detail.find("worker output"), std::string::npos) << detail;
  EXPECT_NE(detail.find("the hostile worker screams on stdout"), std::string::npos) << detail;
  EXPECT_NE(detail.find("and on stderr"), std::string::npos) << detail;
  expect_recovers();
}

TEST_F(HostileWorker, ASecondAnswerIsCaughtOnTheLanesNextUse) {
  auto first = call("twice");
  ASSERT_TRUE(first.ok()) << outcome_text(first);
  auto [reason, detail] = failure_of(call("ok"));
  EXPECT_EQ(reason.rfind("{nifhost,hostile,ok,{protocol,", 0), 0u) << reason;
  EXPECT_NE(reason.find("while request"), std::string::npos) << reason;
  expect_recovers();
}

TEST_F(HostileWorker, ALyingLoadAnswerIsRefused) {
  auto bad = backend_->load(spec("hostile_bad_loaded"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::LoadErrc::kWorker);
  EXPECT_NE(bad.error().text.find("broke the protocol"), std::string::npos) << bad.error().text;
  auto other = backend_->load(spec("hostile_other_module"));
  ASSERT_FALSE(other.has_value());
  EXPECT_NE(other.error().text.find("not_what_was_asked"), std::string::npos) << other.error().text;
  expect_recovers();
}

TEST_F(HostileWorker, AViolationEndsOnlyThatWorker) {
  core::LibrarySpec s = spec("hostile2");
  auto second = backend_->load(s);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  pid_t other = backend_->worker_pid(*second);
  failure_of(call("garbage"));
  EXPECT_EQ(backend_->worker_pid(*second), other);
  auto f = backend_->lookup(*second, "ok", 0);
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(backend_->call(*f, core::Caller{&heap_, core::kNilTerm}, {}).ok());
}

}  // namespace
}  // namespace nifhost::process::testing
