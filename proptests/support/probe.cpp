#include "probe.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace nifhost::proptests {

namespace {

// The kernel's struct sigaction (x86-64). The fatal signals are reset through
// the raw system call: a sanitizer runtime intercepts sigaction() and may keep
// its own handler, which would turn a SIGSEGV into a report and exit(1).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask;
};

void reset_fatal_signals() {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) {
    KernelSigaction action{SIG_DFL, 0, nullptr, 0};
    (void)syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof(action.mask));
  }
  sigset_t all;
  sigemptyset(&all);
  (void)sigprocmask(SIG_SETMASK, &all, nullptr);
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void child_main(int fd, const std::function<void(ProbeReport&)>& body,
                             const ProbeLimits& limits) {
  (void)setpgid(0, 0);
  reset_fatal_signals();
  rlimit no_core{0, 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  if (limits.address_space_bytes != 0) {
    rlimit as{limits.address_space_bytes, limits.address_space_bytes};
    (void)setrlimit(RLIMIT_AS, &as);
  }
  ProbeReport report(fd);
  int status = 0;
  try {
    body(report);
  } catch (const std::exception& e) {
    report.line(std::string("harness-error ") + e.what());
    status = 70;
  } catch (...) {
    report.line("harness-error (not a std::exception)");
    status = 70;
  }
  std::fflush(nullptr);
  ::_exit(status);
}

void drain(int fd, std::string& into) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EOF, or nothing more for now (the descriptor is non-blocking)
  }
}

}  // namespace

void ProbeReport::line(std::string_view text) {
  std::string l(text);
  l.push_back('\n');
  write_all(fd_, l);
}

std::string ProbeResult::describe() const {
  switch (end) {
    case End::kExited:
      return fmt::format("exited {}", exit_status);
    case End::kSignaled:
      return "killed by " + signal_name(signal);
    case End::kHung:
      return "hung (killed at the deadline)";
  }
  return "?";
}

std::string ProbeResult::field(std::string_view key) const {
  for (const auto& l : lines)
    if (l.size() > key.size() && l.compare(0, key.size(), key) == 0 && l[key.size()] == ' ')
      return l.substr(key.size() + 1);
  return {};
}

ProbeResult run_probe(const std::function<void(ProbeReport&)>& body, const ProbeLimits& limits) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::fflush(nullptr);  // nothing buffered gets written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], body, limits);
  }
  ::close(fds[1]);
  (void)::setpgid(pid, pid);  // as the child does, so the group exists for a kill at once
  (void)::fcntl(fds[0], F_SETFL, O_NONBLOCK);

  ProbeResult result;
  std::string text;
  int status = 0;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + limits.deadline;
  while (!done) {
    pollfd p{fds[0], POLLIN, 0};
    (void)::poll(&p, 1, 20);
    drain(fds[0], text);
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      done = true;
    } else if (std::chrono::steady_clock::now() >= deadline) {
      (void)::kill(-pid, SIGKILL);
      (void)::waitpid(pid, &status, 0);
      result.end = ProbeResult::End::kHung;
      done = true;
    }
  }
  drain(fds[0], text);
  ::close(fds[0]);
  // Whatever the child started (a worker) goes with it.
  (void)::kill(-pid, SIGKILL);

  if (result.end != ProbeResult::End::kHung) {
    if (WIFSIGNALED(status)) {
      result.end = ProbeResult::End::kSignaled;
      result.signal = WTERMSIG(status);
    } else {
      result.end = ProbeResult::End::kExited;
      result.exit_status = WEXITSTATUS(status);
    }
  }
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    result.lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return result;
}

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : fmt::format("signal {}", signal);
}

}  // namespace nifhost::proptests
