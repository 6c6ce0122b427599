"""The pure-Python core against the compiled one, call by call: same results, same errors.

The contract tests (test_partitioner.py, test_assign.py, tests/property) already run
against both cores (see tests/core_impls.py); this file calls both directly on the same
inputs, including the odd ones (subclasses that override their conversions, buffers of
every shape, errors met in a particular order), and compares what comes back.
"""

from __future__ import annotations

import collections
import enum
import inspect
import random
from array import array
from decimal import Decimal
from fractions import Fraction

import pytest

from ringfast import _pycore

_core = pytest.importorskip("ringfast._core", reason="the compiled core is not installed: nothing to compare with")


class Loud(str):
    def encode(self, *a, **k):  # the core hashes the stored text, never calls this
        return b"overridden"


class Lying(int):
    def __repr__(self):
        return "999"

    __str__ = __repr__

    def __int__(self):
        return 999

    def __index__(self):
        return 999


class RawBytes(bytes):
    def __bytes__(self):
        return b"overridden"


class Color(enum.IntEnum):
    RED = 42


KEYS = [
    "",
    "abc",
    "héllo ✓ 𝄞",
    Loud("text"),
    b"",
    b"\x00\xff",
    RawBytes(b"raw"),
    bytearray(b"ba"),
    memoryview(b"view"),
    memoryview(b"0123456789")[::3],
    memoryview(array("I", [1, 2, 3])),
    memoryview(b"abcdefgh").cast("B", (2, 4)),
    0,
    -7,
    2**64 + 3,
    -(2**100),
    Lying(5),
    Color.RED,
]
BAD_KEYS = [None, True, 1.5, (1,), object(), array("I", [1]), "lone \ud800"]


def outcome(fn, *args, **kwargs):
    """What a call gives: its value (arrays as lists) or its exception's type and message."""
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - every exception is part of the contract here
        return ("raises", type(e), str(e))
    if isinstance(result, array):
        return ("array", result.typecode, result.tolist())
    return ("value", result)


def both(name):
    return getattr(_core, name), getattr(_pycore, name)


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
@pytest.mark.parametrize("n", [1, 7, 1000, 2**31 - 1])
def test_every_key_type_hashes_alike(n, seed):
    for key in KEYS + BAD_KEYS:
        assert outcome(_pycore.partition, key, n, seed) == outcome(_core.partition, key, n, seed), key
        assert outcome(_pycore.murmur3, key, seed) == outcome(_core.murmur3, key, seed), key
        c, p = _core.Partitioner(n, seed), _pycore.Partitioner(n, seed)
        assert outcome(p.partition, key) == outcome(c.partition, key), key
        assert outcome(p, key) == outcome(c, key), key
    c, p = _core.Partitioner(n, seed), _pycore.Partitioner(n, seed)
    good = [k for k in KEYS if not isinstance(k, memoryview)]
    assert outcome(p.partition_many, good) == outcome(c.partition_many, good)
    assert outcome(p.partition_many, iter(good)) == outcome(c.partition_many, iter(good))
    for bad in BAD_KEYS:
        assert outcome(p.partition_many, good + [bad]) == outcome(c.partition_many, good + [bad]), bad


@pytest.mark.parametrize(
    "args",
    [
        (0,),
        (-1,),
        (2**31,),
        ("10",),
        (10.0,),
        (None,),
        (True,),
        (10, -1),
        (10, 2**32),
        (10, 1.0),
        (10, False),
        (Color.RED,),
        (10, Color.RED),
        (Lying(0),),  # checked on its value (0), not on what its methods say (999)
        (Lying(2**31),),
        (10, Lying(-1)),
        (2**63 - 1,),  # beyond 64 bits the compiled core reports the size, not the number
        (2**63,),
        (-(2**63),),
        (-(2**63) - 1,),
        (-(2**100),),
        (10, 2**64),
        (10, -(2**70)),
    ],
)
def test_bad_and_odd_arguments_alike(args):
    for fn in ("partition", "murmur3"):
        compiled, pure = both(fn)
        call_args = ("key", *args) if fn == "partition" else ("key", *args[1:])
        assert outcome(pure, *call_args) == outcome(compiled, *call_args)
    made = outcome(_pycore.Partitioner, *args), outcome(_core.Partitioner, *args)
    if made[0][0] == "value":
        p, c = made[0][1], made[1][1]
        assert (p.num_partitions, p.seed, repr(p)) == (c.num_partitions, c.seed, repr(c))
        assert type(p.num_partitions) is int and type(p.seed) is int
    else:
        assert made[0] == made[1]


