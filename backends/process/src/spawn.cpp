#include "spawn.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

extern char** environ;

namespace nifhost::process::detail {

namespace {

// Sources are moved above every number a child uses before the dup2s, so one
// mapping can never overwrite the source of another.
constexpr int kHighFd = 64;

struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};
struct Attr {
  posix_spawnattr_t attr;
  Attr() { posix_spawnattr_init(&attr); }
  ~Attr() { posix_spawnattr_destroy(&attr); }
};

}  // namespace

tl::expected<Spawned, std::string> spawn_process(const SpawnSpec& spec) {
  std::vector<UniqueFd> high;
  int max_child = 2;
  for (auto [fd, child] : spec.fds) {
    UniqueFd h(::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd));
    if (!h.valid()) return tl::unexpected(fmt::format("dup: {}", ::strerror(errno)));
    high.push_back(std::move(h));
    max_child = std::max(max_child, child);
  }
  UniqueFd out(::fcntl(spec.output_fd, F_DUPFD_CLOEXEC, kHighFd));
  if (!out.valid()) return tl::unexpected(fmt::format("dup: {}", ::strerror(errno)));

  FileActions fa;
  int rc = posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa.fa, out.get(), 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa.fa, out.get(), 2);
  for (std::size_t i = 0; rc == 0 && i < high.size(); ++i)
    rc = posix_spawn_file_actions_adddup2(&fa.fa, high[i].get(), spec.fds[i].second);
  // Everything else the host has open stays here, CLOEXEC or not.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa.fa, max_child + 1);
  if (rc != 0) return tl::unexpected(fmt::format("posix_spawn_file_actions: {}", ::strerror(rc)));

  Attr attr;
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  rc = posix_spawnattr_setflags(&attr.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr.attr, &all);
  if (rc != 0) return tl::unexpected(fmt::format("posix_spawnattr: {}", ::strerror(rc)));

  std::string program = spec.program.string();
  std::vector<char*> argv;
  argv.push_back(program.data());
  std::vector<std::string> args = spec.args;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  rc = ::posix_spawn(&pid, program.c_str(), &fa.fa, &attr.attr, argv.data(), environ);
  if (rc != 0) return tl::unexpected(fmt::format("cannot start {}: {}", program, ::strerror(rc)));
  Spawned s;
  s.pid = pid;
  // (glibc 2.36's <sys/pidfd.h> lacks C linkage in C++: the system calls directly.)
  s.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!s.pidfd.valid()) {
    int err = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return tl::unexpected(
        fmt::format("pidfd_open: {} (Linux 5.3 or later is needed)", ::strerror(err)));
  }
  return s;
}

int pidfd_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return fmt::format("SIG{}", sig);
}

}  // namespace nifhost::process::detail
