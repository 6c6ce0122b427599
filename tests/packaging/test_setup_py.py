"""setup.py's choices, without a full build: when it builds the compiled core, when it
skips it, and what a failed compile does (with a one-line C file, so no Cython run).

The real builds (a wheel, an sdist installed where no compiler can be found) are in
.ci/wheels.sh; these check the same decisions in a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs setup.py with setuptools.setup() captured instead of run, then optionally drives its
# build_ext on a tiny C extension in a scratch directory; prints a JSON report.
_DRIVER = textwrap.dedent(
    """
    import json, os, runpy, sys
    import setuptools

    repo, scratch, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "no-cython":
        sys.modules["Cython"] = None  # import Cython -> ImportError
        sys.modules["Cython.Build"] = None
    else:  # a stand-in: these tests are about setup.py's decisions, not about Cython
        import types
        fake = types.ModuleType("Cython.Build")
        fake.cythonize = lambda extensions, **options: extensions
        sys.modules["Cython"] = types.ModuleType("Cython")
        sys.modules["Cython.Build"] = fake
    captured = {}
    setuptools.setup = lambda **kw: captured.update(kw)
    os.chdir(repo)
    try:
        ns = runpy.run_path(os.path.join(repo, "setup.py"))
    except SystemExit as e:
        print(json.dumps({"exit": str(e)}))
        sys.exit(0)
    report = {"ext_modules": [e.name for e in captured["ext_modules"]]}
    if mode == "compile":
        from setuptools import Distribution, Extension
        os.chdir(scratch)
        with open("tiny.c", "w") as f:
            f.write("int tiny(void) { return 1; }\\n")
        dist = Distribution({"name": "tiny", "ext_modules": [Extension("tiny", ["tiny.c"])],
                             "cmdclass": {"build_ext": ns["OptionalBuildExt"]}})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = os.path.join(scratch, "lib")
        cmd.build_temp = os.path.join(scratch, "tmp")
        try:
            dist.run_command("build_ext")
            report["build"] = "succeeded"
        except Exception as e:
            report["build"] = f"raised {type(e).__name__}"
        report["built"] = sorted(os.listdir(cmd.build_lib)) if os.path.isdir(cmd.build_lib) else []
    print(json.dumps(report))
    """
)


def _drive(mode: str, tmp_path: Path, **env_vars: str) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGFAST_")}
    env.pop("PYTHONPATH", None)
    env.update(env_vars)
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(REPO), str(tmp_path), mode],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_by_default_the_compiled_core_is_built(tmp_path: Path) -> None:
    report, stderr = _drive("plain", tmp_path)
    assert report == {"ext_modules": ["ringfast._core"]}
    assert "ringfast:" not in stderr


def test_no_extensions_builds_nothing_and_says_so(tmp_path: Path) -> None:
    report, stderr = _drive("plain", tmp_path, RINGFAST_NO_EXTENSIONS="1")
    assert report == {"ext_modules": []}
    assert "RINGFAST_NO_EXTENSIONS is set: not building the compiled core" in stderr
    assert "pure-Python core" in stderr


def test_without_cython_the_build_goes_on_without_the_core(tmp_path: Path) -> None:
    report, stderr = _drive("no-cython", tmp_path)
    assert report == {"ext_modules": []}
    assert "Cython is not available" in stderr and "pure-Python core" in stderr


def test_without_cython_a_required_core_fails(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGFAST_")}
    env["RINGFAST_REQUIRE_EXTENSIONS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(REPO), str(tmp_path), "no-cython"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "env_vars, message",
    [
        ({"RINGFAST_NO_EXTENSIONS": "maybe"}, "RINGFAST_NO_EXTENSIONS='maybe': expected 1 or 0"),
        ({"RINGFAST_NO_EXTENSIONS": "1", "RINGFAST_REQUIRE_EXTENSIONS": "1"}, "contradict each other"),
    ],
)
def test_bad_settings_stop_the_build_naming_them(env_vars: dict, message: str, tmp_path: Path) -> None:
    report, _ = _drive("plain", tmp_path, **env_vars)
    assert message in report["exit"]


def test_a_failed_compile_is_reported_and_the_build_goes_on(tmp_path: Path) -> None:
    report, stderr = _drive("compile", tmp_path, CC="/bin/false", LDSHARED="/bin/false")
    assert report["build"] == "succeeded" and report["built"] == [], report
    assert "building the compiled core failed" in stderr and "pure-Python core" in stderr, stderr


def test_a_failed_compile_of_a_required_core_fails_the_build(tmp_path: Path) -> None:
    report, stderr = _drive("compile", tmp_path, CC="/bin/false", LDSHARED="/bin/false", RINGFAST_REQUIRE_EXTENSIONS="1")
    assert report["build"].startswith("raised") and report["built"] == [], report
    assert "building the compiled core failed" not in stderr
