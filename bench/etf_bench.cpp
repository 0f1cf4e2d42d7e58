// ETF codec throughput: nifhost's encode/decode against erl's term_to_binary/1
// and binary_to_term/1 on the same terms, measured in the same run.
//
//   nifhost_bench_etf --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// ETF/encode/<case> and ETF/decode/<case> time nifhost (wall time). Their
// counters compare it with erl doing the same work, both measured the same
// way right before each run: erl_ns is the BEAM oracle's time_etf (the median
// over 7 rounds of a round's wall time per operation, inside the VM),
// nifhost_ns the same median for nifhost, and erl_ratio is erl_ns / nifhost_ns
// (above 1: nifhost is faster). ETF/erl/<op>/<case> report erl's time as the
// row's own time, with bytes/s on the same encoded size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/terms.hpp"
#ifdef NIFHOST_BENCH_WITH_ORACLE
#include "nifhost/testing/beam_oracle.hpp"
#endif

namespace {

using namespace nifhost::core;
using Bytes = std::vector<std::uint8_t>;

Term small_term(Heap& h) {
  return make_tuple(h, {atoms::kOk, make_small(42), make_binary(h, "abc")});
}

// [{I, ok} || I <- lists:seq(1, 1000)]
Term tuple_list(Heap& h) {
  std::vector<Term> xs;
  for (int i = 1; i <= 1000; ++i) xs.push_back(make_tuple(h, {make_small(i), atoms::kOk}));
  return make_list(h, xs);
}

// #{k1 => 1, ..., k100 => 100}
Term map_of_100(Heap& h) {
  std::vector<Term> k, v;
  for (int i = 1; i <= 100; ++i) {
    k.push_back(atom("k" + std::to_string(i)));
    v.push_back(make_small(i));
  }
  return *make_map(h, k, v);
}

Term binary_list(Heap& h, std::size_t count, std::size_t size) {
  std::vector<Term> xs;
  for (std::size_t i = 0; i < count; ++i) {
    std::string b(size, '\0');
    for (std::size_t j = 0; j < size; ++j) b[j] = static_cast<char>(i * 31 + j * 7);
    xs.push_back(make_binary(h, b));
  }
  return make_list(h, xs);
}

struct Case {
  std::string name;
  Heap heap;
  Term term = kNilTerm;
  Bytes bytes;
};

struct ErlTiming {
  bool valid = false;
  double encode_ns = 0;
  double decode_ns = 0;
};

// Operations per timed round: about 5 ms per round at ~1 GB/s, never fewer than 5.
std::uint64_t round_iterations(const Case& c) {
  return std::clamp<std::uint64_t>(5'000'000 / (c.bytes.size() + 50), 5, 50'000);
}

#ifdef NIFHOST_BENCH_WITH_ORACLE
nifhost::testing::BeamOracle* g_oracle = nullptr;
#endif

// erl's time for the same work, asked again by every run of a row, right
// before it: on a shared machine, both sides then see the same load.
ErlTiming measure_erl(const Case& c) {
  ErlTiming r;
#ifdef NIFHOST_BENCH_WITH_ORACLE
  if (g_oracle == nullptr) return r;
  auto t = g_oracle->time_etf(c.bytes, round_iterations(c));
  if (!t) {
    std::fprintf(stderr, "erl timing for %s failed: %s\n", c.name.c_str(),
                 nifhost::testing::describe(t.error()).c_str());
    return r;
  }
  r.valid = true;
  r.encode_ns = t->encode_ns;
  r.decode_ns = t->decode_ns;
#else
  (void)c;
#endif
  return r;
}

// nifhost's time measured exactly as the oracle measures erl's: the median,
// over 7 rounds of round_iterations() operations, of a round's wall time per
// operation. (Short rounds and a median keep preemption by other processes out
// of both numbers alike; the ratio counters compare these.)
template <class Op>
double median_round_ns(const Case& c, Op op) {
  std::uint64_t n = round_iterations(c);
  std::vector<double> rounds;
  for (int r = 0; r < 7; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < n; ++i) op();
    auto elapsed = std::chrono::steady_clock::now() - t0;
    rounds.push_back(std::chrono::duration<double, std::nano>(elapsed).count() /
                     static_cast<double>(n));
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[3];
}

void report(benchmark::State& state, const Case& c, const ErlTiming& erl, double erl_ns,
            double ours_ns) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(c.bytes.size()));
  if (erl.valid) {
    state.counters["erl_ns"] = erl_ns;
    state.counters["nifhost_ns"] = ours_ns;
    state.counters["erl_ratio"] = erl_ns / ours_ns;
  }
}

