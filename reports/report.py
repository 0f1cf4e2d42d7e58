#!/usr/bin/env python3
"""The comparison report: turns what `nifhost compare` measured (RAW_DIR) into
OUT_DIR/report.md, a self-contained OUT_DIR/report.html (charts inlined as
SVG) and OUT_DIR/summary.json. Standard library only; charts by gnuplot.

    report.py --raw reports/out/raw --out reports/out [--gnuplot gnuplot]

RAW_DIR holds:
  benchmarks.json    which nifhost_bench_* executables ran, how they ended
  bench_<exe>.json   Google Benchmark's JSON output of each
  faults.json        the fault matrix: one probe process per (backend, fault)
  beam.json          the real BEAM's timings (reports/beam/beam_side.escript)
  machine.json       machine, versions, load averages during the run

Every figure comes from a row measured in this run; a row that is not there is
shown as missing, never estimated. docs/compare.md explains how to read it.
"""

import argparse
import html
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

BACKENDS = ["inproc", "process", "shm"]
ISOLATED = ["process", "shm"]
# What each backend is held against: the raw mechanism it is built on.
LIMITS = {
    "inproc": ("direct_call", "Limit/direct_call"),
    "process": ("socketpair", "Limit/socketpair/128"),
    "shm": ("spin", "Limit/spin"),
}
ECHO_SIZES = [0, 64, 1024, 65536, 1048576, 16777216]
EXPECTED_BENCHES = ["nifhost_bench_calls", "nifhost_bench_shm", "nifhost_bench_anchors",
                    "nifhost_bench_families"]
# nifhost_bench_families (bench/families_bench.cpp): echo/1 of term shapes by
# element count, jiffy by document size (decimal bytes), and the calls below.
SHAPES = ["list", "tuple", "map", "nested"]
SHAPE_SIZES = [1, 16, 256, 4096]
JSON_SIZES = [100, 1000, 10000, 100000, 1000000]
FAMILY_CALLS = [("nh_resources:new/1", "create a resource (dropped with the caller's heap)"),
                ("nh_resources:get/1", "read a resource"),
                ("nh_resources:keep+release/1", "enif_keep_resource + enif_release_resource"),
                ("nh_messages:send_self/1", "enif_send to the caller"),
                ("nh_sched:countdown/16", "a NIF that yields 16 times (enif_schedule_nif)")]
FAMILY_CALL_RE = re.compile(r"^(nh_terms:echo/(%s)_\d+|jiffy:(decode|encode)/(%s)|%s)$" % (
    "|".join(SHAPES), "|".join(str(n) for n in JSON_SIZES),
    "|".join(re.escape(c) for c, _ in FAMILY_CALLS)))
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
MEMORY_FAULTS = ["wild_write", "read_secret", "scribble_shm"]


# ---------------------------------------------------------------- measured rows

class Row:
    """One measured row: per-repetition times in ns (median, spread, n)."""

    def __init__(self, name, source, values=None, median=None, lo=None, hi=None, error=None,
                 counters=None):
        self.name = name
        self.source = source
        self.values = values or []
        self.error = error
        self.counters = counters or {}
        if self.values:
            self.median = statistics.median(self.values)
            self.lo, self.hi = min(self.values), max(self.values)
        else:
            self.median, self.lo, self.hi = median, lo, hi

    @property
    def n(self):
        return len(self.values)

    def spread(self):
        """(max - min) / median: how much the repetitions disagree."""
        if self.values and len(self.values) < 2:
            return None
        if self.median in (None, 0) or self.lo is None or self.hi is None:
            return None
        return (self.hi - self.lo) / self.median


def normalize_name(name):
    # Google Benchmark appends how a row was run ("/iterations:1",
    # "/manual_time", "/real_time"); the row is the same whatever the timer.
    name = re.sub(r"/(iterations:\d+|repeats:\d+|min_time:[0-9.]+|manual_time|real_time)"
                  r"(?=/|$)", "", name)
    # RegisterBenchmark("X/64")->Arg(64) is reported as "X/64/64".
    m = re.match(r"^(.*)/(\d+)/\2$", name)
    if m:
        name = m.group(1) + "/" + m.group(2)
    m = re.match(r"^(.*)/(\d+)(KiB|MiB)$", name)
    if m:
        factor = 1024 if m.group(3) == "KiB" else 1024 * 1024
        name = m.group(1) + "/" + str(int(m.group(2)) * factor)
    return name


