"""The compiled core under hostile inputs: what crashed, hung or disagreed with the twin.

Inputs that used to crash the interpreter (segfault, illegal instruction) or spin for
hours run in a child process with a deadline, so a regression fails this test instead of
killing pytest. Each child prints what happened; the test checks it.
"""

import decimal
import fractions
import numbers
import subprocess
import sys
import textwrap
from array import array

import pytest

import reference
from ringfast import AssignmentError, ConfigError, InvalidTypeError, Partitioner, assign, partition


def run_child(code, timeout=60):
    """stdout of `code` run by a fresh interpreter; fails on a crash, a hang or an error."""
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child did not finish within {timeout}s (a spin?)")
    assert proc.returncode == 0, f"child exited with {proc.returncode} (negative: killed by that signal)\n{proc.stderr[-3000:]}"
    return proc.stdout.splitlines()


# --------------------------------------------------------------------------- 1. huge weights


HUGE_WEIGHTS = [
    (10, ["a", "b"], {"a": 8e307, "b": 8e307}),  # segfaulted: read/write before owner[]
    (10, ["a"], {"a": 1e308}),  # spun ~2**63 iterations holding the GIL
    (1000, ["a", "b", "c"], {"a": 1e306, "b": 1e306, "c": 1.0}),  # segfaulted
    (3, ["a", "b"], {"a": 10**400, "b": 1}),  # an int with no double
    (7, ["a", "b"], {"a": fractions.Fraction(10**400), "b": 1}),
]


def test_weights_too_large_for_the_quota_arithmetic_are_refused_not_crashing():
    lines = run_child(f"""
        from fractions import Fraction
        from ringfast import assign
        for P, members, weights in {HUGE_WEIGHTS!r}:
            try:
                assign(P, members, weights=weights)
                print("returned")
            except Exception as e:
                print(type(e).__name__, e)
    """, timeout=30)
    assert len(lines) == len(HUGE_WEIGHTS)
    assert all(line.startswith("AssignmentError weight of 'a'") for line in lines), lines
    assert "10 partitions * 8e+307 overflows" in lines[0]
    for P, members, weights in HUGE_WEIGHTS:  # the twin agrees
        with pytest.raises(AssignmentError):
            reference.assign(P, members, weights=weights)


def test_largest_accepted_weights_and_subnormal_ones_give_the_twins_answer():
    cases = [
        (10, ["a", "b", "c"], {"a": 1.7e307, "b": 1.7e307, "c": 1e-300}),
        (2**31 - 1, ["a"], {"a": 8e298}),
        (100, ["a", "b", "c"], {"a": 5e-324, "b": 1e-323, "c": 2.5e-322}),  # subnormals
        (17, ["a", "b"], {"a": 5e-324, "b": 1e300}),
    ]
    for P, members, weights in cases[:1] + cases[2:]:
        result = assign(P, members, weights=weights)
        assert result == reference.assign(P, members, weights=weights)
        assert sorted(p for parts in result.values() for p in parts) == list(range(P))
    P, members, weights = cases[1]  # two billion partitions: check the sizes only
    assert reference.quotas(P, members, weights)[0] == [P]


# --------------------------------------------------------------------------- 2. out resized


OUT_RESIZED = """
    import gc
    from array import array
    from ringfast import Partitioner, ConfigError

    # A chain of garbage cycles whose finalizers run one per collection; the k-th empties
    # `out`. With the collection threshold at 1, collections run at the allocations inside
    # partition_many(), so for some k that is between its length check and its writes.
    N = 300_000
    keys = ["k%d" % i for i in range(N)]
    records = b"abcd" * N
    p = Partitioner(7)
    want_keys = p.partition_many(keys)
    want_records = p.partition_many(records, width=4)

    class Shrink:
        def __init__(self, state):
            self.state, self.me = state, self
        def __del__(self):
            st = self.state
            st["count"] += 1
            if st["count"] == st["k"]:
                try:
                    del st["out"][:]
                    st["emptied"] = True
                except BufferError:  # the buffer is held: exactly what must happen
                    pass
            else:
                Shrink(st)
                for _ in range(st["extra"]):
                    st["junk"].append([])

    for path in ("list", "records"):
        for extra in range(4):
            for k in range(1, 8):
                out = array("I", bytes(4 * N))
                state = {"count": 0, "k": k, "extra": extra, "junk": [], "out": out}
                args, kw = ((keys,), {"out": out}) if path == "list" else ((records,), {"width": 4, "out": out})
                gc.collect()
                Shrink(state)
                gc.set_threshold(1)
                try:
                    got = p.partition_many(*args, **kw)
                    want = want_keys if path == "list" else want_records
                    if got is not out:
                        outcome = "WRONG OBJECT"
                    elif len(out) == N:
                        outcome = "filled" if out == want else "WRONG VALUES"
                    else:  # emptied once the call had returned (3.12+ collects between bytecodes)
                        outcome = "emptied-after" if state.get("emptied") and not out else "WRONG SIZE"
                except ConfigError:
                    outcome = "refused"  # emptied before the length check
                finally:
                    gc.set_threshold(700)
                    gc.collect()
                print(path, extra, k, outcome)
"""


