#pragma once
// spawn.hpp — starting worker processes: posix_spawn with exactly the
// descriptors a worker needs, from one long-lived thread.
//
//   Spawner spawner;
//   auto w = spawner.run([&] { return spawn_process(spec); });   // pid + pidfd
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "fd.hpp"

namespace nifhost::process::detail {

struct SpawnSpec {
  std::filesystem::path program;
  std::vector<std::string> args;         // argv[1..]
  std::vector<std::pair<int, int>> fds;  // (descriptor here, number in the child)
  int output_fd = -1;                    // becomes the child's stdout and stderr
};

struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;  // polls readable when the process has exited; signals without pid reuse
};

// Starts `spec.program` (no shell): stdin is /dev/null, stdout and stderr go to
// output_fd, the listed descriptors are placed at their numbers, every other
// descriptor is closed, signal dispositions are default and none is blocked.
tl::expected<Spawned, std::string> spawn_process(const SpawnSpec& spec);

// Runs jobs on one thread that lives as long as this object. Workers are
// started from it because PR_SET_PDEATHSIG follows the thread that started a
// process, not the process: a worker started from a caller's thread would be
// killed when that thread ends.
class Spawner {
 public:
  Spawner() : thread_([this] { loop(); }) {}
  ~Spawner() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  template <class F>
  auto run(F&& f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto result = task.get_future();
    {
      std::lock_guard lock(mutex_);
      jobs_.emplace_back([&task] { task(); });
    }
    cv_.notify_one();
    return result.get();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

// "SIGSEGV" for 11; "SIG<n>" for a number without a name.
std::string signal_name(int sig);

// Sends `sig` through a pidfd: never reaches another process that reused the pid.
int pidfd_signal(int pidfd, int sig);

}  // namespace nifhost::process::detail
