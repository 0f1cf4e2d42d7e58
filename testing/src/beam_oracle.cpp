#include "nifhost/testing/beam_oracle.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

#include "nifhost/testing/hex.hpp"

extern char** environ;

namespace nifhost::testing {

namespace {

// Set by testing/CMakeLists.txt: where erlc put oracle.beam.
constexpr const char* kBeamDir = NIFHOST_ORACLE_BEAM_DIR;

using Kind = OracleError::Kind;

tl::unexpected<OracleError> error(Kind kind, std::string message) {
  return tl::unexpected(OracleError{kind, std::move(message)});
}

std::string shorten(std::string_view line) {
  constexpr std::size_t kMax = 160;
  if (line.size() <= kMax) return std::string(line);
  return fmt::format("{}... ({} bytes)", line.substr(0, kMax), line.size());
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::optional<std::string> find_erl() {
  if (const char* path = std::getenv("PATH")) {
    std::string_view dirs(path);
    while (true) {
      const std::size_t colon = dirs.find(':');
      std::string dir(dirs.substr(0, colon));
      if (dir.empty()) dir = ".";
      if (std::string candidate = dir + "/erl"; executable(candidate)) return candidate;
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
  }
  if (executable("/usr/bin/erl")) return std::string("/usr/bin/erl");
  return std::nullopt;
}

// Keeps a descriptor off 0..2, so that dup2 onto the child's standard input and
// output can never overwrite the other end of the socket pair.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    const std::size_t space = line.find(' ');
    fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return fields;
}

// The fields after a leading `ok`, which must number exactly `count`.
tl::expected<std::vector<std::string_view>, OracleError> ok_fields(std::string_view line,
                                                                   std::size_t count) {
  std::vector<std::string_view> fields = split_fields(line);
  if (fields[0] == "error" && fields.size() == 2) {
    if (auto text = text_from_hex(fields[1])) return error(Kind::erl_error, std::move(*text));
    return error(Kind::malformed_answer, "error answer with bad hex: " + shorten(line));
  }
  if (fields[0] != "ok" || fields.size() != count + 1) {
    return error(Kind::malformed_answer,
                 fmt::format("expected ok and {} field(s), got: {}", count, shorten(line)));
  }
  fields.erase(fields.begin());
  return fields;
}

tl::expected<Bytes, OracleError> hex_field(std::string_view field, std::string_view line) {
  if (auto bytes = from_hex(field)) return std::move(*bytes);
  return error(Kind::malformed_answer, "bad hex in answer: " + shorten(line));
}

template <typename Number>
tl::expected<Number, OracleError> number_field(std::string_view field, std::string_view line) {
  Number value{};
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, value);
  if (ec != std::errc() || ptr != end || field.empty()) {
    return error(Kind::malformed_answer, "bad number in answer: " + shorten(line));
  }
  return value;
}

tl::expected<bool, OracleError> flag_field(std::string_view field, std::string_view line) {
  if (field == "1") return true;
  if (field == "0") return false;
  return error(Kind::malformed_answer, "bad flag in answer: " + shorten(line));
}

std::string hex_of(std::span<const std::uint8_t> bytes) { return to_hex(bytes); }

}  // namespace

std::string_view to_string(OracleError::Kind kind) {
  switch (kind) {
    case Kind::erl_not_found:
      return "erl_not_found";
    case Kind::oracle_missing:
      return "oracle_missing";
    case Kind::spawn_failed:
      return "spawn_failed";
    case Kind::oracle_died:
      return "oracle_died";
    case Kind::timed_out:
      return "timed_out";
    case Kind::malformed_answer:
      return "malformed_answer";
    case Kind::erl_error:
      return "erl_error";
    case Kind::call_raised:
      return "call_raised";
    case Kind::bad_request:
      return "bad_request";
  }
  return "unknown";
}

std::string describe(const OracleError& e) {
  return fmt::format("{}: {}", to_string(e.kind), e.message);
}

// --- request lines ---------------------------------------------------------

namespace oracle_request {

std::string version() { return "version"; }
std::string encode_text(std::string_view text) { return "encode_text " + to_hex(text); }
std::string roundtrip(std::span<const std::uint8_t> etf) { return "roundtrip " + hex_of(etf); }
std::string roundtrip_safe(std::span<const std::uint8_t> etf) {
  return "roundtrip_safe " + hex_of(etf);
}
std::string decode_check(std::span<const std::uint8_t> etf) {
  return "decode_check " + hex_of(etf);
}
std::string used(std::span<const std::uint8_t> etf) { return "used " + hex_of(etf); }
std::string print(std::span<const std::uint8_t> etf) { return "print " + hex_of(etf); }
std::string compare(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return fmt::format("compare {} {}", hex_of(a), hex_of(b));
}
std::string phash2(std::span<const std::uint8_t> etf) { return "phash2 " + hex_of(etf); }
std::string maps_to_list(std::span<const std::uint8_t> etf) {
  return "maps_to_list " + hex_of(etf);
}
std::string load_nif(std::string_view path, std::string_view module,
                     std::span<const NifFunctionSpec> functions,
                     std::span<const std::uint8_t> load_info) {
  std::string list;
  for (const NifFunctionSpec& f : functions) {
    if (!list.empty()) list += ',';
    list += fmt::format("{}/{}", f.name, f.arity);
  }
  return fmt::format("load_nif {} {} {} {}", to_hex(path), to_hex(module), to_hex(list),
                     hex_of(load_info));
}
std::string call(std::string_view module, std::string_view function,
                 std::span<const std::uint8_t> args_list) {
  return fmt::format("call {} {} {}", to_hex(module), to_hex(function), hex_of(args_list));
}
std::string flush() { return "flush"; }
std::string time_call(std::string_view module, std::string_view function,
                      std::span<const std::uint8_t> args_list, std::uint64_t iterations) {
  return fmt::format("time_call {} {} {} {}", to_hex(module), to_hex(function), hex_of(args_list),
                     iterations);
}
std::string time_etf(std::span<const std::uint8_t> etf, std::uint64_t iterations) {
  return fmt::format("time_etf {} {}", hex_of(etf), iterations);
}

}  // namespace oracle_request

// --- answer parsers --------------------------------------------------------

namespace oracle_answer {

tl::expected<void, OracleError> parse_ok(std::string_view line) {
  return ok_fields(line, 0).map([](auto&&) {});
}

tl::expected<Bytes, OracleError> parse_etf(std::string_view line) {
  return ok_fields(line, 1).and_then([&](auto f) { return hex_field(f[0], line); });
}

tl::expected<std::string, OracleError> parse_text(std::string_view line) {
  return parse_etf(line).map([](Bytes b) { return std::string(b.begin(), b.end()); });
}

tl::expected<std::uint64_t, OracleError> parse_count(std::string_view line) {
  return ok_fields(line, 1).and_then(
      [&](auto f) { return number_field<std::uint64_t>(f[0], line); });
}

tl::expected<Comparison, OracleError> parse_comparison(std::string_view line) {
  auto f = ok_fields(line, 3);
  if (!f) return tl::unexpected(f.error());
  auto order = number_field<int>((*f)[0], line);
  auto equal = flag_field((*f)[1], line);
  auto exact = flag_field((*f)[2], line);
  if (!order) return tl::unexpected(order.error());
  if (!equal) return tl::unexpected(equal.error());
  if (!exact) return tl::unexpected(exact.error());
  if (*order < -1 || *order > 1) {
    return error(Kind::malformed_answer, "order out of range: " + shorten(line));
  }
  return Comparison{*order, *equal, *exact};
}

tl::expected<CallOutcome, OracleError> parse_call(std::string_view line) {
  std::vector<std::string_view> fields = split_fields(line);
  if (fields[0] == "exception") {
    if (fields.size() != 3) {
      return error(Kind::malformed_answer, "bad exception answer: " + shorten(line));
    }
    auto reason = hex_field(fields[2], line);
    if (!reason) return tl::unexpected(reason.error());
    return CallOutcome{true, std::string(fields[1]), std::move(*reason)};
  }
  return parse_etf(line).map([](Bytes result) {
    return CallOutcome{false, {}, std::move(result)};
  });
}

tl::expected<CallTiming, OracleError> parse_call_timing(std::string_view line) {
  std::vector<std::string_view> fields = split_fields(line);
  if (fields[0] == "exception" && fields.size() == 3) {
    return error(Kind::call_raised, fmt::format("{}, reason {}", fields[1], shorten(fields[2])));
  }
  auto f = ok_fields(line, 3);
  if (!f) return tl::unexpected(f.error());
  auto median = number_field<double>((*f)[0], line);
  auto min = number_field<double>((*f)[1], line);
  auto max = number_field<double>((*f)[2], line);
  if (!median) return tl::unexpected(median.error());
  if (!min) return tl::unexpected(min.error());
  if (!max) return tl::unexpected(max.error());
  return CallTiming{*median, *min, *max};
}

tl::expected<EtfTiming, OracleError> parse_etf_timing(std::string_view line) {
  auto f = ok_fields(line, 2);
  if (!f) return tl::unexpected(f.error());
  auto encode = number_field<double>((*f)[0], line);
  auto decode = number_field<double>((*f)[1], line);
  if (!encode) return tl::unexpected(encode.error());
  if (!decode) return tl::unexpected(decode.error());
  return EtfTiming{*encode, *decode};
}

}  // namespace oracle_answer

// --- the child process -----------------------------------------------------

tl::expected<BeamOracle, OracleError> BeamOracle::start() {
  const std::optional<std::string> erl = find_erl();
  if (!erl) {
    return error(Kind::erl_not_found,
                 "erl is neither on PATH nor at /usr/bin/erl; run scripts/setup.sh "
                 "(it installs Debian's erlang-base)");
  }
  const std::string beam_dir = kBeamDir;
  if (::access((beam_dir + "/oracle.beam").c_str(), R_OK) != 0) {
    return error(
        Kind::oracle_missing,
        fmt::format("{}/oracle.beam is missing; build the nifhost_oracle_beam target", beam_dir));
  }

  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return error(Kind::spawn_failed, fmt::format("socketpair: {}", std::strerror(errno)));
  }
  const int parent = above_stdio(ends[0]);
  const int child = above_stdio(ends[1]);
  if (parent < 0 || child < 0) {
    if (parent >= 0) ::close(parent);
    if (child >= 0) ::close(child);
    return error(Kind::spawn_failed, "cannot move the oracle's socket off descriptors 0-2");
  }

