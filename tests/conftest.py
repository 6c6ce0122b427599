import os
import sys

# `reference` (the plain-Python twin of the compiled core) is imported by unit, property
# and benchmark tests alike.
sys.path.insert(0, os.path.dirname(__file__))

# The core's contract tests run against the compiled and the pure-Python core: see
# core_impls.py (a fixture and two hooks, re-exported here so pytest finds them).
from core_impls import core_impl, pytest_collection_modifyitems, pytest_generate_tests  # noqa: E402,F401