RECORDS = b"".join(bytes([i]) * 3 + b"-" + bytes(4) for i in range(20))  # 20 records of 8 bytes


@pytest.mark.parametrize(
    "keys, width",
    [
        (RECORDS, 8),
        (bytearray(RECORDS), 4),
        (memoryview(RECORDS), 1),
        (array("B", RECORDS), 16),
        (array("I", range(10)), 4),
        (memoryview(RECORDS).cast("B", (20, 8)), 8),
        (b"", 3),
        (RECORDS, 7),
        (RECORDS, 0),
        (RECORDS, -2),
        (RECORDS, "8"),
        (RECORDS, True),
        (RECORDS, Color.RED),
        (RECORDS, 2**70),
        (RECORDS, -(2**70)),
        (RECORDS, 2**63),
        (RECORDS, 2**63 - 1),
        (b"", 2**63 - 1),
        (RECORDS, Lying(0)),  # its value is 0, whatever its methods say
        (RECORDS, Lying(8)),
        (["abcd"], 4),
        ("abcd", 4),
    ],
)
def test_fixed_width_records_alike(keys, width):
    c, p = _core.Partitioner(97, 5), _pycore.Partitioner(97, 5)
    assert outcome(p.partition_many, keys, width=width) == outcome(c.partition_many, keys, width=width)


def test_non_contiguous_records_are_refused_alike():
    keys = memoryview(RECORDS)[::2]
    c, p = _core.Partitioner(97), _pycore.Partitioner(97)
    got, want = outcome(p.partition_many, keys, width=4), outcome(c.partition_many, keys, width=4)
    # the text after the colon is the buffer protocol's own explanation, which differs
    assert got[0] == want[0] == "raises" and got[1] is want[1]
    assert got[2].split(":")[0] == want[2].split(":")[0]


def _out_buffers():
    return [
        ("array I", lambda n: array("I", [7] * n), True),
        ("array I too long", lambda n: array("I", [7] * (n + 1)), True),
        ("array I too short", lambda n: array("I", [7] * max(n - 1, 0)), True),
        ("uint32 view of a bytearray", lambda n: memoryview(bytearray(4 * n)).cast("I"), True),
        ("array i (signed)", lambda n: array("i", [0] * n), False),
        ("array d", lambda n: array("d", [0.0] * n), False),
        ("bytearray", lambda n: bytearray(4 * n), False),
        ("read-only bytes", lambda n: bytes(4 * n), False),
        ("2-D uint32", lambda n: memoryview(bytearray(8 * n)).cast("I", (n, 2)), False),
        ("not a buffer", lambda n: [0] * n, False),
    ]


@pytest.mark.parametrize("label, make, exact", _out_buffers(), ids=[b[0] for b in _out_buffers()])
@pytest.mark.parametrize("form", ["list", "iterator", "records"])
def test_out_buffers_alike(label, make, exact, form):
    """Accepted and refused alike. Refusals compare type and the text before the colon
    (after it is Cython's or the buffer protocol's own wording) unless `exact`."""
    keys = ["a", "b", 3, b"d"]
    results = []
    for impl in (_core, _pycore):
        out = make(4)
        part = impl.Partitioner(10)
        try:
            if form == "list":
                res = part.partition_many(keys, out=out)
            elif form == "iterator":
                res = part.partition_many(iter(keys), out=out)
            else:
                res = part.partition_many(b"aaaabbbbccccdddd", width=4, out=out)
        except Exception as e:  # noqa: BLE001
            results.append(("raises", type(e), str(e)))
        else:
            results.append(("filled", res is out, bytes(memoryview(out).cast("B"))))
    compiled, pure = results
    if compiled[0] == "raises" and not exact:
        assert pure[:2] == compiled[:2]
        assert pure[2].split(":")[0] == compiled[2].split(":")[0]
    else:
        assert pure == compiled
    assert (compiled[0] == "filled") == (label in ("array I", "uint32 view of a bytearray"))