def test_out_resized_by_a_finalizer_is_never_written_past_its_end():
    lines = run_child(OUT_RESIZED, timeout=120)
    assert len(lines) == 2 * 4 * 7
    outcomes = {line.rsplit(" ", 1)[1] for line in lines}
    assert outcomes <= {"filled", "refused", "emptied-after"}, [line for line in lines if "WRONG" in line]
    assert "filled" in outcomes


@pytest.mark.skipif(sys.version_info < (3, 12), reason="a Python-level __buffer__ needs Python 3.12")
def test_out_whose_buffer_shrinks_on_each_request_is_read_once():
    """From 3.12 a class can hand out a different buffer on each request, no collection
    needed: one big enough for the length check, then an empty one for the writes."""
    lines = run_child("""
        from array import array
        from ringfast import Partitioner

        class Shrinking:
            def __init__(self, n):
                self.sizes = [n, 0, 0, 0]
            def __buffer__(self, flags):
                return memoryview(array("I", bytes(4 * self.sizes.pop(0))))
            def __release_buffer__(self, view):
                pass

        n = 300_000
        for args, kw in ((["k%d" % i for i in range(n)],), {}), ((b"abcd" * n,), {"width": 4}):
            out = Shrinking(n)
            print(type(Partitioner(7).partition_many(*args, out=out, **kw)).__name__)
    """)
    assert lines == ["Shrinking", "Shrinking"]


# --------------------------------------------------------------------------- 3. lying ints


LIAR = """
    class Liar(int):
        '''An int whose comparisons say whatever passes a range check.'''
        def __lt__(self, other): return False
        def __gt__(self, other): return False
        def __le__(self, other): return True
        def __ge__(self, other): return True
"""


def test_int_subclass_with_lying_comparisons_cannot_pass_a_range_check():
    lines = run_child(LIAR + """
    from ringfast import Partitioner, partition, assign
    calls = [
        lambda: Partitioner(10).partition_many(b"abcd", width=Liar(0)),  # was: illegal instruction
        lambda: Partitioner(10).partition_many(b"abcd", width=Liar(-4)),
        lambda: Partitioner(Liar(0)),  # was: SystemError
        lambda: partition("k", Liar(0)),
        lambda: partition("k", Liar(2**31)),
        lambda: Partitioner(10, Liar(-1)),
        lambda: assign(Liar(0), ["a"]),
    ]
    for call in calls:
        try:
            call()
            print("accepted")
        except Exception as e:
            print(type(e).__name__, e)
    """, timeout=30)
    assert lines == [
        "ConfigError width must be at least 1, got 0",
        "ConfigError width must be at least 1, got -4",
        "ConfigError num_partitions must be in [1, 2147483647], got 0",
        "ConfigError num_partitions must be in [1, 2147483647], got 0",
        "ConfigError num_partitions must be in [1, 2147483647], got 2147483648",
        "ConfigError seed must be in [0, 4294967295], got -1",
        "ConfigError num_partitions must be in [1, 2147483647], got 0",
    ]


def test_int_subclass_arguments_count_by_their_value():
    class Five(int):
        def __int__(self):
            return 99

        def __index__(self):
            return 99

    p = Partitioner(Five(5), seed=Five(5))
    assert (p.num_partitions, p.seed) == (5, 5)
    assert p.partition_many(b"abcdefghij", width=Five(5)).tolist() == reference.partition_many(
        b"abcdefghij", 5, 5, width=Five(5)
    )


# --------------------------------------------------------------------------- 4. twin agreement


class _LyingInt(int):
    def __int__(self):
        return 1

    def __index__(self):
        return 2

    def __str__(self):
        return "3"

    def __repr__(self):
        return "4"


class _LyingStr(str):
    def encode(self, *args, **kwargs):
        return b"lie"

    def __str__(self):
        return "lie"


class _LyingBytes(bytes):
    def __bytes__(self):
        return b"lie"


class _LyingBytearray(bytearray):
    def __bytes__(self):
        return b"lie"


@pytest.mark.parametrize(
    "key, plain",
    [
        (_LyingInt(1234), 1234),
        (_LyingInt(-(2**70)), -(2**70)),  # beyond 64 bits: formatted by Python
        (_LyingStr("héllo"), "héllo"),
        (_LyingStr("ascii"), "ascii"),
        (_LyingBytes(b"raw"), b"raw"),
        (_LyingBytearray(b"raw"), b"raw"),
    ],
)
def test_subclass_keys_hash_by_their_value_in_the_core_and_the_twin(key, plain):
    want = reference.murmur3_32(reference.bytes_of(plain), 11) % 1009
    assert reference.bytes_of(key) == reference.bytes_of(plain)
    assert reference.partition(key, 1009, 11) == want
    assert partition(key, 1009, 11) == want
    assert Partitioner(1009, 11).partition_many([key, plain]).tolist() == [want, want]


