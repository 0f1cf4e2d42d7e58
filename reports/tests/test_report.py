"""report.py on a fixed small input (data/raw: hand-written benchmark, fault
and BEAM results): the report's structure, summary.json's schema and values,
the fault classification, and a conclusion that follows the numbers.

    cd reports/tests && python3 -m unittest -v test_report
"""
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import report  # noqa: E402

RAW = os.path.join(HERE, "data", "raw")
GNUPLOT = os.environ.get("NIFHOST_GNUPLOT", "gnuplot")
BACKEND_KEYS = {"small_call_ns", "limit", "limit_ns", "ratio_to_limit", "binary_1mib_ns",
                "restart_ms", "faults"}


class ReportFromFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="nifhost-report-test-")
        report.build_report(RAW, cls.out, GNUPLOT)
        with open(os.path.join(cls.out, "summary.json")) as f:
            cls.summary = json.load(f)
        with open(os.path.join(cls.out, "report.md"), encoding="utf-8") as f:
            cls.md = f.read()
        with open(os.path.join(cls.out, "report.html"), encoding="utf-8") as f:
            cls.html = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def test_summary_has_exactly_the_contract(self):
        s = self.summary
        self.assertEqual(set(s), {"backends", "beam"})
        self.assertEqual(set(s["backends"]), {"inproc", "process", "shm"})
        for name, b in s["backends"].items():
            self.assertEqual(set(b), BACKEND_KEYS, name)
            self.assertEqual(set(b["faults"]), {"contained", "propagated"}, name)
        self.assertEqual(set(s["beam"]), {"nif_call_ns", "jiffy_decode_1kb_ns"})
        self.assertEqual(s["backends"]["inproc"]["limit"], "direct_call")
        self.assertEqual(s["backends"]["process"]["limit"], "socketpair")
        self.assertEqual(s["backends"]["shm"]["limit"], "spin")

    def test_summary_values_are_medians_of_the_repetitions(self):
        b = self.summary["backends"]
        self.assertEqual(b["inproc"]["small_call_ns"], 200)   # median of 100, 300, 200
        self.assertEqual(b["process"]["small_call_ns"], 8000)
        self.assertEqual(b["process"]["limit_ns"], 5000)      # Limit/socketpair/128/128
        self.assertAlmostEqual(b["process"]["ratio_to_limit"], 8000 / 5000)
        self.assertEqual(b["inproc"]["limit_ns"], 2.0)
        self.assertAlmostEqual(b["shm"]["ratio_to_limit"], 2000 / 400)
        self.assertAlmostEqual(b["process"]["restart_ms"], 5.0)  # ms rows stay ms
        self.assertIsNone(b["inproc"]["restart_ms"])
        self.assertEqual(self.summary["beam"]["nif_call_ns"], 50.0)
        self.assertEqual(self.summary["beam"]["jiffy_decode_1kb_ns"], 9000.0)

    def test_missing_and_failed_rows_are_null_not_invented(self):
        b = self.summary["backends"]
        # The shm echo row failed in the fixture; nothing else measures it.
        self.assertIsNone(b["shm"]["binary_1mib_ns"])
        self.assertIn("Call/shm/nh_terms:echo/1048576", self.md)
        self.assertIn("nifhost_bench_shm: not built", self.md)

    def test_fault_counts(self):
        b = self.summary["backends"]
        self.assertEqual(b["inproc"]["faults"], {"contained": 0, "propagated": 4})
        self.assertEqual(b["process"]["faults"], {"contained": 4, "propagated": 0})
        # shm: one contained pair, one fault returned a value, one killed the probe.
        self.assertEqual(b["shm"]["faults"], {"contained": 2, "propagated": 1})

    def test_markdown_has_every_section(self):
        for heading in ["## Conclusion", "## Summary", "## Machine and versions", "## Overhead",
                        "## Isolation matrix", "## Crash-propagation matrix", "## Real libraries",
                        "## Design comparison: the migration points", "## What was not measured"]:
            self.assertIn(heading, self.md)
        for point in ["5.1.1", "5.1.2", "5.1.3", "5.2.1", "5.2.2", "5.2.3", "5.3", "5.4.1",
                      "5.4.2", "5.5"]:
            self.assertRegex(self.md, r"### %s " % re.escape(point))
        self.assertIn("Fixture CPU", self.md)
        self.assertIn("OTP 25, erts 13.1.5", self.md)

    def test_html_is_self_contained_with_inline_charts(self):
        self.assertTrue(self.html.startswith("<!DOCTYPE html>"))
        self.assertNotRegex(self.html, r"<script|<link|src=\"|href=\"http")
        if shutil.which(GNUPLOT) is None:
            self.skipTest("gnuplot is not installed")
        self.assertGreaterEqual(self.html.count("<svg"), 4)
        for chart in ["latency", "overhead", "throughput", "recovery"]:
            self.assertTrue(os.path.exists(os.path.join(self.out, "charts", chart + ".svg")), chart)

    def test_row_names_lose_how_they_were_timed(self):
        self.assertEqual(report.normalize_name("Restart/shm/nh_faults:segfault+ok/manual_time"),
                         "Restart/shm/nh_faults:segfault+ok")
        self.assertEqual(report.normalize_name("Call/beam/nh_terms:noop/0/iterations:1/manual_time"),
                         "Call/beam/nh_terms:noop/0")
        self.assertEqual(report.normalize_name("Callers/shm/nh_terms:noop/0/real_time/threads:4"),
                         "Callers/shm/nh_terms:noop/0/threads:4")
        self.assertEqual(report.normalize_name("Limit/socketpair/64/64"), "Limit/socketpair/64")
        self.assertEqual(report.normalize_name("Call/shm/jiffy:decode/1KiB"),
                         "Call/shm/jiffy:decode/1024")

    def test_throughput_is_one_over_the_threaded_rows_time(self):
        # Google Benchmark's threaded real time is wall time over all threads' iterations.
        self.assertIn("| shm | 2 | 833333 calls/s |", self.md)


