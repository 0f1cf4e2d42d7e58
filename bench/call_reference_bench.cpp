// The references the backend rows of nifhost_bench_calls (call_bench.cpp) are
// read against, measured in the same run, and a real library's call.
//
//   nifhost_bench_calls --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Rows:
//   Call/direct/nh_terms:noop/0, add/2, echo/small_term, echo/1KiB_term, echo/<bytes>
//       the NIF function called through its pointer with a process-bound env
//       made once (no registry, no dispatcher, no backend): what a backend's
//       dispatch adds is Call/<backend>/... minus this row
//   Call/<backend>/jiffy:decode/1KiB, Call/direct/jiffy:decode/1KiB
//       Debian's jiffy.so decoding a 1 KiB JSON document (nif_decode_init
//       with [return_maps])
// The real BEAM's rows (Call/beam/...: the same functions, arguments and
// document, timed inside erl) are bench/beam_side.escript's.
// Each call loop clears the caller's heap after every call, as call_bench.cpp
// does, so the rows differ only in what they are meant to compare.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/loader.hpp"
#include "nifhost/core/terms.hpp"

// The echo/1 payloads, defined in call_bench.cpp (the same executable).
namespace nifhost::bench {
core::Term small_term(core::Heap& h);
core::Term kib_term(core::Heap& h);
}  // namespace nifhost::bench

namespace {

using namespace nifhost;
using core::Term;

const std::size_t kEchoSizes[] = {0, 64, 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024};
const char* const kJiffyStem = "/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy";

std::string suite_stem(const char* name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir != nullptr ? dir : NIFHOST_BENCH_BINARY_DIR) / "nifs" / name)
      .string();
}

// A JSON document of about 1 KiB: an object holding an array of records.
std::string json_document() {
  std::string doc = "{\"users\": [";
  for (int i = 0; doc.size() < 960; ++i) {
    if (i > 0) doc += ", ";
    doc += "{\"id\": " + std::to_string(1000 + i) + ", \"name\": \"user " + std::to_string(i) +
           "\", \"active\": " + (i % 2 == 0 ? "true" : "false") +
           ", \"score\": " + std::to_string(i * 7) + ".25, \"tags\": [\"a\", \"b\\u00e9\"]}";
  }
  return doc + "], \"next\": null}";
}

// The arguments of each measured call, on a heap that outlives the calls.
struct Workload {
  const char* suite;     // a NIF suite, or nullptr for jiffy
  const char* function;  // the NIF called
  std::string row;       // <suite>:<function>/<payload>
  std::vector<Term> args;
};

core::Heap& args_heap() {
  static core::Heap heap;
  return heap;
}

std::vector<Workload> workloads() {
  core::Heap& h = args_heap();
  std::vector<Workload> out;
  out.push_back({"nh_terms", "noop", "nh_terms:noop/0", {}});
  out.push_back({"nh_terms", "add", "nh_terms:add/2", {core::make_small(40), core::make_small(2)}});
  out.push_back({"nh_terms", "echo", "nh_terms:echo/small_term", {bench::small_term(h)}});
  out.push_back({"nh_terms", "echo", "nh_terms:echo/1KiB_term", {bench::kib_term(h)}});
  for (std::size_t n : kEchoSizes) {
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 13);
    out.push_back(
        {"nh_terms", "echo", "nh_terms:echo/" + std::to_string(n), {*core::make_binary(h, bytes)}});
  }
  out.push_back(
      {nullptr,
       "nif_decode_init",
       "jiffy:decode/1KiB",
       {core::make_binary(h, json_document()), core::make_list(h, {core::atom("return_maps")})}});
  return out;
}

core::LibrarySpec spec_for(const Workload& w) {
  core::LibrarySpec spec;
  if (w.suite != nullptr) {
    spec.path = suite_stem(w.suite) + ".so";
  } else {
    spec.path = std::string(kJiffyStem) + ".so";
    spec.module = "jiffy";
  }
  spec.max_restarts = INT_MAX;
  return spec;
}

// ------------------------------------------------------------------ backends: the real library

// jiffy through each backend (the nh_terms rows are call_bench.cpp's).
void backend_call(benchmark::State& state, core::BackendKind kind, Workload w) {
  core::NullHostServices host;
  auto backend = backends::make_backend(kind, host);
  if (!backend) return state.SkipWithError(backend.error().message().c_str());
  auto lib = (*backend)->load(spec_for(w));
  if (!lib) return state.SkipWithError(lib.error().message().c_str());
  auto fn = (*backend)->lookup(*lib, w.function, static_cast<unsigned>(w.args.size()));
  if (!fn) return state.SkipWithError(fn.error().message().c_str());
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  for (auto _ : state) {
    auto r = (*backend)->call(*fn, caller, w.args);
    if (!r.ok()) return state.SkipWithError("the call failed");
    benchmark::DoNotOptimize(r.value());
    heap.clear();
  }
}

// ------------------------------------------------------------------ direct calls

void direct_call(benchmark::State& state, Workload w) {
  core::NullHostServices host;
  const core::LibrarySpec spec = spec_for(w);
  auto lib = core::NifLibrary::open(spec.path, {.expected_module = spec.module});
  if (!lib) return state.SkipWithError(lib.error().message().c_str());
  if (auto loaded = (*lib)->load(&host, core::make_small(0)); !loaded)
    return state.SkipWithError(loaded.error().message().c_str());
  auto index = (*lib)->find_function(w.function, static_cast<unsigned>(w.args.size()));
  if (!index) return state.SkipWithError("no such function");
  const core::NifFunction& f = (*lib)->functions()[*index];
  core::Heap heap;
  core::EnvScope env(core::EnvKind::kProcessBound, heap, &(*lib)->context(), &host);
  const int argc = static_cast<int>(w.args.size());
  const Term* argv = w.args.data();
  for (auto _ : state) {
    Term r = f.fptr(env.get(), argc, argv);
    benchmark::DoNotOptimize(r);
    heap.clear();
  }
  // The direct row is only a floor if the function really did its work.
  if (env.get()->exception_pending || env.get()->scheduled)
    state.SkipWithError("the function raised or yielded: not a plain call");
}

// Registered before main() runs: the backend list is the selector's.
[[maybe_unused]] const bool kRegistered = [] {
  for (const Workload& w : workloads()) {
    benchmark::RegisterBenchmark(("Call/direct/" + w.row).c_str(), direct_call, w);
    if (w.suite != nullptr) continue;
    for (core::BackendKind kind : backends::available_backends())
      benchmark::RegisterBenchmark(
          ("Call/" + std::string(core::backend_name(kind)) + "/" + w.row).c_str(), backend_call,
          kind, w);
  }
  return true;
}();

}  // namespace