void encode_bench(benchmark::State& state, Case* c) {
  auto op = [c] {
    auto e = encode(c->term);
    benchmark::DoNotOptimize(e);
  };
  ErlTiming erl = measure_erl(*c);
  double ours = erl.valid ? median_round_ns(*c, op) : 0;
  for (auto _ : state) op();
  report(state, *c, erl, erl.encode_ns, ours);
}

void decode_bench(benchmark::State& state, Case* c) {
  Heap heap;
  auto op = [c, &heap] {
    auto d = decode(c->bytes, heap);
    benchmark::DoNotOptimize(d);
    heap.clear();  // drops the decoded term, as a process's GC would
  };
  ErlTiming erl = measure_erl(*c);
  double ours = erl.valid ? median_round_ns(*c, op) : 0;
  for (auto _ : state) op();
  report(state, *c, erl, erl.decode_ns, ours);
}

void erl_bench(benchmark::State& state, Case* c, bool encoding) {
  ErlTiming erl = measure_erl(*c);
  if (!erl.valid) {
    state.SkipWithError("no BEAM oracle: erl timings unavailable");
    return;
  }
  double ns = encoding ? erl.encode_ns : erl.decode_ns;
  for (auto _ : state) state.SetIterationTime(ns * 1e-9);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(c->bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  struct Spec {
    const char* name;
    Term (*make)(Heap&);
  };
  const Spec specs[] = {
      {"small", small_term},
      {"tuple_list_1000", tuple_list},
      {"map_100", map_of_100},
      {"binaries_100x1KiB", [](Heap& h) { return binary_list(h, 100, 1024); }},
      {"binaries_4x1MiB", [](Heap& h) { return binary_list(h, 4, 1 << 20); }},
  };
  std::vector<std::unique_ptr<Case>> cases;
  for (const Spec& s : specs) {
    auto c = std::make_unique<Case>();
    c->name = s.name;
    c->term = s.make(c->heap);
    c->bytes = encode(c->term).value();
    cases.push_back(std::move(c));
  }

#ifdef NIFHOST_BENCH_WITH_ORACLE
  auto oracle = nifhost::testing::BeamOracle::start();
  if (oracle) {
    g_oracle = new nifhost::testing::BeamOracle(std::move(*oracle));
  } else {
    std::fprintf(stderr, "BEAM oracle unavailable (%s): erl rows are skipped\n",
                 nifhost::testing::describe(oracle.error()).c_str());
  }
#endif

  for (auto& c : cases) {
    Case* p = c.get();
    // Wall time on both sides: erl's numbers are wall time inside the VM.
    benchmark::RegisterBenchmark(("ETF/encode/" + c->name).c_str(), encode_bench, p)->UseRealTime();
    benchmark::RegisterBenchmark(("ETF/decode/" + c->name).c_str(), decode_bench, p)->UseRealTime();
    benchmark::RegisterBenchmark(("ETF/erl/encode/" + c->name).c_str(), erl_bench, p, true)
        ->UseManualTime();
    benchmark::RegisterBenchmark(("ETF/erl/decode/" + c->name).c_str(), erl_bench, p, false)
        ->UseManualTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
#ifdef NIFHOST_BENCH_WITH_ORACLE
  delete g_oracle;
#endif
  return 0;
}
