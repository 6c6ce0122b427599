"""Shared inputs for the benchmarks: one million keys, built once per session."""

import os
import sys

import mmh3
import pytest

import ringfast

# The plain-Python reference lives in tests/ on purpose (it must never ship), so the
# benchmarks reach it by path rather than by package import.
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.normpath(os.path.join(HERE, "..", "tests"))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

N = 10
NUM_KEYS = 1_000_000
WIDTH = 16


@pytest.fixture(scope="session")
def n():
    return N


@pytest.fixture(scope="session")
def partitioner():
    return ringfast.Partitioner(N)


@pytest.fixture(scope="session")
def keys_str():
    return ["key-%d" % i for i in range(NUM_KEYS)]


@pytest.fixture(scope="session")
def keys_bytes(keys_str):
    return [k.encode() for k in keys_str]


@pytest.fixture(scope="session")
def width():
    return WIDTH


@pytest.fixture(scope="session")
def records16(keys_bytes):
    return b"".join(k.ljust(WIDTH, b"\0") for k in keys_bytes)


@pytest.fixture(scope="session")
def expected(keys_str):
    """mmh3's answer for every key, computed once so each benchmark can check its own."""
    h = mmh3.hash
    return [h(k, 0, False) % N for k in keys_str]
