// Anchors for the comparison report that no other suite measures: the cost of
// a plain C call, of a raw pipe and of a Boost.Interprocess message queue
// between two processes, and NIF calls from 1, 2 and 4 callers at once on
// every backend — all measured in the same run as the backend rows.
//
//   nifhost_bench_anchors --benchmark_repetitions=5 --benchmark_format=json
//
// Rows:
//   Limit/direct_call                   an indirect call of a NIF-shaped C function
//                                       (what `inproc` is held against)
//   Limit/pipe/<bytes>                  an 8-byte length and <bytes> each way between
//                                       two processes over two pipes
//   Limit/message_queue/<bytes>         a request and a reply of <bytes> (at least one)
//                                       through two boost::interprocess::message_queue
//   Callers/<backend>/nh_terms:noop/0/real_time/threads:<N>
//                                       N threads calling noop/0 at once on one backend
//                                       (Google Benchmark reports wall time over all
//                                       threads' calls: throughput = 1 / time)
//   Call/<backend>/fxml:parse_element/<bytes>, Call/<backend>/stringprep:nodeprep/<bytes>
//                                       Debian's fast_xml and stringprep NIFs, unmodified
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/interprocess/ipc/message_queue.hpp>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/terms.hpp"

namespace {

using namespace nifhost;
namespace bip = boost::interprocess;

const std::size_t kSizes[] = {0, 64, 1024, 64 * 1024, 1024 * 1024};

// ------------------------------------------------------------------ direct call

using Word = std::uintptr_t;
extern "C" __attribute__((noinline)) Word anchor_nif(void* env, int argc, const Word* argv) {
  benchmark::DoNotOptimize(env);
  return argc > 0 ? argv[0] : 0;
}

void limit_direct_call(benchmark::State& state) {
  // Read through a volatile so the compiler cannot see the target and inline it.
  Word (*volatile fn)(void*, int, const Word*) = &anchor_nif;
  Word args[1] = {42};
  for (auto _ : state) {
    Word r = fn(nullptr, 1, args);
    benchmark::DoNotOptimize(r);
  }
}

// ------------------------------------------------------------------ pipes

bool read_full(int fd, void* p, std::size_t n) {
  auto* b = static_cast<std::uint8_t*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, b, n);
    if (r <= 0) return false;
    b += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_full(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, b, n);
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// A child that echoes every length-prefixed message back over a second pipe.
class PipePeer {
 public:
  PipePeer() {
    int there[2], back[2];
    if (::pipe2(there, O_CLOEXEC) != 0 || ::pipe2(back, O_CLOEXEC) != 0) std::abort();
    buffer_.resize(kSizes[std::size(kSizes) - 1]);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(there[1]);
      ::close(back[0]);
      for (;;) {
        std::uint64_t len = 0;
        if (!read_full(there[0], &len, sizeof len) || len > buffer_.size()) ::_exit(0);
        if (!read_full(there[0], buffer_.data(), len)) ::_exit(0);
        if (!write_full(back[1], &len, sizeof len) || !write_full(back[1], buffer_.data(), len))
          ::_exit(0);
      }
    }
    ::close(there[0]);
    ::close(back[1]);
    out_ = there[1];
    in_ = back[0];
  }
  ~PipePeer() {
    ::close(out_);
    ::close(in_);
    ::waitpid(pid_, nullptr, 0);
  }
  bool round_trip(std::size_t n) {
    std::uint64_t len = n;
    return write_full(out_, &len, sizeof len) && write_full(out_, buffer_.data(), n) &&
           read_full(in_, &len, sizeof len) && read_full(in_, buffer_.data(), n);
  }

 private:
  std::vector<std::uint8_t> buffer_;
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
};

void limit_pipe(benchmark::State& state, std::size_t n) {
  static PipePeer peer;
  for (auto _ : state)
    if (!peer.round_trip(n)) return state.SkipWithError("the echo process is gone");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(2 * n));
}

// ------------------------------------------------------------------ message_queue

// Two queues (request, reply) of one message each, created here and used by a
// forked child that echoes every message back.
class QueuePeer {
 public:
  QueuePeer()
      : request_name_("nifhost-anchor-req-" + std::to_string(::getpid())),
        reply_name_("nifhost-anchor-rep-" + std::to_string(::getpid())) {
    bip::message_queue::remove(request_name_.c_str());
    bip::message_queue::remove(reply_name_.c_str());
    request_ = std::make_unique<bip::message_queue>(bip::create_only, request_name_.c_str(), 1,
                                                    kMaxMessage);
    reply_ =
        std::make_unique<bip::message_queue>(bip::create_only, reply_name_.c_str(), 1, kMaxMessage);
    buffer_.resize(kMaxMessage);
    pid_ = ::fork();
    if (pid_ == 0) {
      bip::message_queue request(bip::open_only, request_name_.c_str());
      bip::message_queue reply(bip::open_only, reply_name_.c_str());
      for (;;) {
        bip::message_queue::size_type got = 0;
        unsigned priority = 0;
        request.receive(buffer_.data(), buffer_.size(), got, priority);
        if (priority == 1) ::_exit(0);  // the stop message
        reply.send(buffer_.data(), got, 0);
      }
    }
  }
  ~QueuePeer() {
    request_->send(buffer_.data(), 1, 1);
    ::waitpid(pid_, nullptr, 0);
    bip::message_queue::remove(request_name_.c_str());
    bip::message_queue::remove(reply_name_.c_str());
  }
  bool round_trip(std::size_t n) {
    n = std::max<std::size_t>(n, 1);
    request_->send(buffer_.data(), n, 0);
    bip::message_queue::size_type got = 0;
    unsigned priority = 0;
    reply_->receive(buffer_.data(), buffer_.size(), got, priority);
    return got == n;
  }
  static constexpr std::size_t kMaxMessage = 1024 * 1024;

