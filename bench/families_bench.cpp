// The comparison's benchmark families beyond single small calls, on every
// backend the selector has: how the cost grows with the shape and size of a
// term, a real library (Debian's jiffy) on documents from 100 B to 1 MB,
// resources, a message sent from a NIF, a yielding NIF, and loading a library.
//
//   nifhost_bench_families --benchmark_min_time=0.01
//
// Rows:
//   Call/<backend>/nh_terms:echo/<shape>_<n>   echo/1 of a list, tuple or map of n small
//                                              integers, or a list of n nested records
//                                              {I, <<"rec">>, [I, I+1], #{k => I}}
//                                              (shape: list | tuple | map | nested;
//                                              n: 1, 16, 256, 4096)
//   Call/<backend>/jiffy:decode/<bytes>        jiffy:decode(Doc, [return_maps]) of a JSON
//                                              document of <bytes> (100 .. 1000000; records,
//                                              padded with spaces): nif_decode_init, then
//                                              nif_decode_iter for as long as the library
//                                              answers {iter, _}, as jiffy.erl does
//                                              (counter nif_calls: NIF calls per document)
//   Call/<backend>/jiffy:encode/<bytes>        jiffy:encode of that document's decoded
//                                              term (nif_encode_init, nif_encode_iter)
//   Call/<backend>/nh_resources:new/1          create a resource; the caller drops it
//                                              (its heap is cleared after every call)
//   Call/<backend>/nh_resources:get/1          read a resource made once
//   Call/<backend>/nh_resources:keep+release/1 enif_keep_resource then
//                                              enif_release_resource (two calls)
//   Call/<backend>/nh_messages:send_self/1     enif_send of an atom to the caller
//   Call/<backend>/nh_sched:countdown/16       a NIF that reschedules itself 16 times
//                                              with enif_schedule_nif, then answers
//   Load/<backend>/nh_terms                    load then unload nh_terms.so
// Sizes are decimal (1000, not 1024) so these jiffy rows never share a name
// with nifhost_bench_calls' jiffy:decode/1KiB, whose document is another.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/terms.hpp"

namespace {

using namespace nifhost;
using core::Term;

const std::size_t kShapeSizes[] = {1, 16, 256, 4096};
const std::size_t kJsonSizes[] = {100, 1000, 10'000, 100'000, 1'000'000};
const char* const kJiffy = "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy.so";

std::string nif_path(const char* name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir != nullptr ? dir : NIFHOST_BENCH_BINARY_DIR) / "nifs" /
          (std::string(name) + ".so"))
      .string();
}

// A VM that accepts every message and keeps none: what send_self costs is the
// trip to the host, not a mailbox.
class SinkHost final : public core::HostServices {
 public:
  bool send(std::optional<Term>, Term, Term) override {
    ++sent;
    return true;
  }
  std::optional<Term> whereis_pid(Term) override { return std::nullopt; }
  std::optional<Term> whereis_port(Term) override { return std::nullopt; }
  bool is_process_alive(Term) override { return true; }
  bool is_port_alive(Term) override { return false; }
  int monitor_process(core::Resource&, Term, core::MonitorId&) override { return -1; }
  int demonitor_process(core::Resource&, core::MonitorId) override { return 1; }
  bool port_command(Term, Term) override { return false; }
  std::uint64_t sent = 0;
};

struct Session {
  SinkHost host;
  std::unique_ptr<core::Backend> backend;
  core::LibraryHandle lib;
  core::Heap heap;  // arguments and anything else that outlives one call
  Term self = core::kNilTerm;
};

