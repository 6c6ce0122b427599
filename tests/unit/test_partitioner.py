"""The partitioner's contract: mmh3-equal, typed keys, strict arguments."""

import enum
import gc
import pickle
from array import array

import mmh3
import pytest

import ringfast
from ringfast import ConfigError, InvalidTypeError, Partitioner, RingfastError, partition
from reference import bytes_of

KEYS = [
    "",
    "a",
    "ab",
    "abc",
    "abcd",
    "abcde",
    "key-123456",
    "héllo wörld ✓ 𝄞",
    b"",
    b"\x00\xff\x10binary",
    bytearray(b"mutable bytes"),
    memoryview(b"a view of bytes"),
    0,
    7,
    -1,
    1234567890123,
    -(2**63),
    2**63 - 1,
    2**64,
    -(2**100) - 17,
]


def oracle(key, n, seed=0):
    return mmh3.hash(bytes_of(key), seed, signed=False) % n


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000, 2**31 - 1])
@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF, 2**32 - 1])
def test_partition_matches_mmh3_for_every_key_type(n, seed):
    p = Partitioner(n, seed)
    for key in KEYS:
        want = oracle(key, n, seed)
        assert p.partition(key) == want, key
        assert p(key) == want, key
        assert partition(key, n, seed) == want, key


def test_module_function_defaults_are_ten_partitions_seed_zero():
    for key in KEYS:
        assert partition(key) == oracle(key, 10, 0)


def test_int_and_its_decimal_text_agree():
    p = Partitioner(1009)
    for i in [0, 1, -1, 42, 10**18, -(10**30), 2**200]:
        assert p.partition(i) == p.partition(str(i)) == p.partition(str(i).encode())


def test_int_and_str_subclasses_hash_by_value():
    class Color(enum.IntEnum):
        RED = 42

    class Name(str):
        pass

    class Raw(bytes):
        pass

    p = Partitioner(97)
    assert p.partition(Color.RED) == p.partition(42)  # not str(Color.RED) == "Color.RED"
    assert p.partition(Name("abc")) == p.partition("abc")
    assert p.partition(Name("ñandú")) == p.partition("ñandú")
    assert p.partition(Raw(b"abc")) == p.partition(b"abc")


def test_non_contiguous_memoryview_hashes_its_bytes():
    data = bytes(range(40))
    mv = memoryview(data)[::2]
    assert not mv.c_contiguous
    assert Partitioner(13).partition(mv) == oracle(bytes(mv), 13)
    wide = memoryview(array("I", [1, 2, 3]))
    assert Partitioner(13).partition(wide) == oracle(wide.tobytes(), 13)


@pytest.mark.parametrize("key", [1.5, None, True, False, (1, 2), ["a"], object(), {"a": 1}, array("I", [1])])
def test_unsupported_key_types_raise_type_error_naming_the_type(key):
    with pytest.raises(InvalidTypeError) as info:
        Partitioner(10).partition(key)
    assert isinstance(info.value, TypeError) and isinstance(info.value, RingfastError)
    assert type(key).__name__ in str(info.value)
    with pytest.raises(InvalidTypeError):
        partition(key)
    with pytest.raises(InvalidTypeError):
        Partitioner(10).partition_many(["ok", key])


def test_lone_surrogate_is_a_unicode_encode_error():
    with pytest.raises(UnicodeEncodeError):
        Partitioner(10).partition("bad \ud800 text")
    with pytest.raises(ValueError):
        Partitioner(10).partition_many(["fine", "bad \udfff"])


@pytest.mark.parametrize("n", [0, -1, 2**31, 2**40])
def test_num_partitions_out_of_range_is_a_value_error_naming_it(n):
    with pytest.raises(ConfigError, match=f"num_partitions.*{n}"):
        Partitioner(n)
    with pytest.raises(ValueError):
        partition("k", n)


