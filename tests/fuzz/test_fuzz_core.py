"""Runs the compiled core's differential fuzzers (partition_many, assign) briefly.

The default test run gives each a few thousand inputs; .ci/sanitize runs them longer under
AddressSanitizer, and RINGFAST_CORE_FUZZ_RUNS (or the harness itself, with -runs= or
-max_total_time=) runs them as long as you like.
"""

import os
import subprocess
import sys

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("harness", ["fuzz_partition_many.py", "fuzz_assign.py"])
def test_core_and_twin_agree_under_fuzzing(harness, tmp_path):
    runs = os.environ.get("RINGFAST_CORE_FUZZ_RUNS", "3000")
    proc = subprocess.run([sys.executable, os.path.join(HERE, harness), f"-runs={runs}", "-seed=1",
                           f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {runs} runs" in proc.stderr