std::unique_ptr<Session> open(core::BackendKind kind, const std::string& path,
                              const std::string& module, benchmark::State& state) {
  auto s = std::make_unique<Session>();
  auto b = backends::make_backend(kind, s->host);
  if (!b) {
    state.SkipWithError(b.error().message().c_str());
    return nullptr;
  }
  s->backend = std::move(*b);
  core::LibrarySpec spec;
  spec.path = path;
  spec.module = module;
  spec.max_restarts = INT_MAX;
  auto lib = s->backend->load(spec);
  if (!lib) {
    state.SkipWithError(lib.error().message().c_str());
    return nullptr;
  }
  s->lib = *lib;
  s->self = core::make_pid(s->heap, core::atom("nonode@nohost"), 100, 0, core::kLocalCreation);
  return s;
}

std::optional<core::FunctionHandle> find(Session& s, const char* fn, unsigned arity,
                                         benchmark::State& state) {
  auto f = s.backend->lookup(s.lib, fn, arity);
  if (!f) {
    state.SkipWithError(f.error().message().c_str());
    return std::nullopt;
  }
  return *f;
}

// One function called with the same arguments; the caller's heap is cleared
// after every call, as a process done with the result would have it collected.
void call_loop(benchmark::State& state, Session& s, const char* fn, std::vector<Term> args) {
  auto f = find(s, fn, static_cast<unsigned>(args.size()), state);
  if (!f) return;
  core::Heap heap;
  core::Caller caller{&heap, s.self};
  for (auto _ : state) {
    auto r = s.backend->call(*f, caller, args);
    if (!r.ok()) return state.SkipWithError("the call failed");
    benchmark::DoNotOptimize(r.value());
    heap.clear();
  }
}

// ------------------------------------------------------------------ term shapes

Term shape(core::Heap& h, const std::string& kind, std::size_t n) {
  std::vector<Term> items;
  for (std::size_t i = 0; i < n; ++i) {
    const auto v = static_cast<std::int64_t>(i);
    if (kind == "nested") {
      const Term pair[] = {core::make_integer(h, v), core::make_integer(h, v + 1)};
      const Term key[] = {core::atom("k")};
      const Term value[] = {core::make_integer(h, v)};
      items.push_back(
          core::make_tuple(h, {core::make_integer(h, v), core::make_binary(h, "rec"),
                               core::make_list(h, pair), *core::make_map(h, key, value)}));
    } else {
      items.push_back(core::make_integer(h, v));
    }
  }
  if (kind == "tuple") return core::make_tuple(h, items);
  if (kind == "map") return *core::make_map(h, items, items);  // keys 0..n-1 are distinct
  return core::make_list(h, items);
}

void echo_shape(benchmark::State& state, core::BackendKind kind, std::string kind_name,
                std::size_t n) {
  auto s = open(kind, nif_path("nh_terms"), "", state);
  if (!s) return;
  call_loop(state, *s, "echo", {shape(s->heap, kind_name, n)});
}

// ------------------------------------------------------------------ jiffy

// An object holding an array of records, padded with spaces to exactly `size` bytes.
std::string json_document(std::size_t size) {
  std::string doc = "{\"users\":[";
  const std::string tail = "],\"next\":null}";
  for (int i = 0;; ++i) {
    std::string rec = std::string(i > 0 ? "," : "") + "{\"id\":" + std::to_string(1000 + i) +
                      ",\"name\":\"user " + std::to_string(i) +
                      "\",\"active\":" + (i % 2 == 0 ? "true" : "false") +
                      ",\"score\":" + std::to_string(i * 7) + ".25,\"tags\":[\"a\",\"b\\u00e9\"]}";
    if (i > 0 && doc.size() + rec.size() + tail.size() > size) break;
    doc += rec;
  }
  doc += tail;
  if (doc.size() < size) doc.insert(doc.size() - 1, size - doc.size(), ' ');
  return doc;
}

