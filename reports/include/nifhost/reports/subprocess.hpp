#pragma once
// Runs a program to completion (or to a deadline) and says how it ended: the
// comparison runs every benchmark and every fault probe this way, so a child
// that crashes, hangs or floods its output costs the run one row, never the run.
//
//   auto r = nifhost::reports::run_process({"/bin/true"}, {.timeout = std::chrono::seconds(5)});
//   if (r && r->how == Ended::kExited && r->status == 0) ...
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace nifhost::reports {

struct RunOptions {
  std::chrono::milliseconds timeout{60'000};
  // Where the child's stdout goes; empty: captured into RunResult::output.
  std::filesystem::path stdout_path;
  // Where the child's stderr goes; empty: /dev/null.
  std::filesystem::path stderr_path;
  // Extra environment entries ("NAME=value") on top of this process's environment.
  std::vector<std::string> extra_env;
};

enum class Ended { kExited, kSignaled, kTimedOut };

struct RunResult {
  Ended how = Ended::kExited;
  int status = 0;  // exit status (kExited)
  int signal = 0;  // terminating signal (kSignaled; SIGKILL after a timeout)
  std::chrono::nanoseconds elapsed{0};
  std::string output;  // captured stdout (at most 1 MiB kept) when no stdout_path
};

struct SpawnError {
  std::string message;
};

// Starts argv[0] (a path; no PATH search unless it has no slash) in a process
// group of its own; on timeout the whole group is killed with SIGKILL and reaped.
tl::expected<RunResult, SpawnError> run_process(const std::vector<std::string>& argv,
                                                const RunOptions& options);

// "SIGSEGV" for SIGSEGV, "signal N" for a number with no name here.
std::string signal_name(int signal);

}  // namespace nifhost::reports
