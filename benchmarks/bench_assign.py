"""assign(): 10,000 partitions over 1,000 members, from scratch and after one member
leaves or joins. The plain-Python reference is the baseline here (there is no mmh3 for
assignment), and every result must equal the reference's.
"""

import pytest
import reference

import ringfast

P = 10_000
MEMBERS = ["m%04d" % i for i in range(1000)]
SCENARIOS = ["scratch", "leave", "join"]


@pytest.fixture(scope="module")
def cases():
    """scenario -> (members, previous, the reference's answer), built outside any timing."""
    before = ringfast.assign(P, MEMBERS)
    middle = len(MEMBERS) // 2
    inputs = {
        "scratch": (MEMBERS, None),
        "leave": (MEMBERS[:middle] + MEMBERS[middle + 1 :], before),
        "join": (MEMBERS + ["m%04d" % len(MEMBERS)], before),
    }
    return {s: (m, prev, reference.assign(P, m, prev)) for s, (m, prev) in inputs.items()}


def _tag(benchmark, role, scenario):
    benchmark.extra_info["role"] = role
    benchmark.extra_info["scenario"] = scenario


@pytest.mark.benchmark(group="assign-10000x1000")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_assign_ringfast(benchmark, cases, scenario):
    members, previous, want = cases[scenario]
    _tag(benchmark, "ringfast", scenario)
    assert benchmark(ringfast.assign, P, members, previous) == want


@pytest.mark.benchmark(group="assign-10000x1000")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_assign_reference(benchmark, cases, scenario):
    members, previous, want = cases[scenario]
    _tag(benchmark, "baseline", scenario)
    assert benchmark(reference.assign, P, members, previous) == want