def load_json(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_benchmarks(raw):
    """-> (rows by name, executables, contexts)"""
    rows, contexts = {}, {}
    index = load_json(os.path.join(raw, "benchmarks.json")) or {}
    executables = index.get("executables", [])
    for exe in executables:
        if not exe.get("found") or not exe.get("json"):
            continue
        data = load_json(os.path.join(raw, exe["json"]))
        if not data:
            exe["unreadable"] = True
            continue
        contexts[exe["name"]] = data.get("context", {})
        per_name = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            name = normalize_name(b.get("run_name") or b.get("name", "?"))
            entry = per_name.setdefault(name, {"values": [], "error": None, "counters": {}})
            if b.get("error_occurred"):
                entry["error"] = b.get("error_message", "error")
                continue
            scale = UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
            entry["values"].append(float(b["real_time"]) * scale)
            for k in ("items_per_second", "bytes_per_second"):
                if k in b:
                    entry["counters"][k] = b[k]
        for name, e in per_name.items():
            rows[name] = Row(name, exe["name"], e["values"], error=None if e["values"] else
                             e["error"], counters=e["counters"])
    return rows, executables, contexts


def load_beam(raw, rows):
    """beam.json (reports/beam/beam_side.escript), then beam_bench.json
    (bench/beam_side.escript, the benchmarks' own BEAM side), which wins where
    both time a row: its arguments are exactly nifhost_bench_calls'."""
    info = {"available": False, "errors": []}
    for file, source in (("beam.json", "erl (reports)"), ("beam_bench.json", "erl (bench)")):
        data = load_json(os.path.join(raw, file))
        if not data:
            continue
        for r in data.get("rows", []):
            name = normalize_name(r["name"])
            rows[name] = Row(name, source, median=r.get("median_ns"), lo=r.get("min_ns"),
                             hi=r.get("max_ns"))
        info.update(available=True, otp_release=data.get("otp_release"), erts=data.get("erts"))
        info["errors"] += data.get("errors", [])
    return info


def med(rows, name):
    r = rows.get(name)
    return r.median if r is not None else None


# ---------------------------------------------------------------- fault matrix

def parse_probe_lines(text):
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a line cut short by the probe's death
    return out


def classify_cell(cell, probe_timeout_ms=None):
    """What happened to the host in one probe: verdict is propagated, contained,
    survived (the fault returned a value and the host is intact) or not_run."""
    lines = parse_probe_lines(cell.get("stdout"))
    stages = {l.get("stage"): l for l in lines}
    waiting = [l for l in lines if l.get("stage") == "waiting"]
    during_max = max([l.get("bystander_calls_during", 0) for l in waiting], default=0)
    ended = cell.get("ended")
    res = {"backend": cell.get("backend"), "fault": cell.get("fault"), "next_ok_ms": None,
           "fault_ms": None, "bystander": None, "bystander_calls": None, "error": None}
    ret = stages.get("returned")
    if "setup_failed" in stages:
        res.update(verdict="not_run", host="probe could not start: " +
                   str(stages["setup_failed"].get("error")))
        return res
    if ended == "spawn_failed":
        res.update(verdict="not_run", host="probe could not be started: " + str(cell.get("error")))
        return res
    if ended == "timeout":
        secs = (probe_timeout_ms or cell.get("elapsed_ms") or 0) / 1000.0
        res.update(verdict="propagated", host="hung (killed after %.1f s)" % secs)
        res["bystander"] = during_max > 0
        res["bystander_calls"] = during_max
        return res
    if ended == "signaled":
        res.update(verdict="propagated", host="died: " + str(cell.get("signal")))
        res["bystander"] = False
        res["bystander_calls"] = during_max
        return res
    if ret is None:
        status = cell.get("status")
        res.update(verdict="propagated", host="died: exit status %s" % status)
        res["bystander"] = False
        res["bystander_calls"] = during_max
        return res
    res["fault_ms"] = ret.get("fault_ms")
    res["next_ok_ms"] = ret.get("next_ok_ms") if ret.get("next_ok") else None
    # A fault call may be over before the other thread's next call: what
    # counts is that the other library answered afterwards and never failed.
    res["bystander"] = bool(ret.get("bystander_alive_after")) and not ret.get(
        "bystander_failures", 0)
    res["bystander_calls"] = ret.get("bystander_calls_during")
    res["bystander_failures"] = ret.get("bystander_failures", 0)
    term = ret.get("term", "")
    if not ret.get("canary_intact", True):
        res.update(verdict="propagated", host="canary corrupted (call returned %s)" % term)
    elif ret.get("secret_leaked"):
        res.update(verdict="propagated", host="secret leaked to the caller")
    elif ret.get("outcome") == "contained":
        m = re.match(r"^\{nifhost,[^,]*,[^,]*,(.*)\}$", term)
        res.update(verdict="contained", host="error " + (m.group(1) if m else term))
    elif ret.get("outcome") == "exception":
        res.update(verdict="contained", host="exception " + term)
    else:
        res.update(verdict="survived", host="returned " + term)
    if not ret.get("next_ok", False):
        res["host"] += "; no good call within 5 s after it"
    return res


def load_faults(raw):
    data = load_json(os.path.join(raw, "faults.json"))
    if not data:
        return None
    cells = [classify_cell(c, data.get("probe_timeout_ms")) for c in data.get("cells", [])]
    return {"deadline_ms": data.get("deadline_ms"), "probe_timeout_ms": data.get("probe_timeout_ms"),
            "memory_limit_mib": data.get("memory_limit_mib"), "backends": data.get("backends", []),
            "faults": data.get("faults", []), "cells": cells, "error": data.get("error")}


def fault_counts(faults, backend):
    if not faults or backend not in faults["backends"]:
        return None
    cells = [c for c in faults["cells"] if c["backend"] == backend]
    if not cells:
        return None
    return {"contained": sum(1 for c in cells if c["verdict"] == "contained"),
            "propagated": sum(1 for c in cells if c["verdict"] == "propagated")}


# ---------------------------------------------------------------- summary

def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def build_summary(rows, faults):
    backends = {}
    for b in BACKENDS:
        limit, limit_row = LIMITS[b]
        small = med(rows, "Call/%s/nh_terms:noop/0" % b)
        limit_ns = med(rows, limit_row)
        restart = med(rows, "Restart/%s/nh_faults:segfault+ok" % b)
        counts = fault_counts(faults, b)
        backends[b] = {
            "small_call_ns": small,
            "limit": limit,
            "limit_ns": limit_ns,
            "ratio_to_limit": ratio(small, limit_ns),
            "binary_1mib_ns": med(rows, "Call/%s/nh_terms:echo/1048576" % b),
            "restart_ms": restart / 1e6 if (restart is not None and b != "inproc") else None,
            "faults": {"contained": counts["contained"] if counts else None,
                       "propagated": counts["propagated"] if counts else None},
        }
    beam = {"nif_call_ns": med(rows, "Call/beam/nh_terms:noop/0"),
            "jiffy_decode_1kb_ns": med(rows, "Call/beam/jiffy:decode/1024")}
    return {"backends": backends, "beam": beam}


def fmt_ns(v):
    if v is None:
        return "missing"
    if v >= 1e9:
        return "%.2f s" % (v / 1e9)
    if v >= 1e6:
        return "%.2f ms" % (v / 1e6)
    if v >= 1e3:
        return "%.2f µs" % (v / 1e3)
    return "%.1f ns" % v


def fmt_x(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f×" % v
    if v >= 10:
        return "%.1f×" % v
    return "%.2f×" % v


def fmt_ms(v):
    return "—" if v is None else ("%.1f ms" % v if v < 100 else "%.0f ms" % v)


def conclusion(summary, faults_by_backend=None, real=None):
    """Sentences computed from the figures; nothing here is fixed in advance.
    faults_by_backend: {backend: [fault names that propagated]} (optional);
    real: a sentence on a real library measured on the backends (optional)."""
    b = summary["backends"]
    beam = summary["beam"]
    out = []
    faults_by_backend = faults_by_backend or {}
    inproc = b["inproc"]["small_call_ns"]
    iso = [(k, b[k]["small_call_ns"]) for k in ISOLATED if b[k]["small_call_ns"] is not None]
    iso.sort(key=lambda kv: kv[1])
    if iso:
        best, best_ns = iso[0]
        s = "The cheapest isolated design for a small call is %s at %s" % (best, fmt_ns(best_ns))
        if inproc:
            s += ", %s the in-process call (%s)" % (fmt_x(best_ns / inproc), fmt_ns(inproc))
        if len(iso) > 1:
            other, other_ns = iso[1]
            s += "; %s costs %s, %s as much as %s" % (other, fmt_ns(other_ns),
                                                    fmt_x(other_ns / best_ns), best)
        out.append(s + ".")
    elif inproc is not None:
        out.append("Only the in-process design was measured (%s per small call); the isolated "
                   "designs' rows are missing." % fmt_ns(inproc))
    for k in ISOLATED:
        r = b[k]["ratio_to_limit"]
        if r is None:
            continue
        floor = b[k]["limit_ns"]
        above = b[k]["small_call_ns"] - floor
        if 0.9 <= r < 1:
            out.append("%s's small call (%s) is as fast as its raw %s (%s) within this run's "
                       "noise: it runs at the floor of its mechanism." % (
                           k, fmt_ns(b[k]["small_call_ns"]), b[k]["limit"], fmt_ns(floor)))
            continue
        if r < 1:
            out.append("%s's small call (%s) beat its raw %s anchor (%s) in this run: the anchor "
                       "suffered more from the machine's load than the backend did, so this run "
                       "cannot say how close %s is to its floor." % (
                           k, fmt_ns(b[k]["small_call_ns"]), b[k]["limit"], fmt_ns(floor), k))
            continue
        verdict = ("close to the floor of its mechanism" if r < 2 else
                   "well above the floor of its mechanism" if r >= 4 else
                   "within a small factor of the floor of its mechanism")
        out.append("%s is %s its raw %s (%s), %s: %s per call is protocol, dispatch and "
                   "copying." % (k, fmt_x(r), b[k]["limit"], fmt_ns(floor), verdict, fmt_ns(above)))
    big = [(k, b[k]["binary_1mib_ns"]) for k in BACKENDS if b[k]["binary_1mib_ns"] is not None]
    if len(big) > 1:
        big.sort(key=lambda kv: kv[1])
        out.append("For a 1 MiB binary there and back %s is fastest (%s); %s." % (
            big[0][0], fmt_ns(big[0][1]), ", ".join("%s takes %s (%s)" % (
                k, fmt_ns(v), fmt_x(v / big[0][1])) for k, v in big[1:])))
    contained_all = []
    for k in BACKENDS:
        f = b[k]["faults"]
        if f["contained"] is None:
            continue
        bad = faults_by_backend.get(k, [])
        if f["propagated"] == 0:
            contained_all.append(k)
            out.append("%s: no fault reached the host (%d contained as errors)." % (
                k, f["contained"]))
        else:
            out.append("%s: %d fault%s reached the host%s; %d contained." % (
                k, f["propagated"], "" if f["propagated"] == 1 else "s",
                (" (" + ", ".join(bad) + ")") if bad else "", f["contained"]))
    if real:
        out.append(real)
    restarts = [(k, b[k]["restart_ms"]) for k in ISOLATED if b[k]["restart_ms"] is not None]
    if restarts:
        out.append("A worker crash costs %s until the next good call." % "; ".join(
            "%s %s" % (k, fmt_ms(v)) for k, v in restarts))
    if beam["nif_call_ns"] is not None and inproc is not None:
        out.append("The real BEAM calls the same NIF in %s; nifhost's in-process call is %s that." %
                   (fmt_ns(beam["nif_call_ns"]), fmt_x(inproc / beam["nif_call_ns"])))
    safe = [(k, ns) for k, ns in iso if k in contained_all]
    if safe and inproc is not None:
        k, ns = safe[0]
        extra = ns - inproc
        line = ("Choosing %s, isolation adds %s per call: a NIF that runs at least %s pays under "
                "10%% for it" % (k, fmt_ns(extra), fmt_ns(10 * extra)))
        j = beam["jiffy_decode_1kb_ns"]
        if j is not None:
            line += "; jiffy decoding 1 KiB takes %s in the BEAM, so %s" % (
                fmt_ns(j), "it is such a NIF" if j >= 10 * extra else
                "isolation would cost it %s of its time" % ("%.0f%%" % (100 * extra / j)))
        out.append(line + ".")
    elif iso and not contained_all:
        out.append("No isolated design contained every fault in this run: see the "
                   "crash-propagation matrix before relying on one.")
    return out


# ---------------------------------------------------------------- charts (gnuplot)

class Charts:
    def __init__(self, out_dir, gnuplot):
        self.dir = os.path.join(out_dir, "charts")
        os.makedirs(self.dir, exist_ok=True)
        self.gnuplot = gnuplot
        self.made = []
        self.problems = []

    def _run(self, name, script):
        path = os.path.join(self.dir, name + ".gp")
        with open(path, "w") as f:
            f.write('set terminal svg size 760,430 dynamic noenhanced font "sans,11" '
                    'background "white"\n')
            f.write('set output "%s.svg"\n' % name)
            f.write("set grid\nset key outside right top\n")
            f.write(script)
        exe = self.gnuplot if self.gnuplot else "gnuplot"
        if shutil.which(exe) is None:
            self.problems.append("gnuplot not found (%s): chart %s not drawn" % (exe, name))
            return None
        try:
            p = subprocess.run([exe, name + ".gp"], cwd=self.dir, capture_output=True, text=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.problems.append("gnuplot failed on %s: %s" % (name, e))
            return None
        svg = os.path.join(self.dir, name + ".svg")
        if p.returncode != 0 or not os.path.exists(svg):
            self.problems.append("gnuplot failed on %s: %s" % (name, p.stderr.strip()[:300]))
            return None
        self.made.append(name)
        return "charts/%s.svg" % name

    def series_lines(self, name, title, xlabel, ylabel, series, logx=True, logy=True):
        """series: [(label, [(x, y)])] as lines with points."""
        series = [(l, pts) for l, pts in series if pts]
        if not series:
            return None
        data = os.path.join(self.dir, name + ".dat")
        with open(data, "w") as f:
            for label, pts in series:
                f.write("# %s\n" % label)
                for x, y in pts:
                    f.write("%r %r\n" % (x, y))
                f.write("\n\n")
        plots = ", ".join('"%s.dat" index %d using 1:2 with linespoints lw 2 title "%s"' % (
            name, i, label.replace('"', "'")) for i, (label, _) in enumerate(series))
        script = 'set title "%s"\nset xlabel "%s"\nset ylabel "%s"\n' % (title, xlabel, ylabel)
        if logx:
            script += "set logscale x 2\nset xtics 1,16\nset format x \"%.0b%B\"\n"
        if logy:
            script += "set logscale y 10\n"
        return self._run(name, script + "plot " + plots + "\n")

    def bars(self, name, title, ylabel, groups, columns, logy=True):
        """groups: [(group label, [value per column or None])] as clustered bars."""
        groups = [(g, vals) for g, vals in groups if any(v is not None for v in vals)]
        if not groups:
            return None
        data = os.path.join(self.dir, name + ".dat")
        with open(data, "w") as f:
            f.write("group " + " ".join('"%s"' % c for c in columns) + "\n")
            for g, vals in groups:
                f.write('"%s" ' % g + " ".join("%r" % v if v is not None else "NaN"
                                                 for v in vals) + "\n")
        script = ('set title "%s"\nset ylabel "%s"\nset style data histograms\n'
                  "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
                  "set xtics rotate by -30\nset datafile missing \"NaN\"\n" % (title, ylabel))
        if logy:
            script += "set logscale y 10\n"
        plots = ", ".join('"%s.dat" using %d:xtic(1) title columnhead(%d)' % (name, i + 2, i + 2)
                          for i in range(len(columns)))
        return self._run(name, script + "plot " + plots + "\n")


# ---------------------------------------------------------------- document model

class Doc:
    """Blocks rendered both as Markdown and as HTML."""

    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def ul(self, items):
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, headers, rows):
        self.blocks.append(("table", headers, rows))

    def chart(self, title, path):
        self.blocks.append(("chart", title, path))

    def pre(self, text):
        self.blocks.append(("pre", text))

    def markdown(self):
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "ul":
                out.append("\n".join("- " + i for i in b[1]))
            elif b[0] == "table":
                cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
                lines = ["| " + " | ".join(cell(h) for h in b[1]) + " |",
                         "|" + "---|" * len(b[1])]
                lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in b[2]]
                out.append("\n".join(lines))
            elif b[0] == "chart":
                out.append("![%s](%s)" % (b[1], b[2]) if b[2] else "*Chart: %s — no data.*" % b[1])
            elif b[0] == "pre":
                out.append("```\n" + b[1] + "\n```")
        return "\n\n".join(out) + "\n"

    def html(self, out_dir, title):
        body = []
        for b in self.blocks:
            if b[0] == "h":
                anchor = re.sub(r"[^a-z0-9]+", "-", b[2].lower()).strip("-")
                body.append('<h%d id="%s">%s</h%d>' % (b[1], anchor, html.escape(b[2]), b[1]))
            elif b[0] == "p":
                body.append("<p>%s</p>" % inline_html(b[1]))
            elif b[0] == "ul":
                body.append("<ul>%s</ul>" % "".join("<li>%s</li>" % inline_html(i) for i in b[1]))
            elif b[0] == "table":
                head = "".join("<th>%s</th>" % html.escape(str(h)) for h in b[1])
                rows = "".join("<tr>%s</tr>" % "".join(
                    "<td>%s</td>" % html.escape(str(v)) for v in r) for r in b[2])
                body.append("<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
                    head, rows))
            elif b[0] == "chart":
                if b[2]:
                    with open(os.path.join(out_dir, b[2]), encoding="utf-8") as f:
                        svg = f.read()
                    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
                    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
                    body.append('<figure class="chart">%s<figcaption>%s</figcaption></figure>' % (
                        svg.strip(), html.escape(b[1])))
                else:
                    body.append("<p><em>Chart: %s — no data.</em></p>" % html.escape(b[1]))
            elif b[0] == "pre":
                body.append("<pre>%s</pre>" % html.escape(b[1]))
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
                 "color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
                 "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
                 "th{background:#eee}figure.chart{margin:1em 0}figure.chart svg{max-width:100%;"
                 "height:auto}code{background:#f4f4f4;padding:0 3px}pre{background:#f4f4f4;"
                 "padding:8px;overflow-x:auto}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>%s</title><style>%s</style></head><body>\n%s\n</body></html>\n" % (
                    html.escape(title), style, "\n".join(body)))