class Classification(unittest.TestCase):
    def cells(self):
        with open(os.path.join(RAW, "faults.json")) as f:
            data = json.load(f)
        return {(c["backend"], c["fault"]): report.classify_cell(c, data["probe_timeout_ms"])
                for c in data["cells"]}

    def test_each_way_a_host_can_end(self):
        c = self.cells()
        self.assertEqual(c[("inproc", "segfault")]["verdict"], "propagated")
        self.assertEqual(c[("inproc", "segfault")]["host"], "died: SIGSEGV")
        self.assertIn("canary corrupted", c[("inproc", "wild_write")]["host"])
        hung = c[("inproc", "infinite_loop")]
        self.assertTrue(hung["host"].startswith("hung (killed after 6.0 s)"))
        self.assertTrue(hung["bystander"])  # the other thread kept calling meanwhile
        # The probe's last line was cut short by its death: still an exit status.
        self.assertEqual(c[("inproc", "exit")]["host"], "died: exit status 3")
        seg = c[("process", "segfault")]
        self.assertEqual(seg["verdict"], "contained")
        self.assertEqual(seg["host"], "error {signal,'SIGSEGV'}")
        self.assertEqual(seg["next_ok_ms"], 12.0)
        self.assertEqual(c[("shm", "wild_write")]["verdict"], "survived")


