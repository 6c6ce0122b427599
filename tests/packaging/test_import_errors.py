"""The import-time contract of the package: what `import ringfast` gives.

What happens without the compiled core is in test_core_selection.py."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import logging
from pathlib import Path

import pytest

import ringfast
import ringfast._pycore


def _compiled_core():
    return pytest.importorskip("ringfast._core", reason="the compiled core is not installed (a pure-Python install)")


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
    assert Path(_compiled_core().__file__).resolve().parent == pkg_dir


def _stub_declarations() -> dict[str, ast.AST]:
    stub = Path(ringfast.__file__).resolve().parent / "_core.pyi"
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }


def _check_core_against_stub(core) -> None:
    declared = _stub_declarations()
    absent = [name for name in declared if not hasattr(core, name)]
    assert not absent, f"_core.pyi declares names {core.__name__} lacks: {absent}"

    reexported = {"Partitioner", "partition", "assign", "murmur3"}
    undeclared = reexported - declared.keys()
    assert not undeclared, f"_core.pyi does not declare {sorted(undeclared)}"

    cls = declared["Partitioner"]
    assert isinstance(cls, ast.ClassDef)
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    absent_methods = [m for m in methods if not hasattr(core.Partitioner, m)]
    assert not absent_methods, f"_core.pyi declares Partitioner members {core.__name__} lacks: {absent_methods}"


def test_core_stub_matches_the_compiled_module() -> None:
    """Every name the stub declares exists in the compiled core, and every name the package
    re-exports from the core is declared in the stub (so type checkers see the real API)."""
    _check_core_against_stub(_compiled_core())


def test_core_stub_matches_the_pure_python_core() -> None:
    """The same for the pure-Python core, and more: its functions' parameters (names,
    kinds, defaults) are the stub's, since they are plain Python and can be inspected."""
    core = ringfast._pycore
    _check_core_against_stub(core)

    def params(fn: ast.FunctionDef, drop_self: bool) -> list[tuple[str, str, object]]:
        a = fn.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + [ast.literal_eval(d) for d in a.defaults]
        out = [(p.arg, "positional", d) for p, d in zip(positional, defaults)]
        out += [(p.arg, "keyword", None if d is None else ast.literal_eval(d)) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
        return out[1:] if drop_self else out

    def actual(fn) -> list[tuple[str, str, object]]:
        sig = inspect.signature(fn)
        kinds = {inspect.Parameter.KEYWORD_ONLY: "keyword"}
        return [
            (p.name, kinds.get(p.kind, "positional"), None if p.default is inspect.Parameter.empty else p.default)
            for p in sig.parameters.values()
        ]

    declared = _stub_declarations()
    for name in ("murmur3", "partition", "assign"):
        assert actual(getattr(core, name)) == params(declared[name], drop_self=False), name
    cls = declared["Partitioner"]
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name != "__init__" and not node.decorator_list:
            method = getattr(core.Partitioner, node.name)
            assert actual(method)[1:] == params(node, drop_self=True), node.name
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    assert actual(core.Partitioner) == params(init, drop_self=True)
