// run_process: how a child ended, what it printed, and that a hung child
// (and what it started) is killed at the deadline.
#include "nifhost/reports/subprocess.hpp"

#include <chrono>
#include <signal.h>

#include <gtest/gtest.h>

using namespace nifhost::reports;
using namespace std::chrono_literals;

TEST(RunProcess, CapturesOutputAndExitStatus) {
  auto r = run_process({"/bin/sh", "-c", "echo hello; exit 7"}, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->how, Ended::kExited);
  EXPECT_EQ(r->status, 7);
  EXPECT_EQ(r->output, "hello\n");
}

TEST(RunProcess, ReportsTheSignal) {
  auto r = run_process({"/bin/sh", "-c", "kill -SEGV $$"}, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->how, Ended::kSignaled);
  EXPECT_EQ(r->signal, SIGSEGV);
  EXPECT_EQ(signal_name(r->signal), "SIGSEGV");
}

TEST(RunProcess, KillsAHungChildAndItsChildrenAtTheDeadline) {
  RunOptions o;
  o.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  // The background sleep holds stdout open: the group kill must end it too,
  // or reading would wait for it.
  auto r = run_process({"/bin/sh", "-c", "sleep 30 & echo started; sleep 30"}, o);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->how, Ended::kTimedOut);
  EXPECT_EQ(r->output, "started\n");
  EXPECT_LT(took, 5s);
}

TEST(RunProcess, AMissingProgramIsAnError) {
  auto r = run_process({"/nonexistent/program"}, {});
  // posix_spawn reports the failed exec either as an error or as exit 127.
  if (r.has_value()) {
    EXPECT_EQ(r->how, Ended::kExited);
    EXPECT_EQ(r->status, 127);
  } else {
    EXPECT_NE(r.error().message.find("/nonexistent/program"), std::string::npos);
  }
}
