import os
import sys

# `reference` (the plain-Python twin of the compiled core) is imported by unit, property
# and benchmark tests alike.
sys.path.insert(0, os.path.dirname(__file__))

# The core's contract tests run against the compiled and the pure-Python core: see
# core_impls.py (a fixture and two hooks, re-exported here so pytest finds them).
from core_impls import core_impl, pytest_collection_modifyitems, pytest_generate_tests  # noqa: E402,F401

import pytest  # noqa: E402


def pytest_runtest_setup(item):
    # `long` tests (tens of seconds each) keep the README's test command within its 5
    # minutes on 2 cores; .ci/run runs them after it: RINGFAST_LONG=1 python -m pytest -m long
    if item.get_closest_marker("long") and not os.environ.get("RINGFAST_LONG"):
        pytest.skip("long: RINGFAST_LONG=1 runs it (as .ci/run does)")

# Hypothesis's per-example deadline (200 ms) fails a property on a loaded 2-core CI machine
# when one example happens to be slow (a first import, a collection): the properties here
# are about results, not speed, so no deadline.
from hypothesis import settings  # noqa: E402

settings.register_profile("ringfast", deadline=None)
settings.load_profile("ringfast")
