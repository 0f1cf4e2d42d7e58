#include "nifhost/reports/compare.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>
#include <sstream>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "json_text.hpp"
#include "nifhost/backends/select.hpp"
#include "nifhost/reports/fault_probe.hpp"
#include "nifhost/reports/subprocess.hpp"

namespace nifhost::reports {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path default_bench_dir() { return fs::path(NIFHOST_REPORTS_BINARY_DIR) / "bench"; }
fs::path default_nif_dir() { return fs::path(NIFHOST_REPORTS_BINARY_DIR) / "nifs"; }

namespace {

// The suites the report reads; any other nifhost_bench_* found is run too.
const char* const kExpectedBenches[] = {"nifhost_bench_calls", "nifhost_bench_shm",
                                        "nifhost_bench_anchors", "nifhost_bench_families"};
// Suites that measure nothing the report uses.
const char* const kIgnoredBenches[] = {"nifhost_bench_etf"};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ended_text(const RunResult& r) {
  switch (r.how) {
    case Ended::kExited:
      return "exited";
    case Ended::kSignaled:
      return "signaled";
    case Ended::kTimedOut:
      return "timeout";
  }
  return "?";
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

class Runner {
 public:
  Runner(const CompareOptions& o, std::ostream& progress)
      : o_(o), progress_(progress), raw_(o.out_dir / "raw") {}

  int run() {
    std::error_code ec;
    fs::create_directories(raw_, ec);
    if (ec) {
      progress_ << "nifhost compare: cannot create " << raw_.string() << ": " << ec.message()
                << '\n';
      return 1;
    }
    started_ = utc_now();
    sample_load("start");
    progress_ << "nifhost compare: " << (o_.quick ? "quick" : "full") << " run, writing "
              << o_.out_dir.string() << "\n";
    if (!o_.skip_benchmarks) benchmarks();
    sample_load("after benchmarks");
    if (!o_.skip_faults) fault_matrix();
    sample_load("after fault matrix");
    if (!o_.skip_beam) beam_side();
    sample_load("after BEAM side");
    write_machine();
    return generate();
  }

 private:
  void sample_load(const char* phase) {
    std::string load = trim(read_file("/proc/loadavg"));
    double l1 = 0, l5 = 0, l15 = 0;
    std::istringstream(load) >> l1 >> l5 >> l15;
    loads_.push_back(JsonObject()
                         .add("phase", phase)
                         .add("time", utc_now())
                         .add("load1", l1)
                         .add("load5", l5)
                         .add("load15", l15)
                         .str());
  }

  // ------------------------------------------------------------ benchmarks
  void benchmarks() {
    fs::path dir = o_.bench_dir.empty() ? default_bench_dir() : o_.bench_dir;
    std::vector<std::string> names(std::begin(kExpectedBenches), std::end(kExpectedBenches));
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string n = entry.path().filename().string();
      if (!n.starts_with("nifhost_bench_") || !entry.is_regular_file()) continue;
      if (::access(entry.path().c_str(), X_OK) != 0) continue;
      if (std::find(std::begin(kIgnoredBenches), std::end(kIgnoredBenches), n) !=
          std::end(kIgnoredBenches))
        continue;
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    std::vector<std::string> rows;
    std::size_t i = 0;
    for (const auto& name : names) {
      ++i;
      fs::path exe = dir / name;
      JsonObject row;
      row.add("name", name).add("path", exe.string());
      progress_ << "[bench " << i << "/" << names.size() << "] " << name << ": ";
      if (!fs::exists(exe)) {
        progress_ << "missing (not built in " << dir.string() << ")\n";
        rows.push_back(row.add("found", false).str());
        continue;
      }
      progress_ << "running..." << std::flush;
      fs::path json = raw_ / ("bench_" + name + ".json");
      std::vector<std::string> argv = {exe.string(), "--benchmark_out=" + json.string(),
                                       "--benchmark_out_format=json", "--benchmark_format=json"};
      if (o_.quick) {
        argv.push_back("--benchmark_min_time=0.05");
        argv.push_back("--benchmark_repetitions=1");
        // 16 MiB payloads take most of a short run; the full run has them.
        argv.push_back("--benchmark_filter=-/16777216");
      } else {
        argv.push_back("--benchmark_repetitions=5");
      }
      RunOptions ro;
      ro.timeout = o_.quick ? 120s : 1800s;
      ro.stdout_path = raw_ / ("bench_" + name + ".out");
      ro.stderr_path = raw_ / ("bench_" + name + ".err");
      auto r = run_process(argv, ro);
      row.add("found", true).add("json", json.filename().string());
      if (!r) {
        progress_ << " cannot start: " << r.error().message << '\n';
        rows.push_back(row.add("ended", "spawn_failed").add("error", r.error().message).str());
        continue;
      }
      progress_ << " " << ended_text(*r);
      if (r->how == Ended::kExited) progress_ << " " << r->status;
      if (r->how == Ended::kSignaled) progress_ << " " << signal_name(r->signal);
      progress_ << " in " << seconds(r->elapsed) << " s\n";
      rows.push_back(row.add("ended", ended_text(*r))
                         .add("status", r->status)
                         .add("signal", r->signal ? signal_name(r->signal) : std::string())
                         .add("seconds", seconds(r->elapsed))
                         .str());
    }
    write_array("benchmarks.json", "executables", rows,
                JsonObject()
                    .add("bench_dir", dir.string())
                    .add("mode", o_.quick ? "quick" : "full")
                    .add("repetitions", static_cast<std::int64_t>(o_.quick ? 1 : 5)));
  }

  // ------------------------------------------------------------ fault matrix
  void fault_matrix() {
    fs::path nif_dir = o_.nif_dir.empty() ? default_nif_dir() : o_.nif_dir;
    std::string error;
    std::vector<std::string> faults = list_faults(nif_dir, &error);
    auto deadline = o_.quick ? 1000ms : 3000ms;
    auto probe_timeout = deadline + (o_.quick ? 5000ms : 10000ms);
    std::uint64_t memory_mib = o_.quick ? 256 : 512;
    std::vector<std::string> backends_json;
    std::vector<core::BackendKind> kinds = backends::available_backends();
    for (auto k : kinds) backends_json.push_back(json_string(core::backend_name(k)));
    std::vector<std::string> faults_json;
    for (const auto& f : faults) faults_json.push_back(json_string(f));
    if (faults.empty())
      progress_ << "[faults] no fault functions found in " << (nif_dir / "nh_faults.so").string()
                << ": " << error << '\n';

    std::vector<std::string> cells;
    std::size_t total = faults.size() * kinds.size(), i = 0;
    for (auto kind : kinds) {
      for (const auto& fault : faults) {
        ++i;
        const char* b = core::backend_name(kind);
        progress_ << "[fault " << i << "/" << total << "] " << b << " x " << fault << ": "
                  << std::flush;
        std::vector<std::string> argv = {o_.self.string(),
                                         "fault-probe",
                                         "--backend",
                                         b,
                                         "--nif-dir",
                                         nif_dir.string(),
                                         "--deadline-ms",
                                         std::to_string(deadline.count()),
                                         "--memory-mib",
                                         std::to_string(memory_mib),
                                         fault};
        RunOptions ro;
        ro.timeout = probe_timeout;
        auto r = run_process(argv, ro);
        JsonObject cell;
        cell.add("backend", b).add("fault", fault);
        if (!r) {
          progress_ << "cannot start the probe: " << r.error().message << '\n';
          cells.push_back(cell.add("ended", "spawn_failed").add("error", r.error().message).str());
          continue;
        }
        std::string last_stage = last_line_stage(r->output);
        progress_ << ended_text(*r);
        if (r->how == Ended::kExited) progress_ << " " << r->status;
        if (r->how == Ended::kSignaled) progress_ << " " << signal_name(r->signal);
        progress_ << " (" << last_stage << ") in " << static_cast<int>(seconds(r->elapsed) * 1000)
                  << " ms\n";
        cells.push_back(cell.add("ended", ended_text(*r))
                            .add("status", r->status)
                            .add("signal", r->signal ? signal_name(r->signal) : std::string())
                            .add("elapsed_ms", seconds(r->elapsed) * 1000)
                            .add("stdout", r->output)
                            .str());
      }
    }
    JsonObject head;
    head.add("deadline_ms", static_cast<std::int64_t>(deadline.count()))
        .add("probe_timeout_ms", static_cast<std::int64_t>(probe_timeout.count()))
        .add("memory_limit_mib", memory_mib)
        .add("nif_dir", nif_dir.string())
        .add("error", error)
        .add_raw("backends", array(backends_json))
        .add_raw("faults", array(faults_json));
    write_array("faults.json", "cells", cells, head);
  }

  static std::string last_line_stage(const std::string& out) {
    auto pos = out.rfind("\"stage\":\"");
    if (pos == std::string::npos) return "no output";
    pos += 9;
    return out.substr(pos, out.find('"', pos) - pos);
  }

  // ------------------------------------------------------------ BEAM
  void beam_side() {
    fs::path nif_dir = o_.nif_dir.empty() ? default_nif_dir() : o_.nif_dir;
    fs::path script = fs::path(NIFHOST_REPORTS_SOURCE_DIR) / "beam" / "beam_side.escript";
    fs::path stub = fs::path(NIFHOST_SOURCE_DIR) / "nifs" / "beam" / "nif_stub.erl";
    progress_ << "[beam] timing nh_terms and the real libraries inside erl: " << std::flush;
    RunOptions ro;
    ro.timeout = o_.quick ? 120s : 900s;
    ro.stdout_path = raw_ / "beam.json";
    ro.stderr_path = raw_ / "beam.err";
    auto r = run_process({NIFHOST_ESCRIPT, script.string(), nif_dir.string(), stub.string(),
                          o_.quick ? "quick" : "full"},
                         ro);
    if (!r) {
      progress_ << "cannot start escript: " << r.error().message << '\n';
      return;
    }
    progress_ << ended_text(*r);
    if (r->how == Ended::kExited) progress_ << " " << r->status;
    progress_ << " in " << seconds(r->elapsed) << " s\n";

    // The benchmarks' own BEAM side, when the tree has it: the same rows as
    // nifhost_bench_calls (same arguments, same JSON document), which the
    // report prefers to ours where both time a row.
    fs::path bench_script = fs::path(NIFHOST_SOURCE_DIR) / "bench" / "beam_side.escript";
    if (!fs::exists(bench_script)) return;
    progress_ << "[beam] the benchmarks' rows inside erl (" << bench_script.filename().string()
              << "): " << std::flush;
    ro.stdout_path = raw_ / "beam_bench.json";
    ro.stderr_path = raw_ / "beam_bench.err";
    auto rb = run_process(
        {NIFHOST_ESCRIPT, bench_script.string(), nif_dir.string(), o_.quick ? "quick" : "full"},
        ro);
    if (!rb) {
      progress_ << "cannot start escript: " << rb.error().message << '\n';
      return;
    }
    progress_ << ended_text(*rb);
    if (rb->how == Ended::kExited) progress_ << " " << rb->status;
    progress_ << " in " << seconds(rb->elapsed) << " s\n";
  }

  // ------------------------------------------------------------ machine
  void write_machine() {
    utsname u{};
    ::uname(&u);
    std::string cpu;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
      if (line.starts_with("model name")) {
        cpu = trim(line.substr(line.find(':') + 2));
        break;
      }
    JsonObject m;
    m.add("mode", o_.quick ? "quick" : "full")
        .add("started", started_)
        .add("finished", utc_now())
        .add("sysname", u.sysname)
        .add("release", u.release)
        .add("version", u.version)
        .add("machine", u.machine)
        .add("cpu", cpu)
        .add("cpus", static_cast<std::int64_t>(std::thread::hardware_concurrency()))
        .add("compiler", NIFHOST_REPORTS_COMPILER)
        .add("build_type", NIFHOST_REPORTS_BUILD_TYPE)
        .add("nifhost_version", NIFHOST_REPORTS_VERSION)
        .add_raw("load", array(loads_));
    std::ofstream(raw_ / "machine.json") << m.str() << '\n';
  }

  int generate() {
    fs::path script = fs::path(NIFHOST_REPORTS_SOURCE_DIR) / "report.py";
    progress_ << "[report] " << (o_.out_dir / "report.md").string() << ", report.html, "
              << "summary.json: " << std::flush;
    RunOptions ro;
    ro.timeout = 300s;
    ro.stderr_path = raw_ / "report.err";
    auto r = run_process({NIFHOST_PYTHON, script.string(), "--raw", raw_.string(), "--out",
                          o_.out_dir.string(), "--gnuplot", NIFHOST_GNUPLOT},
                         ro);
    if (!r || r->how != Ended::kExited || r->status != 0) {
      progress_ << "failed\n";
      if (r) progress_ << trim(read_file(raw_ / "report.err")) << '\n';
      return 1;
    }
    progress_ << "written\n" << r->output;
    return 0;
  }

  // A JSON array of already-encoded items. (Built by appending: GCC 12 at
  // -O2 reports a false -Wrestrict for "[" + std::string.)
  static std::string array(const std::vector<std::string>& items) {
    std::string s = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) s += ",\n";
      s += items[i];
    }
    s += "]";
    return s;
  }

  void write_array(const char* file, const char* key, const std::vector<std::string>& items,
                   JsonObject head) {
    head.add_raw(key, array(items));
    std::ofstream(raw_ / file) << head.str() << '\n';
  }

  const CompareOptions& o_;
  std::ostream& progress_;
  fs::path raw_;
  std::string started_;
  std::vector<std::string> loads_;
};

}  // namespace

int run_compare(const CompareOptions& options, std::ostream& progress) {
  return Runner(options, progress).run();
}

}  // namespace nifhost::reports