@pytest.mark.parametrize("n", ["10", 10.0, None, True])
def test_num_partitions_of_wrong_type_is_a_type_error(n):
    with pytest.raises(InvalidTypeError, match="num_partitions"):
        Partitioner(n)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_out_of_range(seed):
    with pytest.raises(ConfigError, match="seed"):
        Partitioner(10, seed)
    with pytest.raises(ConfigError, match="seed"):
        partition("k", 10, seed)


def test_attributes_are_read_only_and_object_is_a_value():
    p = Partitioner(12, seed=5)
    assert (p.num_partitions, p.seed) == (12, 5)
    with pytest.raises(AttributeError):
        p.num_partitions = 3
    with pytest.raises(AttributeError):
        p.seed = 3
    q = pickle.loads(pickle.dumps(p))
    assert q == p and hash(q) == hash(p) and q.partition("x") == p.partition("x")
    assert p != Partitioner(12, seed=6)
    assert repr(p) == "Partitioner(num_partitions=12, seed=5)"


# --------------------------------------------------------------------------- partition_many

KEYS_FOR_MANY = [k for k in KEYS if not isinstance(k, memoryview)] * 3


def test_partition_many_on_list_tuple_and_iterables_equals_per_key():
    p = Partitioner(31, seed=9)
    want = [p.partition(k) for k in KEYS_FOR_MANY]
    for keys in (list(KEYS_FOR_MANY), tuple(KEYS_FOR_MANY), iter(KEYS_FOR_MANY), (k for k in KEYS_FOR_MANY)):
        got = p.partition_many(keys)
        assert isinstance(got, array) and got.typecode == "I"
        assert got.tolist() == want


def test_partition_many_iterable_longer_than_its_growth_step():
    p = Partitioner(1000)
    keys = [f"k{i}" for i in range(5000)]
    assert p.partition_many(iter(keys)).tolist() == [oracle(k, 1000) for k in keys]


def test_partition_many_empty_inputs():
    p = Partitioner(7)
    assert p.partition_many([]).tolist() == []
    assert p.partition_many(iter(())).tolist() == []
    assert p.partition_many(b"", width=8).tolist() == []


def test_partition_many_of_fixed_width_records():
    p = Partitioner(101, seed=3)
    records = [bytes([i]) * 5 + b"-rec" + bytes(7) for i in range(64)]  # 16 bytes each
    buf = b"".join(records)
    want = [oracle(r, 101, 3) for r in records]
    assert p.partition_many(buf, width=16).tolist() == want
    assert p.partition_many(bytearray(buf), width=16).tolist() == want
    assert p.partition_many(memoryview(buf), width=16).tolist() == want
    assert p.partition_many(array("B", buf), width=16).tolist() == want


def test_partition_many_writes_into_out():
    p = Partitioner(10)
    keys = ["a", "b", "c", 4]
    out = array("I", [0xFFFFFFFF] * 4)
    assert p.partition_many(keys, out=out) is out
    assert out.tolist() == [p.partition(k) for k in keys]
    out2 = array("I", [0] * 4)
    assert p.partition_many(iter(keys), out=out2) is out2 and out2 == out
    recs = array("I", [0] * 2)
    p.partition_many(b"aaaabbbb", width=4, out=recs)
    assert recs.tolist() == [p.partition(b"aaaa"), p.partition(b"bbbb")]


def test_partition_many_rejects_bad_out_and_width():
    p = Partitioner(10)
    with pytest.raises(ConfigError, match="out has 3 items but there are 2 keys"):
        p.partition_many(["a", "b"], out=array("I", [0] * 3))
    with pytest.raises(InvalidTypeError, match="out must be"):
        p.partition_many(["a", "b"], out=array("d", [0.0] * 2))
    with pytest.raises(InvalidTypeError, match="out must be"):
        p.partition_many(["a", "b"], out=b"12345678")  # read-only
    with pytest.raises(ConfigError, match="not a whole number of 4-byte records"):
        p.partition_many(b"abcdefg", width=4)
    with pytest.raises(ConfigError, match="width must be at least 1, got 0"):
        p.partition_many(b"abcd", width=0)
    with pytest.raises(InvalidTypeError, match="width must be an int"):
        p.partition_many(b"abcd", width="4")
    with pytest.raises(InvalidTypeError, match="contiguous buffer"):
        p.partition_many(["abcd"], width=4)


