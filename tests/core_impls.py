"""Runs the core's contract tests against both implementations: compiled and pure Python.

The contract test modules (CONTRACT_MODULES) import ``Partitioner``, ``partition``,
``assign``, ``murmur3`` from ``ringfast`` as usual. Each of their tests runs twice, as
``[cython]`` and ``[python]``: for the run of the implementation that ``ringfast._impl``
did not select, every module-level name bound to the selected core's object (in the test
module and in every ``ringfast`` module, so ``Node`` partitions with it too) is rebound to
the other core's object for the duration of the module. Nothing in those test files has
to know.

Where the compiled core is not installed (a pure-Python install), ``[cython]`` skips.
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest

import ringfast._impl

# Test modules whose every test is a contract of the core (file names, without ".py").
CONTRACT_MODULES = {
    "test_partitioner",
    "test_assign",
    "test_partition_props",
    "test_assign_props",
    "test_node_partition",
    "test_core_contracts_extra",
}
IMPLEMENTATIONS = ["cython", "python"]
CORE_NAMES = ["Partitioner", "assign", "murmur3", "partition"]

# Tests of the compiled code's own memory handling that assume its allocation pattern:
# not contracts the pure core can be held to (it cannot read freed memory at all).
COMPILED_ONLY = {
    "test_partition_many_never_reads_a_list_a_finalizer_changed": (
        "the test expects the collection to start inside the call, at the C code's first "
        "allocation; with the pure core it may start at the call and empty the list first"
    ),
}

# Contracts that take seconds with the pure core: [python] runs them only with
# RINGFAST_TEST_PURE_CORE_FULLY=1, as the no-compiler CI job (.ci/wheels.sh) does, so
# that the default test run stays within its time budget.
SLOW_IN_PURE = {
    "test_refcounts_of_shared_ints_survive_other_threads": "300 assignments of 20,000 partitions while a thread churns",
    "test_leave_moves_exactly_the_leavers_partitions_at_scale": "its quadratic check of 10,000 partitions, ~5 s",
    "test_previous_built_from_a_result_in_any_order_equals_the_reference": "hypothesis, ~6 s",
    "test_assign_properties": "hypothesis, ~2 s",
}


def _core_module(name: str):
    if name == "python":
        return importlib.import_module("ringfast._pycore")
    try:
        return importlib.import_module("ringfast._core")
    except ImportError as e:
        pytest.skip(f"the compiled core is not installed here ({e})")


def _rebind(modules, swaps):
    """Rebinds every attribute that *is* one of swaps' keys; returns how to undo it."""
    undo = []
    for mod in modules:
        for attr, value in list(vars(mod).items()):
            for old, new in swaps:
                if value is old:
                    setattr(mod, attr, new)
                    undo.append((mod, attr, old))
    return undo


def _module_name(metafunc_or_request) -> str:
    return metafunc_or_request.module.__name__.rsplit(".", 1)[-1]


def pytest_generate_tests(metafunc):
    if _module_name(metafunc) in CONTRACT_MODULES and "core_impl" in metafunc.fixturenames:
        metafunc.parametrize("core_impl", IMPLEMENTATIONS, indirect=True, scope="module")


def pytest_collection_modifyitems(config, items):
    full = os.environ.get("RINGFAST_TEST_PURE_CORE_FULLY") == "1"
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("core_impl") != "python":
            continue
        if item.originalname in COMPILED_ONLY:
            item.add_marker(pytest.mark.skip(reason=f"compiled-core detail: {COMPILED_ONLY[item.originalname]}"))
        elif item.originalname in SLOW_IN_PURE and not full:
            reason = f"slow with the pure core ({SLOW_IN_PURE[item.originalname]}); RINGFAST_TEST_PURE_CORE_FULLY=1 runs it"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module", autouse=True)
def core_impl(request):
    """The implementation a contract test runs against ("cython" or "python"); None for
    every other test, which sees whatever ringfast selected."""
    wanted = getattr(request, "param", None)
    if wanted is None:
        yield None
        return
    target = _core_module(wanted)
    selected = ringfast._impl.core
    if target is selected:
        yield wanted
        return
    swaps = [(getattr(selected, n), getattr(target, n)) for n in CORE_NAMES]
    modules = [request.module] + [m for k, m in list(sys.modules.items()) if k == "ringfast" or k.startswith("ringfast.")]
    modules = [m for m in modules if m is not None and m not in (selected, target)]
    undo = _rebind(modules, swaps)
    try:
        yield wanted
    finally:
        for mod, attr, old in reversed(undo):
            setattr(mod, attr, old)