def inline_html(text):
    """`code` and **bold** from the Markdown text, everything else escaped."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return t


# ---------------------------------------------------------------- the report

def limit_for(rows, backend, payload):
    """The raw mechanism's time for a call moving `payload` bytes each way."""
    if backend == "inproc":
        return med(rows, "Limit/direct_call")
    if backend == "process":
        return med(rows, "Limit/socketpair/%d" % payload) if payload else med(
            rows, "Limit/socketpair/128")
    spin = med(rows, "Limit/spin")
    if spin is None:
        return None
    if payload == 0:
        return spin
    memcpy = med(rows, "Limit/memcpy/%d" % payload)
    return None if memcpy is None else spin + 2 * memcpy


def build_report(raw, out_dir, gnuplot):
    rows, executables, contexts = load_benchmarks(raw)
    beam = load_beam(raw, rows)
    faults = load_faults(raw)
    machine = load_json(os.path.join(raw, "machine.json")) or {}
    summary = build_summary(rows, faults)
    charts = Charts(out_dir, gnuplot)
    doc = Doc()
    measured = [b for b in BACKENDS if any(n.startswith("Call/%s/" % b) for n in rows) or (
        faults and b in faults["backends"])]

    doc.h(1, "nifhost: what isolating NIFs costs, what it buys")
    mode = machine.get("mode", "?")
    doc.p("A %s run of `nifhost compare` from %s to %s. Every figure is a median over the run's "
          "repetitions (%s); a row that was not measured is shown as missing." % (
              mode, machine.get("started", "?"), machine.get("finished", "?"),
              "one repetition: --quick" if mode == "quick" else "five repetitions"))

    # ---- conclusion first: it is what a reader came for
    propagated = {}
    if faults:
        for c in faults["cells"]:
            if c["verdict"] == "propagated":
                propagated.setdefault(c["backend"], []).append(c["fault"])
    doc.h(2, "Conclusion")
    doc.p("Computed from this run's numbers (see the sections below for each figure).")
    doc.ul(conclusion(summary, propagated, real_library_line(rows)))

    # ---- summary table
    doc.h(2, "Summary")
    srows = []
    for b in BACKENDS:
        s = summary["backends"][b]
        srows.append([b, fmt_ns(s["small_call_ns"]), "%s (%s)" % (s["limit"], fmt_ns(s["limit_ns"])),
                      fmt_x(s["ratio_to_limit"]), fmt_ns(s["binary_1mib_ns"]),
                      fmt_ms(s["restart_ms"]) if b != "inproc" else "—",
                      "—" if s["faults"]["contained"] is None else str(s["faults"]["contained"]),
                      "—" if s["faults"]["propagated"] is None else str(s["faults"]["propagated"])])
    doc.table(["backend", "small call", "limit", "ratio to limit", "1 MiB binary",
               "restart", "faults contained", "faults propagated"], srows)
    doc.p("The real BEAM: a NIF call (nh_terms:noop/0) %s; jiffy decoding 1 KiB %s." % (
        fmt_ns(summary["beam"]["nif_call_ns"]), fmt_ns(summary["beam"]["jiffy_decode_1kb_ns"])))

    # ---- machine
    doc.h(2, "Machine and versions")
    loads = machine.get("load", [])
    mrows = [["kernel", "%s %s %s" % (machine.get("sysname", "?"), machine.get("release", "?"),
                                      machine.get("machine", ""))],
             ["CPU", "%s (%s logical CPUs)" % (machine.get("cpu", "?"), machine.get("cpus", "?"))],
             ["compiler", machine.get("compiler", "?")],
             ["build type", machine.get("build_type", "?")],
             ["nifhost", machine.get("nifhost_version", "?")],
             ["OTP", ("OTP %s, erts %s" % (beam.get("otp_release"), beam.get("erts")))
              if beam.get("available") else "missing (the BEAM side did not run)"]]
    for name, ctx in sorted(contexts.items()):
        mrows.append(["Google Benchmark (%s)" % name, "library build %s, %s CPUs at %s MHz" % (
            ctx.get("library_build_type", "?"), ctx.get("num_cpus", "?"),
            ctx.get("mhz_per_cpu", "?"))])
    doc.table(["what", "value"], mrows)
    if loads:
        doc.p("Load average during the run (other work on the machine shows up here, and in the "
              "spread columns):")
        doc.table(["phase", "time", "1 min", "5 min", "15 min"],
                  [[l.get("phase"), l.get("time"), l.get("load1"), l.get("load5"), l.get("load15")]
                   for l in loads])

    # ---- overhead tables
    doc.h(2, "Overhead")
    doc.p("Each NIF call on each backend: median, spread ((max − min) / median over the "
          "repetitions), and its ratio to the same call in-process, to the raw mechanism for the "
          "same payload (inproc: a direct C call; process: a socketpair round trip carrying the "
          "payload; shm: a spinning round trip plus a memcpy of the payload each way) and to the "
          "same call in the real BEAM.")
    calls = sorted({n.split("/", 2)[2] for n in rows if n.startswith("Call/") and
                    n.split("/")[1] in BACKENDS and "threads:" not in n and
                    not FAMILY_CALL_RE.match(n.split("/", 2)[2])},
                   key=call_sort_key)
    orows = []
    for call in calls:
        payload = payload_of(call)
        base = med(rows, "Call/inproc/%s" % call)
        beam_ns = med(rows, "Call/beam/%s" % call)
        # The raw limits are defined for the calls that move a known payload.
        has_limit = re.match(r"^nh_terms:(noop/0|add/2|echo/\d+)$", call) is not None
        core_call = re.match(r"^nh_terms:(noop/0|add/2|echo/\d+)$", call) is not None
        for b in measured:
            r = rows.get("Call/%s/%s" % (b, call))
            if r is None:
                # A row some suite measures on one backend only is not missing
                # elsewhere; the nh_terms calls are measured on every backend.
                if core_call:
                    orows.append([call, b, "missing", "", "", "", ""])
                continue
            if r.median is None:
                orows.append([call, b, "error: %s" % (r.error or "?"), "", "", "", ""])
                continue
            sp = r.spread()
            orows.append([call, b, fmt_ns(r.median), "—" if sp is None else "%.0f%%" % (100 * sp),
                          fmt_x(ratio(r.median, base)),
                          fmt_x(ratio(r.median, limit_for(rows, b, payload)))
                          if has_limit else "—",
                          fmt_x(ratio(r.median, beam_ns))])
    if orows:
        doc.table(["call", "backend", "median", "spread", "÷ inproc", "÷ raw limit", "÷ BEAM"],
                  orows)
    else:
        doc.p("No call rows were measured (the benchmark executables are missing).")
    lat = []
    for b in measured:
        pts = [(max(n, 1), med(rows, "Call/%s/nh_terms:echo/%d" % (b, n))) for n in ECHO_SIZES]
        lat.append(("nifhost " + b, [(x, y) for x, y in pts if y is not None]))
    for lname in ("socketpair", "pipe", "message_queue"):
        pts = [(max(n, 1), med(rows, "Limit/%s/%d" % (lname, n))) for n in ECHO_SIZES]
        lat.append(("raw " + lname, [(x, y) for x, y in pts if y is not None]))
    pts = [(max(n, 1), med(rows, "Call/beam/nh_terms:echo/%d" % n)) for n in ECHO_SIZES]
    lat.append(("BEAM", [(x, y) for x, y in pts if y is not None]))
    doc.chart("Latency against payload size (binary echo there and back; log scales; 0 B drawn "
              "at 1 B)", charts.series_lines("latency", "Binary echo: latency against payload",
                                             "payload (bytes)", "time per call (ns)", lat))
    groups = []
    for b in measured:
        s = summary["backends"][b]
        big_limit = limit_for(rows, b, 1048576)
        groups.append((b, [s["ratio_to_limit"], ratio(s["binary_1mib_ns"], big_limit)]))
    doc.chart("Overhead as a ratio to the physical limit of each backend's mechanism",
              charts.bars("overhead", "Ratio to the raw mechanism (1 = no overhead)",
                          "× the limit", groups, ["small call", "1 MiB binary"]))

    doc.h(3, "Anchors: the physical limits, measured in the same run")
    lrows = [[n, fmt_ns(r.median), "—" if r.spread() is None else "%.0f%%" % (100 * r.spread()),
              r.source] for n, r in sorted(rows.items(), key=lambda kv: call_sort_key(kv[0]))
             if n.startswith("Limit/") and r.median is not None]
    doc.table(["anchor", "median", "spread", "measured by"], lrows) if lrows else doc.p(
        "No anchor rows were measured.")

    # ---- concurrency
    doc.h(3, "Throughput against concurrent callers")
    tp = {}
    for n, r in rows.items():
        m = re.match(r"^(Callers|Call)/(\w+)/nh_terms:noop/0/.*threads:(\d+)", n)
        if m and r.median and m.group(2) in BACKENDS:
            key = (m.group(2), int(m.group(3)))
            # Google Benchmark reports a threaded row's real time as wall time
            # over the iterations of all threads together: 1 / time is the
            # throughput of all callers.
            if m.group(1) == "Callers" or key not in tp:
                tp[key] = 1e9 / r.median
    series = []
    trows = []
    for b in measured:
        pts = sorted((t, v) for (bb, t), v in tp.items() if bb == b)
        series.append((b, pts))
        for t, v in pts:
            trows.append([b, t, "%.0f calls/s" % v])
    doc.chart("Throughput (calls per second, all callers together) against callers",
              charts.series_lines("throughput", "noop/0 throughput against concurrent callers",
                                  "callers", "calls per second", series, logx=False, logy=True))
    if trows:
        doc.table(["backend", "callers", "throughput"], trows)

    # ---- isolation and crash propagation
    doc.h(2, "Isolation matrix")
    if not faults:
        doc.p("The fault matrix did not run.")
    else:
        doc.p("Each cell ran in a probe process of its own that held a canary and a secret in its "
              "memory: `wild_write` aims at the canary, `read_secret` at the secret (by their "
              "addresses in the probe), `scribble_shm` at any nifhost shared segment it finds. "
              "The matrix reports what happened; it assumes nothing.")
        by = {(c["backend"], c["fault"]): c for c in faults["cells"]}
        irows = []
        for f in faults["faults"]:
            irows.append([f] + [short_verdict(by.get((b, f))) for b in faults["backends"]])
        doc.table(["fault"] + faults["backends"], irows)
        doc.h(2, "Crash-propagation matrix")
        doc.p("What happened to the host, the time to the next good call into the faulting "
              "library (for an isolated backend: the worker's restart), and whether calls into "
              "another library (nh_terms:add/2, from another thread) kept completing while the "
              "fault happened. Per-call deadline %s ms; the probe is killed after %s ms; memory "
              "bombs run under a %s MiB address-space limit." % (
                  faults["deadline_ms"], faults["probe_timeout_ms"], faults["memory_limit_mib"]))
        crows = []
        for b in faults["backends"]:
            for f in faults["faults"]:
                c = by.get((b, f))
                if c is None:
                    crows.append([b, f, "missing", "", "", ""])
                    continue
                if c["bystander"] is None:
                    bys = "—"
                elif c["bystander"]:
                    bys = "yes (%s calls during the fault)" % c["bystander_calls"]
                elif c.get("bystander_failures"):
                    bys = "no (%s calls failed)" % c["bystander_failures"]
                else:
                    bys = "no (%s calls during the fault, then none)" % c["bystander_calls"] \
                        if c["verdict"] != "propagated" else "no (died with the host)"
                crows.append([b, f, c["verdict"], c["host"], fmt_ms(c["next_ok_ms"]), bys])
        doc.table(["backend", "fault", "verdict", "what happened to the host",
                   "next good call", "other library kept working"], crows)
        rec_groups = []
        iso_b = [b for b in faults["backends"] if b != "inproc"]
        for f in faults["faults"]:
            rec_groups.append((f, [by[(b, f)]["next_ok_ms"] if (b, f) in by else None
                                   for b in iso_b]))
        doc.chart("Crash recovery: time from the fault call's end to the next good call (ms)",
                  charts.bars("recovery", "Time to the next good call after each fault",
                              "milliseconds", rec_groups, iso_b, logy=True)
                  if iso_b else None)
        rrows = [[b, fmt_ms(summary["backends"][b]["restart_ms"])] for b in ISOLATED
                 if b in measured]
        if rrows:
            doc.p("Restart benchmark (a segfault plus the next call, which restarts the worker), "
                  "median:")
            doc.table(["backend", "crash + restart + call"], rrows)

    # ---- real libraries
    doc.h(2, "Real libraries")
    doc.p("Debian's unmodified jiffy, fast_xml and stringprep NIFs. BEAM rows time the "
          "library's Erlang API inside erl (its Erlang wrapper included); nifhost rows call the "
          "NIF on each backend where a benchmark measures it.")
    real = sorted({n.split("/", 2)[2] for n in rows if n.startswith("Call/") and
                   re.match(r"^Call/\w+/(jiffy|fxml|stringprep)", n)}, key=call_sort_key)
    # jiffy by size has its own table below; here only the sizes the BEAM timed too.
    real = [c for c in real if not FAMILY_CALL_RE.match(c) or "Call/beam/" + c in rows]
    rl = []
    for call in real:
        rl.append([call, fmt_ns(med(rows, "Call/beam/" + call))] +
                  [fmt_ns(med(rows, "Call/%s/%s" % (b, call))) for b in measured])
    if rl:
        doc.table(["call", "BEAM"] + measured, rl)
    else:
        doc.p("No real-library rows were measured.")
    if beam.get("errors"):
        doc.ul(["BEAM side: " + e for e in beam["errors"]])

    # ---- families: shapes, jiffy by size, resources/messages/yielding, load time
    families_section(doc, rows, charts, measured)

    # ---- design comparison
    doc.h(2, "Design comparison: the migration points")
    design_section(doc, rows, summary, faults)

    # ---- what is missing
    doc.h(2, "What was not measured")
    missing = []
    found = {e["name"]: e for e in executables}
    for e in EXPECTED_BENCHES:
        if e not in found or not found[e].get("found"):
            missing.append("benchmark executable %s: not built" % e)
    for e in executables:
        if e.get("found") and e.get("ended") not in (None, "exited"):
            missing.append("%s ended %s %s" % (e["name"], e.get("ended"), e.get("signal", "")))
        elif e.get("found") and e.get("status"):
            missing.append("%s exited with status %s" % (e["name"], e.get("status")))
    for name in expected_rows(measured):
        if name not in rows or rows[name].median is None:
            missing.append("row %s" % name + (": %s" % rows[name].error if name in rows and
                                              rows[name].error else ""))
    if not beam.get("available"):
        missing.append("the BEAM side (beam.json)")
    if not faults:
        missing.append("the fault matrix (faults.json)")
    missing += charts.problems
    doc.ul(missing) if missing else doc.p("Nothing: every expected row was measured.")

    doc.h(2, "Every measured row")
    arows = [[n, fmt_ns(r.median), fmt_ns(r.lo), fmt_ns(r.hi), r.n or "", r.source]
             for n, r in sorted(rows.items(), key=lambda kv: call_sort_key(kv[0]))]
    doc.table(["row", "median", "min", "max", "repetitions", "from"], arows)

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(doc.markdown())
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(doc.html(out_dir, "nifhost comparison report"))
    return summary, charts


