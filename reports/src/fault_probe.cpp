#include "nifhost/reports/fault_probe.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <ostream>
#include <random>
#include <sstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "json_text.hpp"
#include "nifhost/backends/select.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::reports {

namespace {

using Clock = std::chrono::steady_clock;
using core::Term;

constexpr std::uint64_t kCanary = 0x5AFEC0DE5AFEC0DEull;
constexpr std::uint64_t kWildValue = 0xBADBADBADBADBAD0ull;
constexpr std::size_t kSecretBytes = 32;

// Functions of nh_faults that are not faults.
bool is_fault(std::string_view name) { return name != "ok" && name != "sleep_ms"; }

// The arity each fault is called with (faults not listed take no arguments).
unsigned fault_arity(std::string_view name) {
  if (name == "wild_write" || name == "read_secret") return 2;
  if (name == "stack_overflow" || name == "exit" || name == "raise_signal") return 1;
  return 0;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::uint64_t address_space_in_use() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

std::string describe_outcome(const core::CallResult& r, std::string* kind) {
  if (r.ok()) {
    *kind = "value";
    return core::print_term(r.value());
  }
  if (const auto* e = std::get_if<core::Exception>(&r.outcome)) {
    *kind = "exception";
    return core::print_term(e->klass) + ":" + core::print_term(e->reason);
  }
  *kind = "contained";
  return core::print_term(std::get<core::ContainedFailure>(r.outcome).reason);
}

// Calls into another library, from another thread, for as long as the probe runs.
class Bystander {
 public:
  Bystander(core::Backend& backend, core::FunctionHandle add)
      : backend_(backend), add_(add), thread_([this] { loop(); }) {}
  ~Bystander() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t completed() const { return completed_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  void loop() {
    core::Heap heap;
    core::Caller caller{&heap, core::kNilTerm};
    const Term args[] = {core::make_small(40), core::make_small(2)};
    while (!stop_) {
      auto r = backend_.call(add_, caller, args);
      if (r.ok() && r.value() == core::make_small(42))
        ++completed_;
      else
        ++failed_;
      heap.clear();
      // A short pause keeps the bystander from starving the fault call of
      // the machine's two cores.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  core::Backend& backend_;
  core::FunctionHandle add_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> completed_{0}, failed_{0};
  std::thread thread_;
};

}  // namespace

std::vector<std::string> list_faults(const std::filesystem::path& nif_dir, std::string* error) {
  core::NullHostServices host;
  auto backend = backends::make_backend(core::BackendKind::kInproc, host);
  if (!backend) {
    if (error) *error = backend.error().message();
    return {};
  }
  core::LibrarySpec spec;
  spec.path = nif_dir / "nh_faults.so";
  auto lib = (*backend)->load(spec);
  if (!lib) {
    if (error) *error = lib.error().message();
    return {};
  }
  auto info = (*backend)->info(*lib);
  std::vector<std::string> out;
  if (!info) {
    if (error) *error = info.error().message();
    return out;
  }
  for (const auto& f : info->functions)
    if (is_fault(f.name) && std::find(out.begin(), out.end(), f.name) == out.end())
      out.push_back(f.name);
  return out;
}

int run_fault_probe(const ProbeOptions& options, std::ostream& out) {
  std::mutex out_mutex;
  auto emit = [&](const std::string& line) {
    std::lock_guard lock(out_mutex);
    out << line << std::endl;  // flushed: the next instruction may kill us
  };
  auto setup_failed = [&](const std::string& why) {
    emit(JsonObject().add("stage", "setup_failed").add("error", why).str());
    return 2;
  };

  // No core files from the faults this process is about to suffer.
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);

  // The canary sits between two guard words on the heap; the secret is random
  // bytes the probe never sends anywhere.
  auto canary = std::make_unique<std::uint64_t[]>(3);
  for (std::size_t i = 0; i < 3; ++i) canary[i] = kCanary;
  std::vector<std::uint8_t> secret(kSecretBytes);
  std::random_device rd;
  for (auto& b : secret) b = static_cast<std::uint8_t>(rd());

  core::NullHostServices host;
  auto made = backends::make_backend(options.backend, host);
  if (!made) return setup_failed(made.error().message());
  core::Backend& backend = **made;

  core::LibrarySpec faults_spec;
  faults_spec.path = options.nif_dir / "nh_faults.so";
  faults_spec.call_deadline = options.call_deadline;
  faults_spec.address_space_limit_bytes = options.memory_limit_bytes;
  faults_spec.max_restarts = INT_MAX;
  core::LibrarySpec terms_spec;
  terms_spec.path = options.nif_dir / "nh_terms.so";
  auto faults = backend.load(faults_spec);
  if (!faults) return setup_failed("nh_faults: " + faults.error().message());
  auto terms = backend.load(terms_spec);
  if (!terms) return setup_failed("nh_terms: " + terms.error().message());
  unsigned arity = fault_arity(options.fault);
  auto fault = backend.lookup(*faults, options.fault, arity);
  if (!fault)
    return setup_failed(options.fault + "/" + std::to_string(arity) + ": " +
                        fault.error().message());
  auto ok = backend.lookup(*faults, "ok", 0);
  auto add = backend.lookup(*terms, "add", 2);
  if (!ok || !add) return setup_failed("nh_faults:ok/0 or nh_terms:add/2 missing");

  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  if (!backend.call(*ok, caller, {}).ok())
    return setup_failed("nh_faults:ok/0 failed before the fault");

  std::vector<Term> args;
  if (options.fault == "wild_write") {
    args = {core::make_unsigned(heap, reinterpret_cast<std::uintptr_t>(&canary[1])),
            core::make_unsigned(heap, kWildValue)};
  } else if (options.fault == "read_secret") {
    args = {core::make_unsigned(heap, reinterpret_cast<std::uintptr_t>(secret.data())),
            core::make_small(static_cast<std::int64_t>(secret.size()))};
  } else if (options.fault == "stack_overflow") {
    args = {core::make_small(0)};  // unbounded
  } else if (options.fault == "exit") {
    args = {core::make_small(3)};
  } else if (options.fault == "raise_signal") {
    args = {core::make_small(9)};
  }

  Bystander bystander(backend, *add);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::uint64_t before = bystander.completed();
  emit(JsonObject()
           .add("stage", "ready")
           .add("pid", static_cast<std::int64_t>(::getpid()))
           .add("bystander_calls", before)
           .str());

  if (options.backend == core::BackendKind::kInproc && options.fault == "memory_bomb") {
    // In-process the bomb goes off in this very process: bound it here, as
    // the isolated backends bound their worker, so the machine is not harmed.
    std::uint64_t limit = address_space_in_use() + options.memory_limit_bytes;
    rlimit as{limit, limit};
    ::setrlimit(RLIMIT_AS, &as);
  }

  // While the fault call is out, say every 250 ms whether the bystander moves.
  std::atomic<bool> in_flight{true};
  auto start = Clock::now();
  std::thread watch([&] {
    while (in_flight) {
      for (int i = 0; i < 25 && in_flight; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!in_flight) break;
      emit(JsonObject()
               .add("stage", "waiting")
               .add("elapsed_ms", ms_since(start))
               .add("bystander_calls_during", bystander.completed() - before)
               .str());
    }
  });
  caller.deadline = options.call_deadline;
  core::CallResult r = backend.call(*fault, caller, args);
  double fault_ms = ms_since(start);
  in_flight = false;
  watch.join();
  std::uint64_t during = bystander.completed() - before;

  std::string kind;
  std::string what = describe_outcome(r, &kind);
  bool canary_intact = canary[0] == kCanary && canary[1] == kCanary && canary[2] == kCanary;
  bool leaked = false;
  if (r.ok() && core::is_bitstring(r.value())) {
    auto view = core::bitstring_view(r.value());
    leaked = view.byte_size == secret.size() &&
             std::memcmp(view.data, secret.data(), secret.size()) == 0;
  }
  std::string detail;
  if (const auto* f = std::get_if<core::ContainedFailure>(&r.outcome)) detail = f->detail;

  // Time to the next good call (for an isolated backend, the restart).
  caller.deadline = std::chrono::milliseconds(0);
  auto next_start = Clock::now();
  bool next_ok = false;
  int attempts = 0;
  while (!next_ok && ms_since(next_start) < 5000) {
    ++attempts;
    heap.clear();
    next_ok = backend.call(*ok, caller, {}).ok();
  }
  double next_ms = ms_since(next_start);
  // Does the other library still answer? Up to 500 ms for one more call
  // (a loaded machine can hold a thread back that long).
  std::uint64_t after_mark = bystander.completed();
  auto alive_start = Clock::now();
  while (bystander.completed() == after_mark && ms_since(alive_start) < 500)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bool bystander_alive = bystander.completed() > after_mark;
  bystander.stop();

  emit(JsonObject()
           .add("stage", "returned")
           .add("outcome", kind)
           .add("term", what.substr(0, 400))
           .add("detail", detail.substr(0, 400))
           .add("fault_ms", fault_ms)
           .add("canary_intact", canary_intact)
           .add("secret_leaked", leaked)
           .add("bystander_calls_during", during)
           .add("bystander_failures", bystander.failed())
           .add("bystander_alive_after", bystander_alive)
           .add("next_ok", next_ok)
           .add("next_ok_ms", next_ms)
           .add("next_ok_attempts", static_cast<std::int64_t>(attempts))
           .str());
  out.flush();
  // Skip destructors: after a fault the in-process state may be anything,
  // and the workers go with this process (they watch their parent).
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace nifhost::reports