  // One socket serves as both standard input and output of the VM. Standard
  // error stays the caller's, where the VM's own reports go.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, child, 0);
  ::posix_spawn_file_actions_adddup2(&actions, child, 1);
  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  ::posix_spawnattr_setsigmask(&attributes, &no_signals);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);

  // -noinput: the VM's own io system never reads standard input; the oracle
  // opens it itself. +t: decoding arbitrary ETF creates atoms, and running out
  // would kill the VM. +sbwt none: idle schedulers must not spin on the CPUs
  // that a benchmark of nifhost is using at the same time.
  std::vector<std::string> args = {
      *erl,   "-noshell", "-noinput", "+t",  "5000000", "+sbwt", "none",   "+sbwtdcpu",
      "none", "+sbwtdio", "none",     "-pa", beam_dir,  "-s",    "oracle", "main"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // A crashing VM would otherwise leave erl_crash.dump files in the test's directory.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("ERL_CRASH_DUMP_SECONDS=")) continue;
    env_strings.emplace_back(*e);
  }
  env_strings.emplace_back("ERL_CRASH_DUMP_SECONDS=0");
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, erl->c_str(), &actions, &attributes, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  ::close(child);
  if (rc != 0) {
    ::close(parent);
    return error(Kind::spawn_failed, fmt::format("posix_spawn {}: {}", *erl, std::strerror(rc)));
  }
  const int flags = ::fcntl(parent, F_GETFL);
  ::fcntl(parent, F_SETFL, flags | O_NONBLOCK);

  BeamOracle oracle(pid, parent);
  // The first answer proves that the VM started and loaded the oracle module.
  auto answer = oracle.request(oracle_request::version()).and_then(oracle_answer::parse_text);
  if (!answer) return tl::unexpected(answer.error());
  return oracle;
}