// {iter, {..., A, B, C}}: `first` (when given) and the last `k` elements of the
// inner tuple, which are what jiffy.erl passes back to the _iter function.
std::optional<std::vector<Term>> iter_state(Term r, std::size_t k,
                                            std::optional<Term> first = std::nullopt) {
  if (!core::is_tuple(r) || core::tuple_arity(r) != 2) return std::nullopt;
  const Term* e = core::tuple_elements(r);
  if (e[0] != core::atom("iter") || !core::is_tuple(e[1])) return std::nullopt;
  const std::size_t n = core::tuple_arity(e[1]);
  if (n < k) return std::nullopt;
  const Term* inner = core::tuple_elements(e[1]);
  std::vector<Term> args;
  args.reserve(k + 1);
  if (first) args.push_back(*first);
  for (std::size_t i = n - k; i < n; ++i) args.push_back(inner[i]);
  return args;
}

bool is_error(Term r) {
  return core::is_tuple(r) && core::tuple_arity(r) == 2 &&
         core::tuple_elements(r)[0] == core::atom("error");
}

struct Jiffy {
  core::FunctionHandle decode_init, decode_iter, encode_init, encode_iter;
};

// jiffy:decode/2 and jiffy:encode/2 as jiffy.erl drives the NIFs (the bignum
// "partial" answers never come: the documents hold none). nullopt on an error.
std::optional<Term> jiffy_decode(Session& s, const Jiffy& j, const core::Caller& c, Term doc,
                                 Term opts, std::uint64_t& calls) {
  ++calls;
  auto r = s.backend->call(j.decode_init, c, std::vector<Term>{doc, opts});
  for (;;) {
    if (!r.ok() || is_error(r.value())) return std::nullopt;
    auto st = iter_state(r.value(), 4, doc);
    if (!st) return r.value();
    ++calls;
    r = s.backend->call(j.decode_iter, c, *st);
  }
}

std::optional<Term> jiffy_encode(Session& s, const Jiffy& j, const core::Caller& c, Term data,
                                 std::uint64_t& calls) {
  ++calls;
  auto r = s.backend->call(j.encode_init, c, std::vector<Term>{data, core::kNilTerm});
  for (;;) {
    if (!r.ok() || is_error(r.value())) return std::nullopt;
    auto st = iter_state(r.value(), 3);
    if (!st) return r.value();
    ++calls;
    r = s.backend->call(j.encode_iter, c, *st);
  }
}

void jiffy_call(benchmark::State& state, core::BackendKind kind, bool encode, std::size_t size) {
  auto s = open(kind, kJiffy, "jiffy", state);
  if (!s) return;
  auto di = find(*s, "nif_decode_init", 2, state);
  auto dn = di ? find(*s, "nif_decode_iter", 5, state) : std::nullopt;
  auto ei = dn ? find(*s, "nif_encode_init", 2, state) : std::nullopt;
  auto en = ei ? find(*s, "nif_encode_iter", 3, state) : std::nullopt;
  if (!en) return;
  const Jiffy j{*di, *dn, *ei, *en};
  const std::string text = json_document(size);
  const Term doc = core::make_binary(s->heap, text);
  const Term opts = core::make_list(s->heap, {core::atom("return_maps")});
  // The encoder's input is the decoded document, kept on the session's heap.
  core::Caller keep{&s->heap, s->self};
  std::uint64_t calls = 0;
  auto decoded = jiffy_decode(*s, j, keep, doc, opts, calls);
  if (!decoded) return state.SkipWithError("jiffy could not decode the document");
  core::Heap heap;
  core::Caller caller{&heap, s->self};
  calls = 0;
  for (auto _ : state) {
    auto r = encode ? jiffy_encode(*s, j, caller, *decoded, calls)
                    : jiffy_decode(*s, j, caller, doc, opts, calls);
    if (!r) return state.SkipWithError("jiffy failed");
    benchmark::DoNotOptimize(*r);
    heap.clear();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
  // NIF calls per document: the _init call and one _iter call per yield.
  state.counters["nif_calls"] =
      benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kAvgIterations);
}

// ------------------------------------------------------------------ resources, messages, yielding

void resource_new(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, nif_path("nh_resources"), "", state);
  if (s) call_loop(state, *s, "new", {core::make_small(7)});
}

