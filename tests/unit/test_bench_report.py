"""benchmarks/report.py: ratios from the medians and from the minimums, and target verdicts."""

import json
import os
import subprocess
import sys

REPORT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "report.py")


def bench(name, group, role, scenario, median, fastest):
    return {
        "name": name,
        "group": group,
        "extra_info": {"role": role, "scenario": scenario},
        "stats": {"median": median, "min": fastest},
    }


def run(tmp_path, benchmarks):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    return subprocess.run([sys.executable, REPORT, str(path)], capture_output=True, text=True, timeout=60)


def assign_leave_line(tmp_path, ringfast_times, reference_times):
    """The report's line for assign after a leave, given (median, min) of each side."""
    g = "assign-10000x1000"
    out = run(
        tmp_path,
        [
            bench("test_assign_ringfast[leave]", g, "ringfast", "leave", *ringfast_times),
            bench("test_assign_reference[leave]", g, "baseline", "leave", *reference_times),
        ],
    )
    assert out.returncode == 0, out.stderr
    return next(x for x in out.stdout.splitlines() if "ringfast[leave]" in x)


def test_assign_ratio_by_median_decides_the_target_and_by_min_is_shown(tmp_path):
    line = assign_leave_line(tmp_path, (0.0001, 0.00008), (0.0019, 0.0020))
    assert "19.00x" in line and "25.00x" in line and "MISSED" in line


def test_target_met(tmp_path):
    line = assign_leave_line(tmp_path, (0.0001, 0.0001), (0.0021, 0.0021))
    assert "21.00x" in line and line.endswith("met")


def test_unreadable_json_exits_2(tmp_path):
    path = tmp_path / "b.json"
    path.write_text("{not json")
    out = subprocess.run([sys.executable, REPORT, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "cannot read" in out.stderr
