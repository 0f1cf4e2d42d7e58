#!/usr/bin/env bash
# `nifhost compare --quick --out DIR` end to end on the build tree: it must
# write the three files, the report must have its sections, and summary.json
# the contract's keys with numbers where this tree measures them.
#   compare_e2e.sh NIFHOST OUT_DIR PYTHON
set -euo pipefail
nifhost=$1
out=$2
python=${3:-python3}
rm -rf "$out"
start=$(date +%s)
"$nifhost" compare --quick --out "$out" 2>"$out.progress" || {
  echo "compare failed:"; cat "$out.progress"; exit 1; }
echo "compare --quick took $(( $(date +%s) - start )) s"
for f in report.md report.html summary.json; do
  [ -s "$out/$f" ] || { echo "missing $out/$f"; exit 1; }
done
# The progress display names every phase.
for phase in '\[bench ' '\[fault ' '\[beam\]' '\[report\]'; do
  grep -q "$phase" "$out.progress" || { echo "no progress line for $phase"; exit 1; }
done
for heading in "## Conclusion" "## Summary" "## Machine and versions" "## Overhead" \
               "## Isolation matrix" "## Crash-propagation matrix" "## Real libraries" \
               "## Design comparison: the migration points"; do
  grep -qF "$heading" "$out/report.md" || { echo "report.md lacks '$heading'"; exit 1; }
done
"$python" - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert set(s) == {"backends", "beam"}, s.keys()
keys = {"small_call_ns", "limit", "limit_ns", "ratio_to_limit", "binary_1mib_ns", "restart_ms",
        "faults"}
limits = {"inproc": "direct_call", "process": "socketpair", "shm": "spin"}
assert set(s["backends"]) == set(limits), s["backends"].keys()
for name, b in s["backends"].items():
    assert set(b) == keys, (name, b.keys())
    assert b["limit"] == limits[name]
    assert set(b["faults"]) == {"contained", "propagated"}
    for k in keys - {"limit", "faults"}:
        assert b[k] is None or (isinstance(b[k], (int, float)) and b[k] > 0), (name, k, b[k])
assert set(s["beam"]) == {"nif_call_ns", "jiffy_decode_1kb_ns"}
# What this tree always measures: inproc and process calls, the fault matrix,
# the BEAM. A NIF segfault must reach an in-process host and not a worker's.
for name in ("inproc", "process"):
    assert s["backends"][name]["small_call_ns"] is not None, name
assert s["backends"]["inproc"]["faults"]["propagated"] >= 1
assert s["backends"]["process"]["faults"]["propagated"] == 0
assert s["backends"]["process"]["faults"]["contained"] >= 1
assert s["beam"]["nif_call_ns"] is not None
print("summary.json:", json.dumps(s["backends"]["process"]))
PY
echo "ok"
