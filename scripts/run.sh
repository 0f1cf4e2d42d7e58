#!/usr/bin/env bash
# nifhost's main job: sets up (Debian packages), builds the Release tree and
# runs `nifhost compare`, which benchmarks every backend against the physical
# limits and the real BEAM, runs the fault matrix, and writes the report to
# reports/out/ (report.md, report.html, summary.json).
#   scripts/run.sh [compare options, e.g. --quick or --out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
# Only what compare runs: the command, the worker, the NIF suites and the benchmarks.
cmake --build --preset release -j "${NIFHOST_JOBS:-$(nproc)}" --target \
  nifhost nifhost-worker nif_suites nifhost_bench_calls nifhost_bench_shm nifhost_bench_anchors \
  nifhost_bench_families
build/release/bin/nifhost compare "$@"
echo "report: $(pwd)/reports/out/report.html (and report.md, summary.json)" >&2
