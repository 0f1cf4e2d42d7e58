// NIF call cost on every backend built here, beside the physical limit of the
// transport measured in the same run (the direct-call references are
// call_reference_bench.cpp's, linked into the same executable; the real BEAM's
// rows are beam_side.escript's).
//
//   nifhost_bench_calls --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Rows:
//   Call/<backend>/nh_terms:noop/0            a NIF call with no arguments
//   Call/<backend>/nh_terms:add/2             two small integers in, one out
//   Call/<backend>/nh_terms:echo/small_term   a small tuple (atom, integers, a
//                                             short binary, a list) there and back
//   Call/<backend>/nh_terms:echo/1KiB_term    a list of records whose ETF is ~1 KiB
//   Call/<backend>/nh_terms:echo/<bytes>      a binary of <bytes> (0 B .. 16 MiB)
//                                             as argument and as result
//   Limit/socketpair/<bytes>                  an 8-byte length and <bytes> each way
//                                             between two processes over a raw
//                                             socketpair, from buffers reused every
//                                             time (one writev, reads until whole):
//                                             what no socket transport can beat
//   Restart/<backend>/nh_faults:segfault+ok   after a call that crashed the worker
//                                             has returned its contained failure,
//                                             the time to the next call's good
//                                             result (spawn + reload + call)
// Compare Call/process/... with Limit/socketpair/... of the same size; the small
// calls move about 100 bytes each way (Limit/socketpair/64 and /128).
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::bench {

// The echo/1 payloads (call_reference_bench.cpp uses the same ones).
core::Term small_term(core::Heap& h) {
  const core::Term list[] = {core::make_small(1), core::make_small(2), core::make_small(3)};
  return core::make_tuple(h, {core::atom("ok"), core::make_small(42), core::make_binary(h, "abc"),
                              core::make_list(h, list)});
}

core::Term kib_term(core::Heap& h) {
  // 28 {Id, Name, Score, Active} records: term_to_binary is 1,057 bytes.
  std::vector<core::Term> records;
  for (int i = 0; i < 28; ++i) {
    const std::string name = "user-" + std::to_string(1000 + i);
    records.push_back(core::make_tuple(
        h, {core::make_small(1000 + i), core::make_binary(h, name), core::make_float(h, i * 1.5),
            i % 2 == 0 ? core::atom("true") : core::atom("false")}));
  }
  return core::make_list(h, records);
}

}  // namespace nifhost::bench

namespace {

using namespace nifhost;
using core::Term;

const std::size_t kSizes[] = {0, 64, 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024};

std::string nif_path(const char* name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir != nullptr ? dir : NIFHOST_BENCH_BINARY_DIR) / "nifs" /
          (std::string(name) + ".so"))
      .string();
}

// ------------------------------------------------------------------ raw socketpair

// A child process that answers every message with as many bytes as it got.
class EchoPeer {
 public:
  EchoPeer() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    buffer_.resize(kSizes[std::size(kSizes) - 1] + 16);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(sv[0]);
      serve(sv[1]);
    }
    ::close(sv[1]);
    fd_ = sv[0];
  }
  ~EchoPeer() {
    ::close(fd_);
    ::waitpid(pid_, nullptr, 0);
  }

  // One round trip: a length word and `n` bytes there, the same back.
  bool round_trip(std::size_t n) {
    std::uint64_t len = n;
    iovec iov[2] = {{&len, sizeof len}, {buffer_.data(), n}};
    if (!write_all(iov, 2)) return false;
    return read_all(&len, sizeof len) && read_all(buffer_.data(), n);
  }

 private:
  // Only read, write and _exit here: the parent may have had threads.
  [[noreturn]] void serve(int fd) {
    for (;;) {
      std::uint64_t len = 0;
      if (!read_from(fd, &len, sizeof len) || len > buffer_.size()) ::_exit(0);
      if (!read_from(fd, buffer_.data(), len)) ::_exit(0);
      iovec iov[2] = {{&len, sizeof len}, {buffer_.data(), len}};
      if (!write_to(fd, iov, 2)) ::_exit(0);
    }
  }
  static bool read_from(int fd, void* p, std::size_t n) {
    auto* b = static_cast<std::uint8_t*>(p);
    while (n > 0) {
      ssize_t r = ::read(fd, b, n);
      if (r <= 0) return false;
      b += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  static bool write_to(int fd, iovec* iov, int count) {
    while (count > 0) {
      ssize_t w = ::writev(fd, iov, count);
      if (w < 0) return false;
      auto done = static_cast<std::size_t>(w);
      while (count > 0 && done >= iov->iov_len) {
        done -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<std::uint8_t*>(iov->iov_base) + done;
        iov->iov_len -= done;
      }
    }
    return true;
  }
  bool write_all(iovec* iov, int count) { return write_to(fd_, iov, count); }
  bool read_all(void* p, std::size_t n) { return read_from(fd_, p, n); }

  std::vector<std::uint8_t> buffer_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

void limit_socketpair(benchmark::State& state, std::size_t n) {
  static EchoPeer peer;
  for (auto _ : state)
    if (!peer.round_trip(n)) state.SkipWithError("the echo process is gone");
  if (n > 0)
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(2 * n));
}

// ------------------------------------------------------------------ backend calls

struct Session {
  core::NullHostServices host;
  std::unique_ptr<core::Backend> backend;
  core::LibraryHandle lib;
  core::Heap heap;
};

std::unique_ptr<Session> open(core::BackendKind kind, const char* suite, benchmark::State& state) {
  auto s = std::make_unique<Session>();
  auto b = backends::make_backend(kind, s->host);
  if (!b) {
    state.SkipWithError(b.error().message().c_str());
    return nullptr;
  }
  s->backend = std::move(*b);
  core::LibrarySpec spec;
  spec.path = nif_path(suite);
  spec.max_restarts = INT_MAX;
  auto lib = s->backend->load(spec);
  if (!lib) {
    state.SkipWithError(lib.error().message().c_str());
    return nullptr;
  }
  s->lib = *lib;
  return s;
}

void call_loop(benchmark::State& state, Session& s, const char* fn, std::vector<Term> args,
               std::size_t bytes) {
  auto f = s.backend->lookup(s.lib, fn, static_cast<unsigned>(args.size()));
  if (!f) return state.SkipWithError(f.error().message().c_str());
  // The caller's heap is cleared after every call, as a process that is done
  // with the result would have it collected.
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  for (auto _ : state) {
    auto r = s.backend->call(*f, caller, args);
    if (!r.ok()) return state.SkipWithError("the call failed");
    benchmark::DoNotOptimize(r.value());
    heap.clear();
  }
  if (bytes > 0)
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(2 * bytes));
}

