"""Runs the atheris fuzzer of the frame decoder for a bounded number of inputs."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_the_decoder_survives_fuzzing():
    runs = os.environ.get("RINGFAST_FUZZ_RUNS", "20000")  # .ci/sanitize fuzzes longer
    proc = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_decoder.py"), f"-runs={runs}", "-seed=1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {runs} runs" in proc.stderr
