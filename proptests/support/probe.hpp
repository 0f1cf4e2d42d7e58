#pragma once
// proptests/support/probe.hpp — runs code in a child process and says how it ended.
//
// A probe is how a test watches a host die without dying itself: the child
// (a fork of the test) runs the body — host a library, call a fault — and
// writes report lines as it goes; the parent collects them and learns whether
// the child exited, was killed by a signal, or hung until the deadline.
//
//   ProbeResult r = run_probe([](ProbeReport& out) { out.line("alive"); call_the_fault(); }, {});
//   if (r.end == ProbeResult::End::kSignaled) std::cout << strsignal(r.signal);
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nifhost::proptests {

struct ProbeLimits {
  // After this the child (and its process group) is killed: a hang.
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};
  // RLIMIT_AS for the child; 0 leaves it alone.
  std::uint64_t address_space_bytes = 0;
};

// What the child tells the parent: lines written at once (unbuffered), so
// every line written before a crash arrives.
class ProbeReport {
 public:
  explicit ProbeReport(int fd) : fd_(fd) {}
  void line(std::string_view text);

 private:
  int fd_;
};

struct ProbeResult {
  enum class End {
    kExited,    // exit status in exit_status
    kSignaled,  // killed by `signal` (not by the deadline)
    kHung,      // still running at the deadline; killed with SIGKILL
  };
  End end = End::kExited;
  int exit_status = 0;
  int signal = 0;
  std::vector<std::string> lines;  // the report, line by line
  // How it ended, for messages: "exited 3", "killed by SIGSEGV", "hung".
  std::string describe() const;
  // The first line starting with `key` + " ", without that prefix; "" if none.
  std::string field(std::string_view key) const;
};

// Forks a child that resets the fatal signals to their default actions
// (undoing any handler a sanitizer installed), disables core dumps, applies
// the limits, runs body and exits 0. The child is its own process group, so
// workers it starts go with it. A body that throws exits 70 after reporting
// "harness-error <what>".
ProbeResult run_probe(const std::function<void(ProbeReport&)>& body, const ProbeLimits& limits);

// The name of a signal as the BEAM's reason atoms spell it: "SIGSEGV".
std::string signal_name(int signal);

}  // namespace nifhost::proptests