void call_noop(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, "nh_terms", state);
  if (s) call_loop(state, *s, "noop", {}, 0);
}

void call_add(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, "nh_terms", state);
  if (s) call_loop(state, *s, "add", {core::make_small(40), core::make_small(2)}, 0);
}

void call_echo(benchmark::State& state, core::BackendKind kind, std::size_t n) {
  auto s = open(kind, "nh_terms", state);
  if (!s) return;
  std::vector<std::uint8_t> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 13);
  Term bin = *core::make_binary(s->heap, bytes);
  call_loop(state, *s, "echo", {bin}, n);
}

void call_echo_term(benchmark::State& state, core::BackendKind kind, bool large) {
  auto s = open(kind, "nh_terms", state);
  if (!s) return;
  Term t = large ? bench::kib_term(s->heap) : bench::small_term(s->heap);
  call_loop(state, *s, "echo", {t}, 0);
}

void restart(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, "nh_faults", state);
  if (!s) return;
  auto crash = s->backend->lookup(s->lib, "segfault", 0);
  auto ok = s->backend->lookup(s->lib, "ok", 0);
  if (!crash || !ok) return state.SkipWithError("nh_faults lacks segfault/0 or ok/0");
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  if (!s->backend->call(*ok, caller, {}).ok()) return state.SkipWithError("ok/0 failed");
  for (auto _ : state) {
    // Untimed: the call that crashes the worker and sees it die.
    state.PauseTiming();
    auto dead = s->backend->call(*crash, caller, {});
    state.ResumeTiming();
    if (dead.ok()) return state.SkipWithError("segfault/0 returned");
    // Timed: from the contained failure to the next good result.
    auto back = s->backend->call(*ok, caller, {});
    if (!back.ok()) return state.SkipWithError("the call after the crash failed");
    heap.clear();
  }
}

void register_all() {
  // Row names carry the size themselves (no ->Arg, which would append it again).
  for (std::size_t n : kSizes)
    benchmark::RegisterBenchmark(("Limit/socketpair/" + std::to_string(n)).c_str(),
                                 limit_socketpair, n);
  benchmark::RegisterBenchmark("Limit/socketpair/128", limit_socketpair, std::size_t{128});
  for (core::BackendKind kind : backends::available_backends()) {
    std::string b = core::backend_name(kind);
    benchmark::RegisterBenchmark(("Call/" + b + "/nh_terms:noop/0").c_str(), call_noop, kind);
    benchmark::RegisterBenchmark(("Call/" + b + "/nh_terms:add/2").c_str(), call_add, kind);
    benchmark::RegisterBenchmark(("Call/" + b + "/nh_terms:echo/small_term").c_str(),
                                 call_echo_term, kind, false);
    benchmark::RegisterBenchmark(("Call/" + b + "/nh_terms:echo/1KiB_term").c_str(), call_echo_term,
                                 kind, true);
    for (std::size_t n : kSizes)
      benchmark::RegisterBenchmark(("Call/" + b + "/nh_terms:echo/" + std::to_string(n)).c_str(),
                                   call_echo, kind, n);
    // A crash takes the in-process host down with it: isolated backends only.
    if (kind != core::BackendKind::kInproc)
      benchmark::RegisterBenchmark(("Restart/" + b + "/nh_faults:segfault+ok").c_str(), restart,
                                   kind)
          ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
