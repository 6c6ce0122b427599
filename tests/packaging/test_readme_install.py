"""The snippets of the README's "Installing" section, run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ringfast

README = Path(__file__).resolve().parents[2] / "README.md"

# Makes ringfast._core unimportable, as on a machine where it could not be compiled.
_BLOCK_CORE = """
import importlib.abc, sys
class _BlockCore(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ringfast._core":
            raise ImportError("simulated: no compiled extension here")
sys.meta_path.insert(0, _BlockCore())
"""


def _section_blocks(title: str) -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("RINGFAST_NO_EXTENSIONS", None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def test_the_version_lines_print_what_the_readme_says(tmp_path: Path) -> None:
    if ringfast.core_implementation != "cython":
        pytest.skip("the README's first line shows an install with the compiled core")
    (sh,) = [code for lang, code in _section_blocks("Installing") if lang == "sh"]
    lines = [line for line in sh.splitlines() if line.strip()]
    assert len(lines) == 2, sh
    for line in lines:
        command, _, comment = line.partition("#")
        proc = subprocess.run(
            [shutil.which("bash") or "/bin/bash", "-c", command],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        # the README shows some version; what matters is everything around it
        shown = re.sub(r"^ringfast \S+", f"ringfast {ringfast.__version__}", comment.strip())
        assert proc.stdout.strip() == shown, (line, proc.stdout)


def _python_snippet() -> str:
    (code,) = [code for lang, code in _section_blocks("Installing") if lang == "python"]
    return code


def _run_python(code: str, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120
    )


def test_the_python_snippet_prints_the_core_in_use(tmp_path: Path) -> None:
    proc = _run_python(_python_snippet(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ringfast.core_implementation
    assert proc.stderr == ""


def test_the_python_snippet_silences_the_fallback_warning(tmp_path: Path) -> None:
    """With the compiled core missing and every warning an error, the snippet's filter is
    what lets the import through (without it, the same program fails)."""
    snippet = _python_snippet()
    proc = _run_python(_BLOCK_CORE + snippet, tmp_path, "-W", "error")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "python"

    unfiltered = "\n".join(line for line in snippet.splitlines() if "filterwarnings" not in line)
    assert unfiltered != snippet
    proc = _run_python(_BLOCK_CORE + unfiltered, tmp_path, "-W", "error")
    assert proc.returncode != 0 and "PurePythonCoreWarning" in proc.stderr, proc.stderr
