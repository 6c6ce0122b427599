"""Which core `import ringfast` uses: compiled when it imports, else pure Python, saying so.

Each case runs in a fresh interpreter (the choice is made once, at import), which prints a
JSON report of what it saw: the implementation, the warnings, the log records, and which
objects the package's modules hold.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ringfast
import ringfast._impl

PKG_DIR = Path(ringfast.__file__).resolve().parent

_PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, json, logging, sys, warnings

    class BlockCore(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "ringfast._core":
                raise ImportError("simulated: no compiled extension here")
            return None

    if sys.argv[1] == "block":
        sys.meta_path.insert(0, BlockCore())

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append([record.name, record.levelname, record.getMessage()])

    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning issued is recorded, repeats too
        try:
            import ringfast
        except Exception as e:
            print(json.dumps({"error": [type(e).__name__, [c.__name__ for c in type(e).__mro__], str(e)]}))
            sys.exit(0)
        # importing again, and importing the modules that use the core, warns no more
        importlib.import_module("ringfast")
        import ringfast.node, ringfast.ring.handoff, ringfast._impl, ringfast.cli
        import ringfast._pycore
        core = ringfast._impl.core
    print(json.dumps({
        "implementation": ringfast.core_implementation,
        "core_module": core.__name__,
        "warnings": [[w.category.__name__, [c.__name__ for c in w.category.__mro__], str(w.message), w.filename]
                     for w in caught],
        "records": [r for r in records if r[0].startswith("ringfast")],
        "same_objects": {
            "ringfast.Partitioner": ringfast.Partitioner is core.Partitioner,
            "ringfast.partition": ringfast.partition is core.partition,
            "ringfast.assign": ringfast.assign is core.assign,
            "ringfast.murmur3": ringfast.murmur3 is core.murmur3,
            "node.Partitioner": ringfast.node.Partitioner is core.Partitioner,
            "ring.assign": ringfast.ring.handoff.assign is core.assign,
        },
        "pure_is_pycore": core is ringfast._pycore,
        "works": [ringfast.partition("key-1", 10), ringfast.Partitioner(10).partition_many(["a", 1]).tolist(),
                  ringfast.assign(4, ["b", "a"])],
    }))
    """
)


def _probe(mode: str, tmp_path: Path, env_value: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("RINGFAST_NO_EXTENSIONS", None)
    if env_value is not None:
        env["RINGFAST_NO_EXTENSIONS"] = env_value
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


EXPECTED_WORK = [ringfast.partition("key-1", 10), ringfast.Partitioner(10).partition_many(["a", 1]).tolist(), ringfast.assign(4, ["b", "a"])]


def test_without_the_compiled_core_the_pure_one_is_used_with_one_warning_and_a_log_line(tmp_path: Path) -> None:
    report = _probe("block", tmp_path)
    ctx = json.dumps(report, indent=2)
    assert report["implementation"] == "python", ctx
    assert report["pure_is_pycore"], ctx
    assert all(report["same_objects"].values()), ctx  # every module uses the chosen core
    assert report["works"] == EXPECTED_WORK, ctx

    assert len(report["warnings"]) == 1, ctx  # once, however often the package is imported
    category, mro, message, filename = report["warnings"][0]
    assert category == "PurePythonCoreWarning" and "RuntimeWarning" in mro, ctx
    assert "simulated: no compiled extension here" in message, ctx  # why
    assert "pure-Python core" in message and "slower" in message, ctx  # what it means
    assert "RINGFAST_NO_EXTENSIONS=1" in message and "C compiler" in message, ctx  # what to do
    assert filename == "<string>", ctx  # attributed to the application's `import ringfast` (python -c here)

    warned = [r for r in report["records"] if r[1] == "WARNING"]
    assert [r[0] for r in warned] == ["ringfast._impl"], ctx
    assert warned[0][2] == message, ctx


def test_ringfast_no_extensions_forces_the_pure_core_without_a_warning(tmp_path: Path) -> None:
    report = _probe("normal", tmp_path, "1")
    ctx = json.dumps(report, indent=2)
    assert report["implementation"] == "python" and report["pure_is_pycore"], ctx
    assert all(report["same_objects"].values()), ctx
    assert report["works"] == EXPECTED_WORK, ctx
    assert report["warnings"] == [], ctx  # asked for: nothing to warn about
    assert [r[:2] for r in report["records"]] == [["ringfast._impl", "INFO"]], ctx
    assert "RINGFAST_NO_EXTENSIONS=1" in report["records"][0][2], ctx


@pytest.mark.parametrize("value", [None, "0"])
def test_the_compiled_core_is_used_when_it_imports(value: str | None, tmp_path: Path) -> None:
    pytest.importorskip("ringfast._core", reason="the compiled core is not installed (a pure-Python install)")
    report = _probe("normal", tmp_path, value)
    ctx = json.dumps(report, indent=2)
    assert report["implementation"] == "cython", ctx
    assert report["core_module"] == "ringfast._core", ctx
    assert all(report["same_objects"].values()), ctx
    assert report["warnings"] == [] and report["records"] == [], ctx


@pytest.mark.parametrize(
    "value, disabled",
    [(None, False), ("", False), ("0", False), ("false", False), (" Off ", False), ("no", False),
     ("1", True), ("true", True), ("YES", True), ("on", True)],
)
def test_ringfast_no_extensions_values(value: str | None, disabled: bool) -> None:
    env = {} if value is None else {"RINGFAST_NO_EXTENSIONS": value}
    assert ringfast._impl.extensions_disabled(env) is disabled


def test_a_bad_ringfast_no_extensions_is_refused_naming_it(tmp_path: Path) -> None:
    report = _probe("normal", tmp_path, "maybe")
    name, mro, message = report["error"]
    assert name == "ConfigError" and "ValueError" in mro, report
    assert message == "RINGFAST_NO_EXTENSIONS='maybe': expected 1 (use the pure-Python core) or 0", report


def test_no_module_imports_the_compiled_core_but_the_selector() -> None:
    """So that RINGFAST_NO_EXTENSIONS and the fallback reach every use of the core."""
    offenders = []
    for path in sorted(PKG_DIR.rglob("*.py")):
        if path.name == "_impl.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module or ''}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.split(".")[-1] == "_core" or n.endswith("._core") for n in names):
                offenders.append(f"{path.relative_to(PKG_DIR)}:{node.lineno}")
    assert not offenders, f"import the core from ringfast._impl, not ringfast._core: {offenders}"
