"""The pure-Python core (what runs where no C compiler was available) against the compiled one.

In each group the compiled core is the baseline, so report.py's "vs base" column is the
pure core's speed as a fraction of the compiled core's (0.02x = fifty times slower). Both
run on the same slice of the keys: the pure core would take seconds per round on all of
them. Each benchmark checks its answer, so with --benchmark-disable this is a plain test.
"""

import pytest

from ringfast import _pycore

_core = pytest.importorskip("ringfast._core", reason="the compiled core is not installed: nothing to compare with")

KEYS = 20_000
P = 10_000
MEMBERS = ["m%04d" % i for i in range(1000)]


def _tag(benchmark, role, keys=None, scenario=None):
    benchmark.extra_info["role"] = role
    if keys is not None:
        benchmark.extra_info["keys"] = keys
    if scenario is not None:
        benchmark.extra_info["scenario"] = scenario


def _per_key(partitioner, keys):
    p = partitioner.partition
    return [p(k) for k in keys]


@pytest.fixture(scope="module")
def keys(keys_str):
    return keys_str[:KEYS]


@pytest.fixture(scope="module")
def records(records16, width):
    return records16[: KEYS * width]


CORES = [pytest.param(_core, id="compiled"), pytest.param(_pycore, id="pure")]


def _role(core):
    return "baseline" if core is _core else "pure"


@pytest.mark.benchmark(group="pure-core-per-key-str")
@pytest.mark.parametrize("core", CORES)
def test_pure_core_per_key(benchmark, core, keys, n, expected):
    _tag(benchmark, _role(core), len(keys))
    assert benchmark(_per_key, core.Partitioner(n), keys) == expected[:KEYS]


@pytest.mark.benchmark(group="pure-core-batch-str")
@pytest.mark.parametrize("core", CORES)
def test_pure_core_partition_many(benchmark, core, keys, n, expected):
    _tag(benchmark, _role(core), len(keys))
    assert benchmark(core.Partitioner(n).partition_many, keys).tolist() == expected[:KEYS]


@pytest.mark.benchmark(group="pure-core-records16")
@pytest.mark.parametrize("core", CORES)
def test_pure_core_records(benchmark, core, records, width, n):
    _tag(benchmark, _role(core), len(records) // width)
    result = benchmark(core.Partitioner(n).partition_many, records, width=width)
    assert result == _core.Partitioner(n).partition_many(records, width=width)


@pytest.fixture(scope="module")
def assign_cases():
    before = _core.assign(P, MEMBERS)
    return {
        "scratch": (MEMBERS, None),
        "leave": (MEMBERS[:500] + MEMBERS[501:], before),
        "join": (MEMBERS + ["m1000"], before),
    }


@pytest.mark.benchmark(group="pure-core-assign-10000x1000")
@pytest.mark.parametrize("scenario", ["scratch", "leave", "join"])
@pytest.mark.parametrize("core", CORES)
def test_pure_core_assign(benchmark, core, scenario, assign_cases):
    members, previous = assign_cases[scenario]
    _tag(benchmark, _role(core), scenario=scenario)
    assert benchmark(core.assign, P, members, previous) == _core.assign(P, members, previous)