BeamOracle::BeamOracle(BeamOracle&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      fd_(std::exchange(other.fd_, -1)),
      pending_(std::move(other.pending_)),
      timeout_(other.timeout_) {}

BeamOracle& BeamOracle::operator=(BeamOracle&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    fd_ = std::exchange(other.fd_, -1);
    pending_ = std::move(other.pending_);
    timeout_ = other.timeout_;
  }
  return *this;
}

BeamOracle::~BeamOracle() { stop(); }

void BeamOracle::stop() {
  if (fd_ >= 0) {
    // quit halts the VM at once; closing our side makes it see end of input
    // even if it never reads the quit.
    static constexpr char kQuit[] = "quit\n";
    (void)::send(fd_, kQuit, sizeof kQuit - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd_, SHUT_WR);
  }
  if (pid_ > 0) reap(std::chrono::seconds(2));
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

// Waits up to `grace` for the VM to exit, then kills it; says how it ended.
std::string BeamOracle::reap(std::chrono::milliseconds grace) {
  assert(pid_ > 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string how;
  if (done == 0) {
    ::kill(pid_, SIGKILL);
    while ((done = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    how = "erl was killed";
  } else if (done < 0) {
    how = fmt::format("erl could not be reaped: {}", std::strerror(errno));
  } else if (WIFEXITED(status)) {
    how = fmt::format("erl exited with status {}", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    how = fmt::format("erl was killed by signal {}", WTERMSIG(status));
  }
  pid_ = -1;
  return how;
}

OracleError BeamOracle::fail(OracleError::Kind kind, std::string message) {
  // The stream is out of step with the requests now: the oracle is finished.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
  if (pid_ > 0) {
    // After end of output the VM is exiting anyway; otherwise stop it now.
    if (kind != Kind::oracle_died) ::kill(pid_, SIGKILL);
    message += fmt::format(" ({})", reap(std::chrono::seconds(2)));
  }
  return OracleError{kind, std::move(message)};
}

tl::expected<std::string, OracleError> BeamOracle::request(std::string_view line) {
  const std::string owned(line);
  auto answers = exchange(std::span(&owned, 1));
  if (!answers) return tl::unexpected(answers.error());
  return std::move(answers->front());
}

tl::expected<std::vector<std::string>, OracleError> BeamOracle::pipeline(
    const std::vector<std::string>& request_lines) {
  return exchange(request_lines);
}

tl::expected<std::vector<std::string>, OracleError> BeamOracle::exchange(
    std::span<const std::string> lines) {
  if (fd_ < 0) return error(Kind::oracle_died, "the oracle is not running");
  std::string out;
  std::size_t total = 0;
  for (const std::string& l : lines) total += l.size() + 1;
  out.reserve(total);
  for (const std::string& l : lines) {
    if (l.find('\n') != std::string::npos) {
      return error(Kind::bad_request, "request line holds a newline: " + shorten(l));
    }
    out += l;
    out += '\n';
  }

  std::vector<std::string> answers;
  answers.reserve(lines.size());
  std::size_t written = 0;
  std::size_t line_start = 0;  // in pending_: where the next answer begins
  std::size_t searched = 0;    // in pending_: bytes already known to hold no newline
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  constexpr std::size_t kReadChunk = 1 << 16;

  while (true) {
    while (answers.size() < lines.size()) {
      const std::size_t nl = pending_.find('\n', searched);
      if (nl == std::string::npos) {
        searched = pending_.size();
        break;
      }
      answers.emplace_back(pending_, line_start, nl - line_start);
      line_start = searched = nl + 1;
    }
    if (answers.size() == lines.size()) break;

    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return tl::unexpected(
          fail(Kind::timed_out, fmt::format("no answer within {} ms ({} of {} answers received)",
                                            timeout_.count(), answers.size(), lines.size())));
    }
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    pollfd p{fd_, static_cast<short>(POLLIN | (written < out.size() ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(wait, 60'000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(fail(Kind::oracle_died, fmt::format("poll: {}", std::strerror(errno))));
    }
    if (ready == 0) continue;

    if ((p.revents & POLLOUT) != 0 && written < out.size()) {
      const ssize_t n =
          ::send(fd_, out.data() + written, out.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
        deadline = std::chrono::steady_clock::now() + timeout_;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return tl::unexpected(
            fail(Kind::oracle_died, fmt::format("writing requests: {}", std::strerror(errno))));
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const std::size_t old = pending_.size();
      pending_.resize(old + kReadChunk);
      const ssize_t n = ::recv(fd_, pending_.data() + old, kReadChunk, MSG_DONTWAIT);
      pending_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      if (n > 0) {
        deadline = std::chrono::steady_clock::now() + timeout_;
      } else if (n == 0) {
        return tl::unexpected(fail(
            Kind::oracle_died, fmt::format("the oracle closed its output after {} of {} answers",
                                           answers.size(), lines.size())));
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return tl::unexpected(
            fail(Kind::oracle_died, fmt::format("reading answers: {}", std::strerror(errno))));
      }
    }
  }
  pending_.erase(0, line_start);
  return answers;
}

// --- typed requests --------------------------------------------------------

tl::expected<std::string, OracleError> BeamOracle::version() {
  return request(oracle_request::version()).and_then(oracle_answer::parse_text);
}

tl::expected<Bytes, OracleError> BeamOracle::encode_text(std::string_view text) {
  return request(oracle_request::encode_text(text)).and_then(oracle_answer::parse_etf);
}

tl::expected<Bytes, OracleError> BeamOracle::roundtrip(std::span<const std::uint8_t> etf) {
  return request(oracle_request::roundtrip(etf)).and_then(oracle_answer::parse_etf);
}

tl::expected<Bytes, OracleError> BeamOracle::roundtrip_safe(std::span<const std::uint8_t> etf) {
  return request(oracle_request::roundtrip_safe(etf)).and_then(oracle_answer::parse_etf);
}

tl::expected<void, OracleError> BeamOracle::decode_check(std::span<const std::uint8_t> etf) {
  return request(oracle_request::decode_check(etf)).and_then(oracle_answer::parse_ok);
}

tl::expected<std::uint64_t, OracleError> BeamOracle::used(std::span<const std::uint8_t> etf) {
  return request(oracle_request::used(etf)).and_then(oracle_answer::parse_count);
}

tl::expected<std::string, OracleError> BeamOracle::print(std::span<const std::uint8_t> etf) {
  return request(oracle_request::print(etf)).and_then(oracle_answer::parse_text);
}

tl::expected<Comparison, OracleError> BeamOracle::compare(std::span<const std::uint8_t> a,
                                                          std::span<const std::uint8_t> b) {
  return request(oracle_request::compare(a, b)).and_then(oracle_answer::parse_comparison);
}

tl::expected<std::uint32_t, OracleError> BeamOracle::phash2(std::span<const std::uint8_t> etf) {
  auto line = request(oracle_request::phash2(etf));
  if (!line) return tl::unexpected(line.error());
  auto value = oracle_answer::parse_count(*line);
  if (!value) return tl::unexpected(value.error());
  if (*value > UINT32_MAX) return error(Kind::malformed_answer, "phash2 out of range: " + *line);
  return static_cast<std::uint32_t>(*value);
}

tl::expected<Bytes, OracleError> BeamOracle::maps_to_list(std::span<const std::uint8_t> etf) {
  return request(oracle_request::maps_to_list(etf)).and_then(oracle_answer::parse_etf);
}

tl::expected<void, OracleError> BeamOracle::load_nif(std::string_view path, std::string_view module,
                                                     std::span<const NifFunctionSpec> functions,
                                                     std::span<const std::uint8_t> load_info) {
  return request(oracle_request::load_nif(path, module, functions, load_info))
      .and_then(oracle_answer::parse_ok);
}

tl::expected<CallOutcome, OracleError> BeamOracle::call(std::string_view module,
                                                        std::string_view function,
                                                        std::span<const std::uint8_t> args_list) {
  return request(oracle_request::call(module, function, args_list))
      .and_then(oracle_answer::parse_call);
}

tl::expected<Bytes, OracleError> BeamOracle::flush() {
  return request(oracle_request::flush()).and_then(oracle_answer::parse_etf);
}

tl::expected<CallTiming, OracleError> BeamOracle::time_call(std::string_view module,
                                                            std::string_view function,
                                                            std::span<const std::uint8_t> args_list,
                                                            std::uint64_t iterations) {
  return request(oracle_request::time_call(module, function, args_list, iterations))
      .and_then(oracle_answer::parse_call_timing);
}

tl::expected<EtfTiming, OracleError> BeamOracle::time_etf(std::span<const std::uint8_t> etf,
                                                          std::uint64_t iterations) {
  return request(oracle_request::time_etf(etf, iterations))
      .and_then(oracle_answer::parse_etf_timing);
}

BeamOracle& shared_oracle() {
  static BeamOracle instance = [] {
    auto started = BeamOracle::start();
    if (!started) {
      std::fprintf(stderr, "the reference BEAM did not start: %s\n",
                   describe(started.error()).c_str());
      std::abort();
    }
    return std::move(*started);
  }();
  return instance;
}

}  // namespace nifhost::testing