def _records_refused_with_value_error():
    """Buffers whose exporter refuses a simple (contiguous) view with ValueError rather than
    BufferError: a released memoryview, and numpy's strided or Fortran-ordered arrays."""
    released = memoryview(b"abcdabcd")
    released.release()
    cases = [pytest.param(lambda: released, id="released-memoryview")]
    try:
        import numpy as np
    except ImportError:
        return cases
    return cases + [
        pytest.param(lambda: np.arange(16, dtype=np.uint8)[::2], id="numpy-strided"),
        pytest.param(lambda: np.asfortranarray(np.arange(16, dtype=np.uint8).reshape(4, 4)), id="numpy-fortran"),
    ]


@pytest.mark.parametrize("make", _records_refused_with_value_error())
def test_partition_many_refuses_records_no_contiguous_view_is_had_of(make):
    # InvalidTypeError (a TypeError) as for any other buffer that is not contiguous, never
    # the exporter's own ValueError
    with pytest.raises(InvalidTypeError, match="with width=, keys must be a contiguous buffer"):
        Partitioner(10).partition_many(make(), width=4)


@pytest.mark.parametrize("keys", ["abc", b"abc", bytearray(b"abc"), memoryview(b"abc")])
def test_partition_many_refuses_a_single_str_or_bytes_without_width(keys):
    with pytest.raises(InvalidTypeError, match="width="):
        Partitioner(10).partition_many(keys)


def test_partition_many_refuses_non_iterables():
    with pytest.raises(InvalidTypeError, match="keys must be iterable, not int: 42"):
        Partitioner(10).partition_many(42)
    with pytest.raises(InvalidTypeError, match="keys must be iterable"):
        Partitioner(10).partition_many(42, out=array("I"))


def test_murmur3_is_exported_and_unsigned():
    for key in KEYS:
        assert ringfast.murmur3(key) == mmh3.hash(bytes_of(key), 0, signed=False)
        assert ringfast.murmur3(key, 77) == mmh3.hash(bytes_of(key), 77, signed=False)


class _ClearsOnCollection:
    """Garbage in a reference cycle whose finalizer empties a list: a collection started by
    any allocation inside partition_many() then changes the list under it."""

    def __init__(self, victim):
        self.victim = victim
        self.me = self

    def __del__(self):
        self.victim.clear()


def test_partition_many_never_reads_a_list_a_finalizer_changed():
    p = Partitioner(7)
    # a non-contiguous memoryview takes the slow path, which allocates
    keys = [memoryview(b"abcdef")[::2]] + [f"key-{i}" for i in range(5000)] + [memoryview(b"xyz")[::2]]
    want = array("I", [p.partition(k) for k in keys])
    many = p.partition_many  # bound before the collections are forced
    threshold = gc.get_threshold()
    gc.collect()
    _ClearsOnCollection(keys)  # now unreachable: the next collection runs its finalizer
    gc.set_threshold(1)  # ...and the next tracked allocation starts one
    try:
        outcome = many(keys)
    except RuntimeError as e:
        outcome = e
    finally:
        gc.set_threshold(*threshold)
    gc.collect()
    assert keys == []  # the finalizer did run
    if isinstance(outcome, RuntimeError):  # it ran during the call (CPython <= 3.11 collects there)
        assert "keys changed size during partition_many (was 5002 keys)" in str(outcome)
    else:  # it ran after the call returned (3.12+ collects between bytecodes)
        assert outcome == want
