#pragma once
// One cell of the fault matrix, run inside a disposable probe process: the
// probe holds a canary and a secret in its own memory, loads nh_faults and
// nh_terms on one backend, keeps calling nh_terms from another thread, makes
// the fault call (aimed at the canary and the secret where the fault takes an
// address), then checks what survived. It prints JSON lines on stdout as it
// goes, so a probe that dies still leaves what it saw up to then; the parent
// (run_fault_matrix) adds how the process ended.
//
//   nifhost fault-probe --backend process --nif-dir build/nifs wild_write
//   {"stage":"ready",...}  {"stage":"waiting",...}  {"stage":"returned",...}
#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "nifhost/core/backend.hpp"

namespace nifhost::reports {

struct ProbeOptions {
  core::BackendKind backend = core::BackendKind::kInproc;
  std::filesystem::path nif_dir;  // holds nh_faults.so and nh_terms.so
  std::string fault;              // a function of nh_faults
  // Isolated backends: the fault call's deadline (a hung NIF costs this much).
  std::chrono::milliseconds call_deadline{2000};
  // The address space a memory bomb may take: the worker's RLIMIT_AS on
  // isolated backends, the probe's own headroom under inproc.
  std::uint64_t memory_limit_bytes = 512ull << 20;
};

// The functions of nh_faults that are faults (not ok/0 or sleep_ms/1), in the
// library's order, with the arity the probe calls them with. Loads the library
// in-process to read its function table (loading runs no fault).
std::vector<std::string> list_faults(const std::filesystem::path& nif_dir, std::string* error);

// Runs the probe and returns the process exit status (0 when the fault call
// returned, whatever it returned; 2 when the probe could not be set up).
int run_fault_probe(const ProbeOptions& options, std::ostream& out);

}  // namespace nifhost::reports