def test_previous_with_a_none_entry_is_refused_by_both():
    for impl in (assign, reference.assign):
        with pytest.raises(InvalidTypeError, match=r"previous\['a'\] is None"):
            impl(4, ["a", "b"], previous={"a": None, "b": [1]})
        # an entry of a member that is gone is never looked at, None or not
        assert impl(4, ["a"], previous={"gone": None}) == {"a": [0, 1, 2, 3]}


class _Real(numbers.Real):
    """A third-party real number type (as numpy registers its scalars): only float() is used."""

    def __init__(self, v):
        self.v = v

    def __float__(self):
        return float(self.v)

    # numbers.Real's abstract methods, none of which assign() may need
    __abs__ = __add__ = __ceil__ = __eq__ = __floor__ = __floordiv__ = __le__ = __lt__ = None
    __mod__ = __mul__ = __neg__ = __pos__ = __pow__ = __radd__ = __rfloordiv__ = __rmod__ = None
    __rmul__ = __round__ = __rpow__ = __rtruediv__ = __truediv__ = __trunc__ = None


def _numpy_weights():
    try:
        import numpy as np
    except ImportError:
        return []
    return [np.int64(3), np.float32(2.5), np.float64(1.5), np.uint8(7)]


@pytest.mark.parametrize(
    "weight",
    [decimal.Decimal("2.5"), fractions.Fraction(5, 2), _Real(2.5), 3, 2.5, *_numpy_weights()],
    ids=repr,
)
def test_any_real_number_is_a_weight_in_the_core_and_the_twin(weight):
    as_float = {"a": float(weight), "b": 1.0, "c": 0.75}
    want = assign(50, ["a", "b", "c"], weights=as_float)
    weights = {"a": weight, "b": 1, "c": decimal.Decimal("0.75")}
    assert assign(50, ["a", "b", "c"], weights=weights) == want
    assert reference.assign(50, ["a", "b", "c"], weights=weights) == want


@pytest.mark.parametrize(
    "weight, err",
    [
        (decimal.Decimal("NaN"), AssignmentError),
        (decimal.Decimal("sNaN"), AssignmentError),
        (decimal.Decimal("-1"), AssignmentError),
        (decimal.Decimal("1e-400"), AssignmentError),  # positive, but 0.0 as a float
        (fractions.Fraction(-1, 3), AssignmentError),
        (complex(1, 0), InvalidTypeError),
        (True, InvalidTypeError),
        (None, InvalidTypeError),
    ],
    ids=repr,
)
def test_bad_weights_of_any_type_are_refused_alike(weight, err):
    for impl in (assign, reference.assign):
        with pytest.raises(err, match="weight of 'a'"):
            impl(10, ["a", "b"], weights={"a": weight})


def test_float_and_int_subclass_weights_count_by_value():
    class Odd(float):
        def __float__(self):
            return 1e300

    class Big(int):
        def __float__(self):
            return 1e300

    weights = {"a": Odd(2.0), "b": Big(1)}
    want = assign(30, ["a", "b"], weights={"a": 2.0, "b": 1.0})
    assert assign(30, ["a", "b"], weights=weights) == want == reference.assign(30, ["a", "b"], weights=weights)


@pytest.mark.parametrize(
    "call",
    [
        lambda impl: impl(10, ["a", "a"]),
        lambda impl: impl(10, ["a", 1]),
        lambda impl: impl(10, []),
        lambda impl: impl(10, "ab"),
        lambda impl: impl(10, ["a"], previous={"a": ["1"]}),
        lambda impl: impl(10, ["a"], previous={"a": [-1]}),
        lambda impl: impl(10, ["a"], previous={"a": 3}),
        lambda impl: impl(10, ["a"], previous=[1]),
        lambda impl: impl(10, ["a"], weights=[1]),
        lambda impl: impl(True, ["a"]),
        lambda impl: impl(0, ["a"]),
    ],
)
def test_the_twin_refuses_what_the_core_refuses_with_the_same_error(call):
    with pytest.raises(Exception) as core:
        call(assign)
    with pytest.raises(Exception) as twin:
        call(reference.assign)
    assert type(core.value) is type(twin.value)


@pytest.mark.parametrize(
    "keys, kw",
    [
        (42, {}),
        ("abc", {}),
        (["a", 1.5], {}),
        (b"abcde", {"width": 2}),
        (b"abcd", {"width": 0}),
        (b"abcd", {"width": "2"}),
        (["a"], {"width": 2}),
        (["a", "b"], {"out": array("I", [0])}),
        (["a"], {"out": array("i", [0])}),
        (["a"], {"out": b"1234"}),
        (iter(["a"]), {"out": array("I", [0, 0])}),
    ],
)
def test_partition_many_errors_agree_with_the_twin(keys, kw):
    with pytest.raises(Exception) as core:
        Partitioner(10).partition_many(keys, **kw)
    with pytest.raises(Exception) as twin:
        reference.partition_many(keys, 10, 0, **kw)
    assert type(core.value) is type(twin.value)
    assert isinstance(core.value, (InvalidTypeError, ConfigError))
