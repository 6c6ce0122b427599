"""assign(): examples, ring-election's failure cases, and every bad input."""

import collections
import collections.abc
import enum
import gc
import math
import random
import sys
import threading
import types

import pytest

import reference
from ringfast import AssignmentError, ConfigError, InvalidTypeError, assign


def owners(result):
    return {p: m for m, parts in result.items() for p in parts}


def test_from_scratch_is_balanced_and_covers_everything():
    result = assign(10, ["n1", "n2", "n3"])
    assert sorted(p for parts in result.values() for p in parts) == list(range(10))
    assert sorted(len(v) for v in result.values()) == [3, 3, 4]
    assert all(parts == sorted(parts) for parts in result.values())


def test_ring_election_cases_are_balanced_and_lose_nothing():
    five = [f"f{i}" for i in range(5)]
    r = assign(10, five)
    assert [len(r[m]) for m in five] == [2, 2, 2, 2, 2]  # ring-election: 1,1,2,2,4
    six = assign(10, five + ["f5"], previous=r)
    assert sorted(len(v) for v in six.values()) == [1, 1, 2, 2, 2, 2]  # ring-election: 6th gets 0
    after_leave = assign(10, ["f1", "f4"], previous=six)
    assert sorted(owners(after_leave)) == list(range(10))  # ring-election loses some here
    assert sorted(len(v) for v in after_leave.values()) == [5, 5]


def test_every_member_has_an_entry_even_with_more_members_than_partitions():
    members = [f"m{i}" for i in range(7)]
    result = assign(3, members)
    assert set(result) == set(members)
    assert sorted(len(v) for v in result.values()) == [0, 0, 0, 0, 1, 1, 1]


def test_leave_moves_exactly_the_leavers_partitions_at_scale():
    members = [f"m{i:04d}" for i in range(1000)]
    before = assign(10_000, members)
    gone = members[500]
    after = assign(10_000, members[:500] + members[501:], previous=before)
    owned_before = owners(before)  # once: in the comprehension it was rebuilt per partition (8 s)
    moved = [p for p, m in owners(after).items() if owned_before[p] != m]
    assert sorted(moved) == before[gone]
    assert after == reference.assign(10_000, members[:500] + members[501:], previous=before)


def test_join_moves_only_to_the_newcomer():
    members = [f"m{i}" for i in range(9)]
    before = assign(100, members)
    after = assign(100, members + ["new"], previous=before)
    changed = {p for p, m in owners(after).items() if owners(before)[p] != m}
    assert changed == set(after["new"]) and len(after["new"]) == 10


def test_member_order_does_not_matter():
    members = [f"m{i}" for i in range(17)]
    prev = assign(200, members[:10])
    shuffled = members[:]
    random.Random(4).shuffle(shuffled)
    assert assign(200, members, previous=prev) == assign(200, shuffled, previous=prev)
    assert assign(200, tuple(members), previous=prev) == assign(200, set(members), previous=prev)


def test_previous_may_name_gone_members_and_partitions_that_no_longer_exist():
    prev = {"gone": [0, 1, 2], "a": [3, 4, 50, 99], "b": [5]}
    result = assign(6, ["a", "b"], previous=prev)
    assert result == {"a": [0, 3, 4], "b": [1, 2, 5]}  # free ones fill in id order


def test_doubly_listed_partition_goes_to_the_smallest_id_whatever_the_dict_order():
    prev1 = {"b": [0, 1], "a": [1]}
    prev2 = {"a": [1], "b": [0, 1]}
    r1 = assign(2, ["a", "b"], previous=prev1)
    assert r1 == assign(2, ["a", "b"], previous=prev2) == {"a": [1], "b": [0]}
    assert assign(4, ["a"], previous={"a": [2, 2, 2]}) == {"a": [0, 1, 2, 3]}


def test_weighted_loads_follow_quotas():
    result = assign(100, ["a", "b", "c"], weights={"a": 2, "b": 1.0})
    assert {m: len(v) for m, v in result.items()} in (
        {"a": 50, "b": 25, "c": 25},
    )
    result = assign(10, ["a", "b", "c"], weights={"a": 1, "b": 1, "c": 1.5})
    for m, w in {"a": 1, "b": 1, "c": 1.5}.items():
        q = 10 * w / 3.5
        assert math.floor(q) <= len(result[m]) <= math.ceil(q)


def test_weights_for_unknown_members_are_ignored():
    assert assign(10, ["a", "b"], weights={"zzz": 100.0}) == assign(10, ["a", "b"], weights={})


@pytest.mark.parametrize(
    "members, err, match",
    [
        ([], AssignmentError, "members is empty"),
        (["a", "b", "a"], AssignmentError, "duplicate member id 'a'"),
        (["a", 3], InvalidTypeError, "member id must be a str, not int: 3"),
        ("abc", InvalidTypeError, "not one str"),
        (42, InvalidTypeError, "iterable of str ids, not int"),
    ],
)
def test_bad_members(members, err, match):
    with pytest.raises(err, match=match):
        assign(10, members)


@pytest.mark.parametrize("n", [0, -5, 2**31])
def test_bad_partition_count(n):
    with pytest.raises(ConfigError, match=str(n)):
        assign(n, ["a"])


@pytest.mark.parametrize(
    "previous, err, match",
    [
        ([("a", [1])], InvalidTypeError, "previous must be a mapping"),
        ({"a": [1, "2"]}, InvalidTypeError, "previous\\['a'\\] holds str '2'"),
        ({"a": [True]}, InvalidTypeError, "holds bool"),
        ({"a": [-1]}, AssignmentError, "negative partition -1"),
        ({"a": 5}, InvalidTypeError, r"previous\['a'\] must be an iterable of partition numbers, not int"),
        ({"a": None}, InvalidTypeError, r"previous\['a'\] is None"),
    ],
)
def test_bad_previous(previous, err, match):
    with pytest.raises(err, match=match):
        assign(10, ["a"], previous=previous)


