"""The import-time contract of the package: what `import ringfast` gives, and how it fails."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ringfast
import ringfast._core

# Run in a fresh interpreter: makes `ringfast._core` unimportable, then imports ringfast.
_BLOCK_CORE = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockCore(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "ringfast._core":
                raise ImportError("simulated: no compiled extension here")
            return None

    sys.meta_path.insert(0, BlockCore())
    try:
        import ringfast
    except ImportError as e:
        print(json.dumps({
            "type": type(e).__name__,
            "message": str(e),
            "cause": repr(e.__cause__),
        }))
        sys.exit(42)
    print(json.dumps({"imported": ringfast.__file__}))
    sys.exit(0)
    """
)


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    return env


def test_missing_core_raises_helpful_import_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCK_CORE],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    ctx = f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 42, f"`import ringfast` did not raise ImportError without the core\n{ctx}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    message = report["message"]
    assert report["type"] == "ImportError", ctx
    assert "compiled core" in message, ctx
    assert "pip install" in message, ctx
    assert "ringfast._core" in message, ctx
    # The original error is kept: in the message and as the chained cause.
    assert "simulated: no compiled extension here" in message, ctx
    assert "simulated: no compiled extension here" in report["cause"], ctx


def test_package_logger_has_only_a_null_handler() -> None:
    logger = logging.getLogger("ringfast")
    assert len(logger.handlers) == 1, logger.handlers
    assert type(logger.handlers[0]) is logging.NullHandler, logger.handlers
    # A library leaves level and propagation to the application.
    assert logger.level == logging.NOTSET
    assert logger.propagate is True


def test_all_lists_existing_public_names() -> None:
    names = ringfast.__all__
    assert len(names) == len(set(names)), f"duplicates in __all__: {names}"
    missing = [n for n in names if not hasattr(ringfast, n)]
    assert not missing, f"__all__ names that do not exist: {missing}"
    required = {"Partitioner", "partition", "assign", "RingfastError", "ConfigError", "__version__"}
    assert required <= set(names), f"__all__ lacks {required - set(names)}"

    namespace: dict[str, object] = {}
    exec("from ringfast import *", namespace)
    assert required <= namespace.keys()


def test_version_matches_installed_metadata() -> None:
    assert ringfast.__version__ == importlib.metadata.version("ringfast")


def test_typing_files_ship_next_to_the_package() -> None:
    pkg_dir = Path(ringfast.__file__).resolve().parent
    assert (pkg_dir / "py.typed").is_file()
    stub = pkg_dir / "_core.pyi"
    assert stub.is_file()
    # The stub sits next to the compiled module it describes.
    assert Path(ringfast._core.__file__).resolve().parent == pkg_dir


def test_core_stub_matches_the_compiled_module() -> None:
    """Every name the stub declares exists in the compiled core, and every name the package
    re-exports from the core is declared in the stub (so type checkers see the real API)."""
    stub = Path(ringfast._core.__file__).resolve().parent / "_core.pyi"
    tree = ast.parse(stub.read_text(encoding="utf-8"))

    declared = {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }
    absent = [name for name in declared if not hasattr(ringfast._core, name)]
    assert not absent, f"_core.pyi declares names the compiled core lacks: {absent}"

    reexported = {"Partitioner", "partition", "assign", "murmur3"}
    undeclared = reexported - declared.keys()
    assert not undeclared, f"_core.pyi does not declare {sorted(undeclared)}"

    cls = declared["Partitioner"]
    assert isinstance(cls, ast.ClassDef)
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    absent_methods = [m for m in methods if not hasattr(ringfast._core.Partitioner, m)]
    assert not absent_methods, f"_core.pyi declares Partitioner members it lacks: {absent_methods}"