class _IterRaisesTypeError:
    def __iter__(self):
        raise TypeError("its own")


def _raises_while_iterating():
    yield "a"
    raise TypeError("raised by the iterable itself, not a refusal")


class _ListWithItsOwnIter(list):
    def __iter__(self):
        return iter(["x", "y"])


def test_partition_many_refusals_alike():
    c, p = _core.Partitioner(10), _pycore.Partitioner(10)
    for keys in ("abc", b"abc", bytearray(b"x"), memoryview(b"x"), 42, None, 1.5, _IterRaisesTypeError):
        assert outcome(p.partition_many, keys) == outcome(c.partition_many, keys), keys
        assert outcome(p.partition_many, keys, out=array("I")) == outcome(c.partition_many, keys, out=array("I")), keys
    for make in (_raises_while_iterating, lambda: _ListWithItsOwnIter(["a"]), lambda: {"a": 1, 2: 3}, lambda: range(3)):
        assert outcome(p.partition_many, make()) == outcome(c.partition_many, make()), make
        n = len(list(_core.Partitioner(10).partition_many(make()))) if make is not _raises_while_iterating else 1
        got = outcome(p.partition_many, make(), out=array("I", [0] * n))
        assert got == outcome(c.partition_many, make(), out=array("I", [0] * n)), make


def test_out_of_any_four_byte_unsigned_format_is_taken_alike():
    """Cython's unsigned int[::1] takes any native-order unsigned code of 4 bytes: '=L' too
    (and plain 'L' where a C long has 32 bits), not the other byte order."""
    testbuffer = pytest.importorskip("_testbuffer")
    for fmt in ("I", "=I", "@I", "=L", "L", "i", ">I", "!I", "Q", "f"):
        results = []
        for impl in (_core, _pycore):
            out = testbuffer.ndarray([0, 0], shape=[2], format=fmt, flags=testbuffer.ND_WRITABLE)
            got = outcome(impl.Partitioner(10).partition_many, ["a", "b"], out=out)
            results.append((got[0], got[1]) if got[0] == "raises" else (got[0], out.tolist()))
        assert results[0] == results[1], fmt


def test_partitioner_is_an_immutable_value_like_the_compiled_one():
    p = _pycore.Partitioner(12, seed=5)
    for attr in ("num_partitions", "seed", "anything"):
        with pytest.raises(AttributeError):
            setattr(p, attr, 3)
    assert p == _pycore.Partitioner(12, 5) and hash(p) == hash(_pycore.Partitioner(12, 5))
    assert p != _pycore.Partitioner(12, 6)
    assert repr(p) == repr(_core.Partitioner(12, seed=5))


class _OddFloat(float):
    def __float__(self):
        return 1e300


class _Mapping(collections.abc.Mapping):
    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


