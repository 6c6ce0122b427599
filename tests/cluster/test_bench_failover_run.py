"""benchmarks/failover.py, really run: ringfast only (no npm), 5 nodes (the fewest that keep a
majority after both kills), the fast profile, one trial each with and without a state dir. Every phase must settle, the report must carry
the figures and the targets, and no node process may outlive the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "failover.py"


def _processes_in(folder):
    """Pids of live processes whose working directory is under `folder` (every node runs in
    its cluster's directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(str(folder)):
                    found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.long  # about 6 s: the README's test command stays under 5 minutes
def test_tiny_real_run(tmp_path):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--nodes", "5", "--timings", "fast",
         "--systems", "ringfast-state,ringfast", "--json", str(out_json), "--markdown", str(out_md)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out_json.read_text())
    for system in ("ringfast-state", "ringfast"):
        s = report["results"]["fast"][system]
        assert s["runs"] == 1
        for phase in ("start", "leader_kill", "follower_kill", "boot"):
            assert s[phase] is not None and 0 < s[phase] < 30, (system, phase, report["trials"])
        assert s["boot"] <= s["start"]
    assert {t["system"] for t in report["targets"]} == {"ringfast-state", "ringfast"}
    assert all(t["verdict"] in ("PASS", "MISS") for t in report["targets"])
    md = out_md.read_text()
    assert "| follower kill -9 -> its partitions owned again |" in md and "Measured on" in md
    assert "ring-election" not in md.split("Targets")[0].splitlines()[2]  # not run: no column
    assert "PASS" in proc.stdout or "MISS" in proc.stdout
    assert _processes_in(tmp_path) == []  # its clusters were made under TMPDIR: no node outlived it