class Conclusion(unittest.TestCase):
    def base(self):
        return {
            "backends": {
                "inproc": {"small_call_ns": 100.0, "limit": "direct_call", "limit_ns": 2.0,
                           "ratio_to_limit": 50.0, "binary_1mib_ns": 300.0, "restart_ms": None,
                           "faults": {"contained": 0, "propagated": 5}},
                "process": {"small_call_ns": 6000.0, "limit": "socketpair", "limit_ns": 5000.0,
                            "ratio_to_limit": 1.2, "binary_1mib_ns": 500000.0, "restart_ms": 5.0,
                            "faults": {"contained": 5, "propagated": 0}},
                "shm": {"small_call_ns": 1500.0, "limit": "spin", "limit_ns": 300.0,
                        "ratio_to_limit": 5.0, "binary_1mib_ns": 200000.0, "restart_ms": 4.0,
                        "faults": {"contained": 5, "propagated": 0}},
            },
            "beam": {"nif_call_ns": 50.0, "jiffy_decode_1kb_ns": 100000.0},
        }

    def test_names_the_cheaper_isolated_design(self):
        s = self.base()
        text = " ".join(report.conclusion(s))
        self.assertIn("cheapest isolated design for a small call is shm", text)
        s["backends"]["shm"]["small_call_ns"] = 9000.0
        text = " ".join(report.conclusion(s))
        self.assertIn("cheapest isolated design for a small call is process", text)

    def test_judges_distance_to_the_limit(self):
        text = report.conclusion(self.base())
        self.assertTrue(any(l.startswith("process is 1.20× its raw socketpair") and
                            "close to the floor" in l for l in text))
        self.assertTrue(any(l.startswith("shm is 5.00× its raw spin") and
                            "well above the floor" in l for l in text))

    def test_a_real_library_line_when_measured(self):
        rows = {"Call/inproc/jiffy:decode/1024": report.Row("x", "t", [100.0]),
                "Call/shm/jiffy:decode/1024": report.Row("x", "t", [300.0])}
        line = report.real_library_line(rows)
        self.assertIn("inproc 100.0 ns, shm 300.0 ns", line)
        self.assertIn("within 3.00× of each other there, inproc fastest", line)
        self.assertIsNone(report.real_library_line({}))

    def test_an_anchor_slower_than_the_backend_is_not_called_a_floor(self):
        s = self.base()
        s["backends"]["shm"]["limit_ns"] = 3000.0
        s["backends"]["shm"]["ratio_to_limit"] = 0.5
        text = report.conclusion(s)
        self.assertTrue(any(l.startswith("shm's small call (1.50 µs) beat its raw spin anchor")
                            for l in text))
        self.assertFalse(any(l.startswith("shm is ") for l in text))

    def test_reports_propagated_faults_and_withholds_the_recommendation(self):
        s = self.base()
        s["backends"]["shm"]["faults"] = {"contained": 4, "propagated": 1}
        text = report.conclusion(s, {"shm": ["scribble_shm"]})
        self.assertIn("shm: 1 fault reached the host (scribble_shm); 4 contained.", text)
        # shm is cheaper but leaks a fault: the break-even line is about process.
        self.assertTrue(any(l.startswith("Choosing process, isolation adds 5.90 µs") for l in text))

    def test_break_even_against_jiffy(self):
        text = report.conclusion(self.base())
        # shm adds 1.4 µs; 10× that is below jiffy's 100 µs.
        self.assertTrue(any("Choosing shm" in l and "it is such a NIF" in l for l in text))
        s = self.base()
        s["beam"]["jiffy_decode_1kb_ns"] = 2800.0
        text = report.conclusion(s)
        self.assertTrue(any("isolation would cost it 50% of its time" in l for l in text))

    def test_nothing_measured_says_so(self):
        s = copy.deepcopy(self.base())
        for b in s["backends"].values():
            for k in ("small_call_ns", "limit_ns", "ratio_to_limit", "binary_1mib_ns",
                      "restart_ms"):
                b[k] = None
            b["faults"] = {"contained": None, "propagated": None}
        s["beam"] = {"nif_call_ns": None, "jiffy_decode_1kb_ns": None}
        self.assertEqual(report.conclusion(s), [])


if __name__ == "__main__":
    unittest.main()