# Each case builds its arguments afresh (generators and iterators are used up by a call).
ASSIGN_CASES = [
    lambda: (10, ["a", "b", "c"], None, None),
    lambda: (3, [f"m{i}" for i in range(7)], None, None),
    lambda: (10, [], None, None),
    lambda: (10, ["a", "b", "a"], None, None),
    lambda: (10, ["b", "a", "b"], {"a": [1]}, {"a": "x"}),  # duplicate and bad weight: which is reported
    lambda: (10, ["a", 3], None, None),
    lambda: (10, "abc", None, None),
    lambda: (10, 42, None, None),
    lambda: (10, (m for m in ["x", "y"]), None, None),
    lambda: (0, ["a"], None, None),
    lambda: (2**31, ["a"], None, None),
    lambda: (10.0, ["a"], None, None),
    lambda: (Color.RED, ["a", "b"], None, None),
    lambda: (10, ["a"], [("a", [1])], None),
    lambda: (10, ["a"], {"a": [1, "2"]}, None),
    lambda: (10, ["a"], {"a": [True]}, None),
    lambda: (10, ["a"], {"a": [-1]}, None),
    lambda: (10, ["a"], {"a": [-(2**100)]}, None),
    lambda: (10, ["a"], {"a": 5}, None),
    lambda: (10, ["a"], {"a": None}, None),
    lambda: (10, ["a", "b"], {"gone": ["junk", -5], "a": [9, 2**70, Color.RED]}, None),
    lambda: (10, ["a", "b"], {"b": [1, 1, 2], "a": [1, 3]}, None),
    lambda: (10, ["a", "b"], {"a": iter([4, 5]), "b": (6,)}, None),
    lambda: (10, ["a", "b"], _Mapping({"a": [0, 1, 2, 3, 4, 5, 6, 7]}), None),
    lambda: (10, ["a", "b"], collections.OrderedDict(b=[0, 1, 2, 3, 4, 5, 6]), None),
    lambda: (10, ["a", "b"], None, {"a": 0}),
    lambda: (10, ["a", "b"], None, {"a": -1.5}),
    lambda: (10, ["a", "b"], None, {"a": float("nan")}),
    lambda: (10, ["a", "b"], None, {"a": float("inf")}),
    lambda: (10, ["a", "b"], None, {"a": "2"}),
    lambda: (10, ["a", "b"], None, {"a": True}),
    lambda: (10, ["a", "b"], None, [1, 2]),
    lambda: (10, ["a", "b"], None, {"a": 1e308, "b": 1e308}),
    lambda: (10, ["a", "b"], None, {"a": 10**400}),
    lambda: (10, ["a", "b"], None, {"a": 3, "b": 0.5, "zzz": 100}),
    lambda: (100, ["a", "b", "c"], None, {"a": 1e-300, "b": 1.0, "c": 2.0}),
    # previous entries: any iterable of ints (by value), refused otherwise
    lambda: (10, ["a", "b"], {"a": (p for p in [4, 5]), "b": {6, 7}}, None),
    lambda: (10, ["a", "b"], {"a": b"\x01\x02", "b": range(3, 5)}, None),  # bytes: an iterable of ints
    lambda: (10, ["a"], {"a": "12"}, None),
    lambda: (10, ["a"], {"a": 1.5}, None),
    lambda: (10, ["a"], {"a": [1.0]}, None),
    lambda: (10, ["a"], {"a": [Lying(3), Color.RED]}, None),  # by value: 3 and 42
    lambda: (10, ["a"], {"a": [Lying(-1)]}, None),
    lambda: (10, ["a"], {"a": _IterRaisesTypeError()}, None),
    lambda: (10, ["a"], {"a": _raises_while_iterating()}, None),
    lambda: (10, ["a", "b"], {"a": ["x"], "b": None}, None),  # the first in id order is reported
    lambda: (10, ["a", "b"], {"b": ["x"], "a": None}, None),
    lambda: (10, ["a"], {"gone": None, "other": 5}, None),  # entries of members that are gone: never read
    lambda: (10, ["a", "b"], {"a": None}, {"a": "x"}),  # previous is checked before weights
    # weights: any real number by its float(); too large for the quota arithmetic refused
    lambda: (10, ["a", "b"], None, {"a": Decimal("2.5"), "b": Fraction(1, 3)}),
    lambda: (10, ["a", "b"], None, {"a": Decimal("NaN")}),
    lambda: (10, ["a", "b"], None, {"a": Decimal("sNaN")}),
    lambda: (10, ["a", "b"], None, {"a": Decimal("1e-400")}),
    lambda: (10, ["a", "b"], None, {"a": Decimal("1e400")}),
    lambda: (10, ["a", "b"], None, {"a": Fraction(10**400)}),
    lambda: (10, ["a", "b"], None, {"a": Fraction(-1, 3)}),
    lambda: (10, ["a", "b"], None, {"a": complex(1, 0)}),
    lambda: (10, ["a", "b"], None, {"a": None}),
    lambda: (10, ["a", "b"], None, {"a": Lying(3)}),  # an int subclass by value
    lambda: (10, ["a", "b"], None, {"a": _OddFloat(2.0)}),  # a float subclass by value, not __float__
    lambda: (10, ["a", "b"], None, {"a": 8e307, "b": 8e307}),
    lambda: (1000, ["a", "b", "c"], None, {"a": 1e306, "b": 1e306, "c": 1.0}),
    lambda: (10, ["a", "b"], None, {"a": 1.7e307, "b": 1.7e307}),  # each fits, the sum does not
    lambda: (10, ["a", "b", "c"], None, {"a": 1.7e307, "b": 1.7e307, "c": 1e-300}),
    lambda: (17, ["a", "b"], None, {"a": 5e-324, "b": 1e300}),
    lambda: (10, ["a", "b"], None, {"a": -(10**400)}),
    lambda: (10, ["a", "b"], None, _Mapping({"a": 2})),
]