def families_section(doc, rows, charts, measured):
    """nifhost_bench_families' rows, one table per family (missing rows shown as such)."""
    doc.h(2, "Benchmark families")
    if not any(FAMILY_CALL_RE.match(n.split("/", 2)[2]) for n in rows
               if n.startswith("Call/") and n.count("/") >= 2) and \
            not any(n.startswith("Load/") for n in rows):
        doc.p("Not measured (nifhost_bench_families did not run).")
        return

    def cell(name):
        r = rows.get(name)
        if r is None:
            return "missing"
        return fmt_ns(r.median) if r.median is not None else "error: %s" % (r.error or "?")

    doc.h(3, "Term shapes")
    doc.p("nh_terms:echo/1 of a list, a tuple or a map of N small integers, or a list of N "
          "records {I, <<\"rec\">>, [I, I+1], #{k => I}}, there and back.")
    doc.table(["term"] + measured,
              [["%s_%d" % (k, n)] + [cell("Call/%s/nh_terms:echo/%s_%d" % (b, k, n))
                                     for b in measured]
               for k in SHAPES for n in SHAPE_SIZES])

    doc.h(3, "Real libraries: jiffy by size")
    doc.p("Debian's jiffy.so decoding a JSON document of the given size with [return_maps] "
          "(nif_decode_init, then nif_decode_iter while the library yields, as jiffy.erl does), "
          "and encoding the decoded term back (nif_encode_init, nif_encode_iter); median per "
          "document and the throughput it makes. The BEAM's jiffy rows (under Real libraries) "
          "time documents of the same kind of records built in erl, of at least 100, 1024 and "
          "10240 bytes: near these sizes, not the same bytes.")

    def jcell(name, n):
        v = med(rows, name)
        return cell(name) if v is None else "%s (%.0f MB/s)" % (fmt_ns(v), n / v * 1e3)
    doc.table(["call", "document"] + measured,
              [["jiffy:" + op, "%d B" % n] + [jcell("Call/%s/jiffy:%s/%d" % (b, op, n), n)
                                              for b in measured]
               for op in ("decode", "encode") for n in JSON_SIZES])
    series = []
    for op in ("decode", "encode"):
        for b in measured:
            pts = [(n, med(rows, "Call/%s/jiffy:%s/%d" % (b, op, n))) for n in JSON_SIZES]
            series.append(("%s %s" % (op, b), [(x, y) for x, y in pts if y is not None]))
    doc.chart("jiffy: latency against document size (log scales)",
              charts.series_lines("jiffy", "jiffy decode and encode against document size",
                                  "document (bytes)", "time per call (ns)", series))

    doc.h(3, "Resources, messages, yielding")
    doc.table(["call", "what"] + measured,
              [[c, what] + [cell("Call/%s/%s" % (b, c)) for b in measured]
               for c, what in FAMILY_CALLS])

    doc.h(3, "Load time")
    doc.p("Loading nh_terms.so and unloading it again, per iteration.")
    doc.table(["backend", "load + unload"], [[b, cell("Load/%s/nh_terms" % b)] for b in measured])


