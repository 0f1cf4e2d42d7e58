// futex(2) on words of the shared segment.
#include "nifhost/shm/wait.hpp"

#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nifhost::shm {

int futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() > 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  long r = ::syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  return r == 0 ? 0 : errno;
}

void yield_cpu() { ::sched_yield(); }

int futex_wake(std::uint32_t* word, int count) {
  long r = ::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

}  // namespace nifhost::shm