@pytest.mark.parametrize("case", ASSIGN_CASES, ids=[f"case{i}" for i in range(len(ASSIGN_CASES))])
def test_assign_cases_alike(case):
    # each core gets its own copy of the arguments: generators and iterators are used up
    assert outcome(_pycore.assign, *case()) == outcome(_core.assign, *case())


def test_random_histories_assign_alike():
    """Chains of joins, leaves and weight changes, each step's previous being the last
    result (as the leader uses it), reshuffled or copied now and then."""
    rnd = random.Random(1414)
    for _ in range(40):
        P = rnd.choice([1, 5, 64, 1000])
        pool = [f"n{i:02d}" for i in range(rnd.randint(1, 30))]
        members = rnd.sample(pool, rnd.randint(1, len(pool)))
        previous = None
        for _ in range(6):
            weights = {m: rnd.choice([1, 2, 0.5, 3.25]) for m in members} if rnd.random() < 0.4 else None
            want = _core.assign(P, members, previous, weights)
            got = _pycore.assign(P, members, previous, weights)
            assert got == want
            assert list(got) == list(want)  # same key order too: sorted ids
            previous = want
            if rnd.random() < 0.3:
                previous = dict(rnd.sample(list(previous.items()), len(previous)))
            members = rnd.sample(pool, rnd.randint(1, len(pool)))


def test_random_keys_partition_alike():
    rnd = random.Random(77)
    keys = []
    for _ in range(3000):
        kind = rnd.randrange(4)
        if kind == 0:
            keys.append("".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(160, 0x2FFF)])) for _ in range(rnd.randrange(12))))
        elif kind == 1:
            keys.append(rnd.randbytes(rnd.randrange(20)))
        elif kind == 2:
            keys.append(rnd.randrange(-(2**70), 2**70))
        else:
            keys.append(bytearray(rnd.randbytes(rnd.randrange(9))))
    for n, seed in [(1, 0), (10, 0), (12345, 99), (2**31 - 1, 2**32 - 1)]:
        c, p = _core.Partitioner(n, seed), _pycore.Partitioner(n, seed)
        assert p.partition_many(keys) == c.partition_many(keys)


def test_results_share_their_int_objects_as_the_compiled_ones_do():
    """A previous result holds the very ints of the next one (the compiled core relies on
    it to recognise runs; the pure one shares them the same way, up to the same limit)."""
    a = _pycore.assign(5000, ["a", "b", "c"])
    b = _pycore.assign(5000, ["a", "b"], previous=a)
    assert a["b"][0] is b["b"][0]


def test_a_bad_out_is_reported_before_a_bad_key_as_in_the_compiled_core():
    makers = [lambda: ["a", None], lambda: ("a", 1.5), lambda: iter(["a", None])]
    outs = [lambda: array("I", [0] * 3), lambda: array("d", [0.0, 0.0]), lambda: array("I", [0] * 2)]
    for make_keys in makers:
        for make_out in outs:
            got = outcome(_pycore.Partitioner(10).partition_many, make_keys(), out=make_out())
            want = outcome(_core.Partitioner(10).partition_many, make_keys(), out=make_out())
            assert got[0] == want[0] == "raises"
            assert got[1] is want[1], (got, want)
            assert got[2].split(":")[0] == want[2].split(":")[0]
