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


def test_batch_str_is_also_reported_as_a_fraction_of_the_c_loop(tmp_path):
    def keyed(name, role, median, fastest):
        b = bench(name, "batch-str", role, None, median, fastest)
        b["extra_info"]["keys"] = 1_000_000
        return b

    out = run(tmp_path, [
        keyed("test_batch_str_mmh3", "baseline", 0.100, 0.090),
        keyed("test_batch_str_partition_many", "ringfast", 0.010, 0.008),
        keyed("test_batch_str_c_loop", "c-baseline", 0.005, 0.004),
    ])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if "partition_many" in x)
    assert "10.00x" in lines[at] and "met" in lines[at]  # vs mmh3: >= 7x
    assert "0.50 C" in lines[at + 1] and "0.50 C" in lines[at + 1] and "MISSED" in lines[at + 1]  # 5/10, 4/8
    c_line = next(x for x in lines if "c_loop" in x)
    assert "20.00x" in c_line and "C" not in c_line.split("c_loop")[1]
