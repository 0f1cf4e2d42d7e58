#include "nifhost/reports/subprocess.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace nifhost::reports {

namespace {

constexpr std::size_t kMaxCaptured = 1 << 20;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void drain(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    if (out.size() < kMaxCaptured)
      out.append(buf, std::min(static_cast<std::size_t>(n), kMaxCaptured - out.size()));
  }
}

}  // namespace

std::string signal_name(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  if (abbrev == nullptr) return "signal " + std::to_string(signal);
  return std::string("SIG") + abbrev;
}

tl::expected<RunResult, SpawnError> run_process(const std::vector<std::string>& argv,
                                                const RunOptions& options) {
  if (argv.empty()) return tl::make_unexpected(SpawnError{"no program to run"});
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // A group of its own, so a timeout kills whatever the child started too.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);

  int pipe_fds[2] = {-1, -1};
  bool capture = options.stdout_path.empty();
  if (capture) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
      return tl::make_unexpected(SpawnError{std::string("pipe: ") + std::strerror(errno)});
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  Fd read_end(pipe_fds[0]);
  std::string err_path = options.stderr_path.empty() ? "/dev/null" : options.stderr_path.string();
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : options.extra_env) env_strings.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (rc != 0)
    return tl::make_unexpected(SpawnError{"cannot start " + argv[0] + ": " + std::strerror(rc)});

  RunResult result;
  auto deadline = start + options.timeout;
  int wstatus = 0;
  bool reaped = false;
  while (!reaped) {
    if (capture) {
      pollfd p{read_end.fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char buf[4096];
        ssize_t n = ::read(read_end.fd, buf, sizeof buf);
        if (n > 0 && result.output.size() < kMaxCaptured)
          result.output.append(
              buf, std::min(static_cast<std::size_t>(n), kMaxCaptured - result.output.size()));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
    if (w == pid) {
      reaped = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &wstatus, 0);
      result.elapsed = std::chrono::steady_clock::now() - start;
      result.how = Ended::kTimedOut;
      result.signal = SIGKILL;
      if (capture) {
        ::fcntl(read_end.fd, F_SETFL, O_NONBLOCK);
        drain(read_end.fd, result.output);
      }
      return result;
    }
  }
  result.elapsed = std::chrono::steady_clock::now() - start;
  if (capture) {
    // Whatever is still in the pipe; a grandchild holding it open must not
    // keep us here.
    ::fcntl(read_end.fd, F_SETFL, O_NONBLOCK);
    drain(read_end.fd, result.output);
  }
  if (WIFSIGNALED(wstatus)) {
    result.how = Ended::kSignaled;
    result.signal = WTERMSIG(wstatus);
  } else {
    result.how = Ended::kExited;
    result.status = WEXITSTATUS(wstatus);
  }
  return result;
}

}  // namespace nifhost::reports