@pytest.mark.parametrize(
    "weights, err, match",
    [
        ({"a": 0}, AssignmentError, "weight of 'a' must be a positive finite number, got 0"),
        ({"a": -1.5}, AssignmentError, "got -1.5"),
        ({"a": float("nan")}, AssignmentError, "got nan"),
        ({"a": float("inf")}, AssignmentError, "got inf"),
        ({"a": "2"}, InvalidTypeError, "weight of 'a' must be a number, not str"),
        ({"a": True}, InvalidTypeError, "not bool"),
        ([1, 2], InvalidTypeError, "weights must be a mapping"),
        ({"a": 1e308, "b": 1e308}, AssignmentError, r"too large: 10 partitions \* 1e\+308 overflows"),
    ],
)
def test_bad_weights(weights, err, match):
    with pytest.raises(err, match=match):
        assign(10, ["a", "b"], weights=weights)


def test_weights_whose_sum_overflows_are_refused():
    with pytest.raises(AssignmentError, match="the weights add up to inf"):
        assign(1, ["a", "b"], weights={"a": 1e308, "b": 1e308})


def test_errors_derive_from_the_matching_builtin():
    with pytest.raises(ValueError):
        assign(10, [])
    with pytest.raises(TypeError):
        assign(10, [1])


class _Mapping(collections.abc.Mapping):
    """A mapping that is not a dict, so assign() takes its general path."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class _Part(enum.IntEnum):
    THREE = 3
    SEVEN = 7


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda d: d, id="dict of lists"),
        pytest.param(lambda d: {k: tuple(v) for k, v in d.items()}, id="dict of tuples"),
        pytest.param(lambda d: {k: iter(v) for k, v in d.items()}, id="dict of iterators"),
        pytest.param(lambda d: collections.OrderedDict(d), id="dict subclass"),
        pytest.param(lambda d: types.MappingProxyType(d), id="mapping proxy"),
        pytest.param(_Mapping, id="Mapping"),
    ],
)
def test_every_kind_of_previous_gives_the_same_answer(wrap):
    members = [f"m{i}" for i in range(7)]
    before = assign(100, members[:5])
    want = reference.assign(100, members, before)
    assert assign(100, members, previous=wrap(before)) == want


def test_previous_partitions_may_be_any_int_small_or_huge():
    # int subclasses and ints past one machine digit take the general conversion
    prev = {"a": [_Part.THREE, 2**40, 2**100, 1], "b": [_Part.SEVEN, 0]}
    assert assign(8, ["a", "b"], previous=prev) == reference.assign(8, ["a", "b"], {"a": [3, 1], "b": [7, 0]})
    with pytest.raises(AssignmentError, match=r"negative partition -1267650600228229401496703205376"):
        assign(8, ["a"], previous={"a": [-(2**100)]})


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cyclic_gc_is_left_as_it_was(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assign(10_000, [f"m{i}" for i in range(1000)])
        assert gc.isenabled() is enabled
        with pytest.raises(AssignmentError, match="duplicate"):  # raised while it is paused
            assign(10_000, [f"m{i}" for i in range(1000)] + ["m7"])
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_result_lists_are_tracked_and_own_their_ints():
    result = assign(5000, ["a", "b", "c"])
    assert all(gc.is_tracked(parts) for parts in result.values())
    four = result["b"][0]
    before = sys.getrefcount(four)
    again = assign(5000, ["a", "b", "c"])
    assert sys.getrefcount(four) == before + 1
    del again
    assert sys.getrefcount(four) == before


def test_refcounts_of_shared_ints_survive_other_threads():
    """Results share cached int objects; another thread touching them while assign() fills
    its lists must not lose a reference count (the fill runs with the GIL held)."""
    members = [f"m{i}" for i in range(100)]
    held = assign(20_000, members)
    probe = held["m50"][:5]
    counts = [sys.getrefcount(p) for p in probe]
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            for parts in held.values():
                for _ in parts:  # each item is increfed and decrefed
                    pass

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(300):
            assign(20_000, members)
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()
    assert [sys.getrefcount(p) for p in probe] == counts


def _fresh(s):
    """An equal str that is a different object (assign() may compare ids by identity first)."""
    return "".join(list(s))


@pytest.mark.parametrize(
    "reshape",
    [
        pytest.param(lambda d: d, id="as returned"),
        pytest.param(lambda d: dict(reversed(d.items())), id="reversed"),
        pytest.param(lambda d: dict(random.Random(5).sample(list(d.items()), len(d))), id="shuffled"),
        pytest.param(lambda d: {_fresh(k): v for k, v in d.items()}, id="equal, not identical ids"),
        pytest.param(lambda d: {**{f"gone{i}": [i] for i in range(3)}, **d}, id="gone members first"),
        pytest.param(
            lambda d: {k: v for i, (k, v) in enumerate(d.items()) for k, v in ((k, v), (k + "~gone", [i]))},
            id="a gone member after every one",
        ),
    ],
)
@pytest.mark.parametrize("change", ["leave one", "leave three in a row", "join", "join and leave"])
def test_previous_in_any_order_or_identity_gives_the_reference_answer(reshape, change):
    members = [f"m{i:03d}" for i in range(40)]
    before = assign(400, members)
    now = {
        "leave one": members[:20] + members[21:],
        "leave three in a row": members[:20] + members[23:],
        "join": members + ["m0205", "zz"],
        "join and leave": members[1:10] + ["m0095"] + members[12:],
    }[change]
    previous = reshape(before)
    assert assign(400, now, previous=previous) == reference.assign(400, now, previous)