def real_library_line(rows):
    """jiffy decoding 1 KiB on every backend that measured it, beside the BEAM."""
    per = [(b, med(rows, "Call/%s/jiffy:decode/1024" % b)) for b in BACKENDS]
    per = [(b, v) for b, v in per if v is not None]
    if len(per) < 2:
        return None
    fastest = min(per, key=lambda kv: kv[1])
    line = "Measured on a real library, jiffy decoding 1 KiB costs %s" % ", ".join(
        "%s %s" % (b, fmt_ns(v)) for b, v in per)
    beam = med(rows, "Call/beam/jiffy:decode/1024")
    if beam is not None:
        line += " (the BEAM's jiffy:decode/2 %s)" % fmt_ns(beam)
    spread = max(v for _, v in per) / fastest[1]
    line += "; the backends are within %s of each other there, %s fastest" % (
        fmt_x(spread), fastest[0])
    return line + "."


def short_verdict(c):
    if c is None:
        return "missing"
    return "%s — %s" % (c["verdict"], c["host"][:80])


def payload_of(call):
    m = re.search(r"echo/(\d+)$", call)
    return int(m.group(1)) if m else 0


def call_sort_key(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def expected_rows(measured):
    names = ["Limit/direct_call", "Limit/spin", "Limit/futex", "Limit/socketpair/128"]
    names += ["Limit/%s/%d" % (k, n) for k in ("socketpair", "pipe", "message_queue")
              for n in (0, 64, 1024, 65536, 1048576)]
    names += ["Call/beam/nh_terms:noop/0", "Call/beam/jiffy:decode/1024"]
    for b in measured:
        names += ["Call/%s/nh_terms:noop/0" % b, "Call/%s/nh_terms:add/2" % b]
        names += ["Call/%s/nh_terms:echo/%d" % (b, n) for n in ECHO_SIZES]
        names += ["Call/%s/jiffy:decode/1024" % b]
        if b != "inproc":
            names.append("Restart/%s/nh_faults:segfault+ok" % b)
    return names


def design_section(doc, rows, summary, faults):
    b = summary["backends"]

    def cost(k):
        return fmt_ns(b[k]["small_call_ns"])

    def echo(k, n):
        return fmt_ns(med(rows, "Call/%s/nh_terms:echo/%d" % (k, n)))

    def recovered(k):
        return fmt_ms(b[k]["restart_ms"])

    doc.p("The seed analysis lists where a VM that runs NIFs in its own address space has to "
          "change to isolate them (its section 5). For each point: how each nifhost backend "
          "implements it, and what that costs here, from the rows above.")
    points = [
        ("5.1.1 Dynamic library loading → load into an isolated process",
         ["inproc: Boost.DLL opens the library in the host (no isolation).",
          "process / shm: the host spawns `nifhost-worker` (posix_spawn, PR_SET_PDEATHSIG, "
          "RLIMIT_AS/CPU) and the worker opens the library; after a crash the next call "
          "starts a new worker and loads the library again: crash plus restart plus call "
          "costs process %s, shm %s (Restart rows)." % (recovered("process"), recovered("shm"))]),
        ("5.1.2 Function discovery → IPC-based discovery",
         ["inproc: `nif_init`'s ErlNifEntry read in-process.",
          "process / shm: the worker validates the entry as the BEAM does and sends the function "
          "table once at load; lookups are then local in the host (no per-call cost)."]),
        ("5.1.3 Library registration → isolated registry",
         ["All: a thread-safe registry with generation-checked handles; isolated backends keep "
          "one registry per worker and the host's handles survive restarts (docs/errors.md)."]),
        ("5.2.1 Heap allocation → IPC-based heap allocation",
         ["inproc: the NIF builds terms on the caller's heap directly: small call %s." %
          cost("inproc"),
          "process / shm: the NIF builds on the worker's heap; the result is encoded as ETF and "
          "decoded onto the caller's heap by the host: small call process %s, shm %s." % (
              cost("process"), cost("shm"))]),
        ("5.2.2 Process access → serialized process state",
         ["inproc: HostServices called directly (enif_send, enif_self, monitors).",
          "process / shm: each HostServices use is a host_request frame on the call's lane, "
          "answered by the waiting host thread (one extra round trip per use; not "
          "benchmarked separately in this run)."]),
        ("5.2.3 Heap queries → IPC-based queries",
         ["All: the env's heap is local to where the NIF runs; nothing crosses the boundary for "
          "a query."]),
        ("5.3 Process–NIF association → handles, not pointers",
         ["All: processes hold library and function handles (index + generation); resource "
          "terms from a worker are handles checked for staleness (stale_resource after a "
          "restart)."]),
        ("5.4.1 NIF environment creation → IPC connection",
         ["process: a socketpair lane per concurrent caller (raw limit %s)." %
          fmt_ns(b["process"]["limit_ns"]),
          "shm: a ring pair per lane in a shared segment (raw limit %s)." %
          fmt_ns(b["shm"]["limit_ns"]),
          "inproc: a process-bound env on the caller's heap (limit %s)." %
          fmt_ns(b["inproc"]["limit_ns"])]),
        ("5.4.2 Term creation/decoding → serialized transfer",
         ["A 1 KiB binary echo: inproc %s, process %s, shm %s; 1 MiB: %s, %s, %s." % (
             echo("inproc", 1024), echo("process", 1024), echo("shm", 1024),
             echo("inproc", 1048576), echo("process", 1048576), echo("shm", 1048576))]),
        ("5.5 Compiled library output → prepared for isolated loading",
         ["None needed: unmodified .so files (Debian's jiffy.so, fxml, stringprep) load on every "
          "backend; the metadata convention (nif_get_metadata) is accepted too."]),
    ]
    for title, items in points:
        doc.h(3, title)
        doc.ul(items)
    if faults:
        doc.h(3, "6.2 Weaknesses named by the analysis, measured")
        items = []
        for k in faults["backends"]:
            cnt = fault_counts(faults, k)
            items.append("%s: crash propagation — %d of %d faults reached the host; memory "
                         "isolation — %s." % (
                             k, cnt["propagated"], len(faults["faults"]), memory_line(faults, k)))
        doc.ul(items)


def memory_line(faults, backend):
    parts = []
    for c in faults["cells"]:
        if c["backend"] == backend and c["fault"] in MEMORY_FAULTS:
            parts.append("%s %s" % (c["fault"], c["verdict"]))
    return ", ".join(parts) if parts else "not measured"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gnuplot", default=os.environ.get("NIFHOST_GNUPLOT", "gnuplot"))
    a = ap.parse_args(argv)
    summary, charts = build_report(a.raw, a.out, a.gnuplot)
    print("  charts: %s" % (", ".join(charts.made) or "none"))
    for p in charts.problems:
        print("  " + p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
