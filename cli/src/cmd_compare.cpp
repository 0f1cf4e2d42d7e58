// nifhost compare [--quick] [--out DIR] [--bench-dir DIR]: the comparison
// report (benchmarks, fault matrix, the BEAM's timings). Its logic lives in
// nifhost::reports; `fault-probe` is the child process it runs per cell of
// the fault matrix (not listed in --help).
#include <charconv>
#include <iostream>
#include <ostream>
#include <string>
#include <unistd.h>

#include "command.hpp"
#include "nifhost/reports/compare.hpp"
#include "nifhost/reports/fault_probe.hpp"

namespace nifhost::cli {

extern const Command kCompareCommand;
extern const Command kFaultProbeCommand;

namespace {

std::filesystem::path self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("nifhost") : p;
}

int run_compare(std::span<const std::string_view> args, Io& io) {
  reports::CompareOptions options;
  options.self = self_path();
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (auto eq = a.find('='); eq != std::string_view::npos) return a.substr(eq + 1);
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    std::string_view name = a.substr(0, a.find('='));
    if (a == "--help" || a == "-h") {
      print_usage(io.out, kCompareCommand);
      io.out << "\nRuns every benchmark suite of the build tree on every backend, the anchors\n"
                "(direct call, pipe, socketpair, spin, futex, memcpy, message_queue), the fault\n"
                "matrix (every nh_faults function on every backend, each in a probe process)\n"
                "and the same NIF calls inside erl, then writes DIR/report.md, DIR/report.html\n"
                "and DIR/summary.json (docs/compare.md explains them). Progress goes to stderr.\n"
                "It builds nothing: a suite that is not built is reported as missing.\n\n"
                "Options:\n"
                "  --quick          a short run (one repetition, short minimum times)\n"
                "  --out DIR        where the report goes (default reports/out)\n"
                "  --bench-dir DIR  where the nifhost_bench_* executables are\n"
                "                   (default: "
             << reports::default_bench_dir().string()
             << ")\n"
                "  --nif-dir DIR    where the NIF suites are (default: "
             << reports::default_nif_dir().string()
             << ")\n\nExit status: 0 the report was written, 1 it could not be, 2 bad command "
                "line.\n";
      return kExitOk;
    }
    if (a == "--quick") {
      options.quick = true;
    } else if (name == "--out" || name == "--bench-dir" || name == "--nif-dir") {
      auto v = value();
      if (!v || v->empty())
        return usage_error(io, &kCompareCommand, std::string(name) + " needs a directory");
      if (name == "--out") options.out_dir = std::string(*v);
      if (name == "--bench-dir") options.bench_dir = std::string(*v);
      if (name == "--nif-dir") options.nif_dir = std::string(*v);
    } else if (a == "--skip-benchmarks") {
      options.skip_benchmarks = true;
    } else if (a == "--skip-faults") {
      options.skip_faults = true;
    } else if (a == "--skip-beam") {
      options.skip_beam = true;
    } else {
      return usage_error(io, &kCompareCommand, "unknown argument '" + std::string(a) + "'");
    }
  }
  return reports::run_compare(options, io.err);
}

int run_fault_probe(std::span<const std::string_view> args, Io& io) {
  reports::ProbeOptions options;
  options.nif_dir = reports::default_nif_dir();
  bool list = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&]() -> std::string_view { return i + 1 < args.size() ? args[++i] : ""; };
    auto number = [&](std::string_view v, std::uint64_t& out) {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      return ec == std::errc{} && p == v.data() + v.size();
    };
    if (a == "--backend") {
      auto kind = core::parse_backend_kind(value());
      if (!kind) return usage_error(io, &kFaultProbeCommand, "unknown backend");
      options.backend = *kind;
    } else if (a == "--nif-dir") {
      options.nif_dir = std::string(value());
    } else if (a == "--deadline-ms") {
      std::uint64_t ms = 0;
      if (!number(value(), ms)) return usage_error(io, &kFaultProbeCommand, "bad --deadline-ms");
      options.call_deadline = std::chrono::milliseconds(ms);
    } else if (a == "--memory-mib") {
      std::uint64_t mib = 0;
      if (!number(value(), mib)) return usage_error(io, &kFaultProbeCommand, "bad --memory-mib");
      options.memory_limit_bytes = mib << 20;
    } else if (a == "--list") {
      list = true;
    } else if (a.starts_with("-")) {
      return usage_error(io, &kFaultProbeCommand, "unknown option '" + std::string(a) + "'");
    } else {
      options.fault = std::string(a);
    }
  }
  if (list) {
    std::string error;
    auto faults = reports::list_faults(options.nif_dir, &error);
    if (faults.empty()) return input_error(io, "fault-probe", error);
    for (const auto& f : faults) io.out << f << '\n';
    return kExitOk;
  }
  if (options.fault.empty()) return usage_error(io, &kFaultProbeCommand, "missing FAULT");
  return reports::run_fault_probe(options, io.out);
}

}  // namespace

const Command kCompareCommand{
    "compare",
    "[--quick] [--out DIR] [--bench-dir DIR] [--nif-dir DIR]",
    "run the benchmarks and the fault matrix on every backend and write the report",
    run_compare,
};

const Command kFaultProbeCommand{
    "fault-probe",
    "[--backend B] [--nif-dir DIR] [--deadline-ms N] [--memory-mib N] FAULT\n--list",
    "one cell of compare's fault matrix, in a process of its own",
    run_fault_probe,
    true,
};

}  // namespace nifhost::cli
