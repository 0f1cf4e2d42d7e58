#pragma once
// `nifhost compare`: runs the benchmarks, the anchors, the fault matrix and
// the real BEAM's timings, then has the report generator (report.py) write
// report.md, report.html and summary.json. It builds nothing: every
// executable it runs comes from the build tree this nifhost was built in
// (or --bench-dir), and one that is missing is reported as missing.
//
//   CompareOptions o{.quick = true, .out_dir = "reports/out", .self = "/proc/self/exe"};
//   int status = nifhost::reports::run_compare(o, std::cerr);
#include <filesystem>
#include <iosfwd>
#include <string>

namespace nifhost::reports {

struct CompareOptions {
  bool quick = false;
  std::filesystem::path out_dir = "reports/out";
  // Where the nifhost_bench_* executables are (default: the build tree's bench/).
  std::filesystem::path bench_dir;
  // Where the NIF suites are (default: the build tree's nifs/).
  std::filesystem::path nif_dir;
  // The nifhost executable, for the fault probes (`nifhost fault-probe`).
  std::filesystem::path self;
  // Skip phases (tests of the runner use these; the report shows them as missing).
  bool skip_benchmarks = false;
  bool skip_faults = false;
  bool skip_beam = false;
};

// The build tree's defaults, baked in when nifhost was built.
std::filesystem::path default_bench_dir();
std::filesystem::path default_nif_dir();

// Runs everything with a progress display on `progress` and writes the
// report. Returns 0 when the report was written (rows may be missing), 1 when
// it could not be (the output directory or the report generator failed).
int run_compare(const CompareOptions& options, std::ostream& progress);

}  // namespace nifhost::reports