void resource_get(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, nif_path("nh_resources"), "", state);
  if (!s) return;
  auto make = find(*s, "new", 1, state);
  if (!make) return;
  const Term arg[] = {core::make_small(7)};
  auto r = s->backend->call(*make, core::Caller{&s->heap, s->self}, arg);
  if (!r.ok()) return state.SkipWithError("new/1 failed");
  call_loop(state, *s, "get", {r.value()});
}

void resource_keep_release(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, nif_path("nh_resources"), "", state);
  if (!s) return;
  auto make = find(*s, "new", 1, state);
  auto keep = make ? find(*s, "keep", 1, state) : std::nullopt;
  auto release = keep ? find(*s, "release", 1, state) : std::nullopt;
  if (!release) return;
  const Term arg[] = {core::make_small(7)};
  auto r = s->backend->call(*make, core::Caller{&s->heap, s->self}, arg);
  if (!r.ok()) return state.SkipWithError("new/1 failed");
  const Term res[] = {r.value()};
  core::Heap heap;
  core::Caller caller{&heap, s->self};
  for (auto _ : state) {
    if (!s->backend->call(*keep, caller, res).ok() || !s->backend->call(*release, caller, res).ok())
      return state.SkipWithError("keep/1 or release/1 failed");
    heap.clear();
  }
}

void send_self(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, nif_path("nh_messages"), "", state);
  if (!s) return;
  call_loop(state, *s, "send_self", {core::atom("ping")});
  if (s->host.sent < static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("the host did not receive every message");
}

void countdown(benchmark::State& state, core::BackendKind kind) {
  auto s = open(kind, nif_path("nh_sched"), "", state);
  if (s) call_loop(state, *s, "countdown", {core::make_small(16)});
}

// ------------------------------------------------------------------ load time

void load_unload(benchmark::State& state, core::BackendKind kind) {
  SinkHost host;
  auto b = backends::make_backend(kind, host);
  if (!b) return state.SkipWithError(b.error().message().c_str());
  core::LibrarySpec spec;
  spec.path = nif_path("nh_terms");
  for (auto _ : state) {
    auto lib = (*b)->load(spec);
    if (!lib) return state.SkipWithError(lib.error().message().c_str());
    if (auto u = (*b)->unload(*lib); !u) return state.SkipWithError(u.error().message().c_str());
  }
}

void register_all() {
  for (core::BackendKind kind : backends::available_backends()) {
    const std::string b = core::backend_name(kind);
    const std::string call = "Call/" + b + "/";
    for (const char* k : {"list", "tuple", "map", "nested"})
      for (std::size_t n : kShapeSizes)
        benchmark::RegisterBenchmark(
            (call + "nh_terms:echo/" + k + "_" + std::to_string(n)).c_str(), echo_shape, kind,
            std::string(k), n);
    for (bool encode : {false, true})
      for (std::size_t n : kJsonSizes)
        benchmark::RegisterBenchmark(
            (call + "jiffy:" + (encode ? "encode/" : "decode/") + std::to_string(n)).c_str(),
            jiffy_call, kind, encode, n);
    benchmark::RegisterBenchmark((call + "nh_resources:new/1").c_str(), resource_new, kind);
    benchmark::RegisterBenchmark((call + "nh_resources:get/1").c_str(), resource_get, kind);
    benchmark::RegisterBenchmark((call + "nh_resources:keep+release/1").c_str(),
                                 resource_keep_release, kind);
    benchmark::RegisterBenchmark((call + "nh_messages:send_self/1").c_str(), send_self, kind);
    benchmark::RegisterBenchmark((call + "nh_sched:countdown/16").c_str(), countdown, kind);
    benchmark::RegisterBenchmark(("Load/" + b + "/nh_terms").c_str(), load_unload, kind)
        ->Unit(benchmark::kMicrosecond);
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