 private:
  std::string request_name_, reply_name_;
  std::unique_ptr<bip::message_queue> request_, reply_;
  std::vector<char> buffer_;
  pid_t pid_ = -1;
};

void limit_message_queue(benchmark::State& state, std::size_t n) {
  static QueuePeer peer;
  for (auto _ : state)
    if (!peer.round_trip(n)) return state.SkipWithError("short reply");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(2 * n));
}

// ------------------------------------------------------------------ concurrent callers

std::string nif_path(const char* name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir != nullptr ? dir : NIFHOST_BENCH_BINARY_DIR) / "nifs" /
          (std::string(name) + ".so"))
      .string();
}

struct Shared {
  core::NullHostServices host;
  std::unique_ptr<core::Backend> backend;
  std::optional<core::FunctionHandle> noop;
  std::string error;
};

// One backend per kind, shared by every thread of a Callers row and kept
// until the end of the run (threads of one row start together).
std::mutex g_shared_mutex;
std::map<core::BackendKind, std::unique_ptr<Shared>> g_shared;

Shared& shared_for(core::BackendKind kind) {
  std::lock_guard lock(g_shared_mutex);
  auto& slot = g_shared[kind];
  if (slot) return *slot;
  slot = std::make_unique<Shared>();
  auto b = backends::make_backend(kind, slot->host);
  if (!b) {
    slot->error = b.error().message();
    return *slot;
  }
  slot->backend = std::move(*b);
  core::LibrarySpec spec;
  spec.path = nif_path("nh_terms");
  spec.max_restarts = INT_MAX;
  auto lib = slot->backend->load(spec);
  if (!lib) {
    slot->error = lib.error().message();
    return *slot;
  }
  auto fn = slot->backend->lookup(*lib, "noop", 0);
  if (!fn) {
    slot->error = fn.error().message();
    return *slot;
  }
  slot->noop = *fn;
  return *slot;
}

void callers(benchmark::State& state, core::BackendKind kind) {
  Shared& s = shared_for(kind);
  if (!s.noop) return state.SkipWithError(s.error.c_str());
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  for (auto _ : state) {
    auto r = s.backend->call(*s.noop, caller, {});
    if (!r.ok()) return state.SkipWithError("the call failed");
    heap.clear();
  }
}

// ------------------------------------------------------------------ real libraries

// Debian's unmodified fast_xml and stringprep NIFs, called with the same
// arguments reports/beam/beam_side.escript times inside erl.
const char* const kFxmlStream = "/usr/lib/erlang/lib/p1_xml-1.1.49/priv/lib/fxml_stream.so";
const char* const kStringprep = "/usr/lib/erlang/lib/p1_stringprep-1.0.29/priv/lib/stringprep.so";

std::string xml_stanza() {
  std::string s = "<message to='juliet@example.com' from='romeo@example.net' type='chat'>";
  for (int i = 1; i <= 24; ++i) s += "<body>" + std::to_string(i) + " wherefore art thou</body>";
  return s + "</message>";
}
const std::string kNodeprepInput = "Juliet.Capulet";

void real_call(benchmark::State& state, core::BackendKind kind, const char* lib_path,
               const char* function, std::string argument) {
  core::NullHostServices host;
  auto b = backends::make_backend(kind, host);
  if (!b) return state.SkipWithError(b.error().message().c_str());
  core::LibrarySpec spec;
  spec.path = lib_path;
  auto lib = (*b)->load(spec);
  if (!lib) return state.SkipWithError(lib.error().message().c_str());
  auto fn = (*b)->lookup(*lib, function, 1);
  if (!fn) return state.SkipWithError(fn.error().message().c_str());
  core::Heap arg_heap;
  const core::Term args[] = {core::make_binary(arg_heap, argument)};
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  for (auto _ : state) {
    auto r = (*b)->call(*fn, caller, args);
    if (!r.ok()) return state.SkipWithError("the call failed");
    heap.clear();
  }
}

void register_all() {
  benchmark::RegisterBenchmark("Limit/direct_call", limit_direct_call);
  // The size is bound to the function rather than given as an Arg, which
  // Google Benchmark would append to the name a second time.
  for (std::size_t n : kSizes) {
    benchmark::RegisterBenchmark(("Limit/pipe/" + std::to_string(n)).c_str(), limit_pipe, n);
    benchmark::RegisterBenchmark(("Limit/message_queue/" + std::to_string(n)).c_str(),
                                 limit_message_queue, n);
  }
  for (core::BackendKind kind : backends::available_backends()) {
    std::string name = "Callers/" + std::string(core::backend_name(kind)) + "/nh_terms:noop/0";
    for (int threads : {1, 2, 4})
      benchmark::RegisterBenchmark(name.c_str(), callers, kind)->Threads(threads)->UseRealTime();
    std::string b = core::backend_name(kind);
    std::string stanza = xml_stanza();
    benchmark::RegisterBenchmark(
        ("Call/" + b + "/fxml:parse_element/" + std::to_string(stanza.size())).c_str(), real_call,
        kind, kFxmlStream, "parse_element", stanza);
    benchmark::RegisterBenchmark(
        ("Call/" + b + "/stringprep:nodeprep/" + std::to_string(kNodeprepInput.size())).c_str(),
        real_call, kind, kStringprep, "nodeprep", kNodeprepInput);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_shared.clear();
  return 0;
}
