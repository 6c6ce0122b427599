"""The command line entry points: the `ringfast` console script and `python -m ringfast`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ringfast
import ringfast._impl

# The version, and which core is in use (compiled, or the pure-Python fallback).
# (The children inherit RINGFAST_NO_EXTENSIONS, so they choose the core this process chose.)
EXPECTED = f"ringfast {ringfast.__version__} ({ringfast._impl.core_summary})"


def _console_script() -> str:
    """The `ringfast` script of the environment running the tests (its bin dir sits next to
    sys.executable), else whatever `ringfast` is on PATH."""
    here = shutil.which("ringfast", path=str(Path(sys.executable).parent))
    found = here or shutil.which("ringfast")
    assert found is not None, "the `ringfast` console script is not installed (check [project.scripts])"
    return found


def _run(cmd: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(extra_env)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "how",
    ["console script", "python -m ringfast"],
)
def test_version(how: str, tmp_path: Path) -> None:
    cmd = [_console_script()] if how == "console script" else [sys.executable, "-m", "ringfast"]
    proc = _run([*cmd, "--version"], cwd=tmp_path)
    ctx = f"{cmd} --version: exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, ctx
    assert proc.stdout.strip() == EXPECTED, ctx


def test_version_says_when_the_pure_python_core_is_in_use(tmp_path: Path) -> None:
    proc = _run([sys.executable, "-m", "ringfast", "--version"], cwd=tmp_path, RINGFAST_NO_EXTENSIONS="1")
    ctx = f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, ctx
    assert proc.stdout.strip() == f"ringfast {ringfast.__version__} (core: python, the slower pure-Python fallback)", ctx
