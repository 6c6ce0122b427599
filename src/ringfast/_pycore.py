"""ringfast's core in plain Python: the fallback when the compiled ``_core`` is unavailable.

Same names, signatures, results and errors as ``_core.pyx`` (see ``_core.pyi``), so
``ringfast._impl`` can hand out either. It is much slower (see the README's "Installing"),
and exists so that ringfast installs and works where no C compiler is available.

The algorithm functions (``bytes_of`` .. ``assign``'s body) are kept line for line as in
``tests/reference.py``, the twin the compiled core is checked against, so that a change
there ports here by copy. The argument checks are in separate ``_check_*`` functions
around them (the reference makes some of them inside its algorithm functions): they
follow ``_core.pyx``, refusal for refusal, with the same exception classes and messages,
in the same order; tests/unit/test_pycore.py compares the two cores call by call.
"""

from __future__ import annotations

import math
import sys
from array import array
from decimal import Decimal
from numbers import Real

from .errors import AssignmentError, ConfigError, InvalidTypeError

__all__ = ["Partitioner", "assign", "murmur3", "partition"]

MASK = 0xFFFFFFFF
MAX_PARTITIONS = 2147483647
INT_CACHE_LIMIT = 1 << 20  # as in _core: result ints are shared up to this partition count
# The byte-order marks of a buffer format that mean this machine's own order: Cython's
# unsigned int[::1], which the compiled core writes `out` through, refuses the other one.
_NATIVE_ORDER = "@=<" if sys.byteorder == "little" else "@=>!"


def bytes_of(key) -> bytes:
    """The bytes a key is hashed as: str -> UTF-8, bytes-likes as is, int -> decimal text.

    Subclasses count by their stored value, as in the compiled core: the unbound ``str``,
    ``int`` methods are called so an overridden ``encode`` or ``__repr__`` cannot change it.
    """
    if isinstance(key, str):
        return str.encode(key, "utf-8")
    if type(key) is bytes:
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return memoryview(key).tobytes()
    if isinstance(key, int) and not isinstance(key, bool):
        return int.__repr__(key).encode("ascii")
    raise InvalidTypeError(
        f"a key must be str, bytes, bytearray, memoryview or int, not {type(key).__name__}: {key!r:.80}"
    )


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 (Austin Appleby), little-endian blocks, unsigned result."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & MASK
    n = len(data)
    nblocks = n // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & MASK
    tail = data[4 * nblocks :]
    k = 0
    if len(tail) == 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & MASK
        k = _rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
    h ^= n & MASK
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h


# --------------------------------------------------------------------------- arguments


_LLONG_MIN, _LLONG_MAX = -(1 << 63), (1 << 63) - 1  # the C long long the compiled core reads int arguments into


def _int_arg(value, what: str, lo: int, hi: int) -> int:
    """An int argument's value, checked to be in [lo, hi], as the compiled core checks it.

    The check reads the stored value (``int.__index__`` of the int type), never the object:
    an int subclass may answer comparisons with anything it likes (a width "not below 1"
    that is 0 would divide by zero), and its value is what every node hashes with. A value
    beyond 64 bits is reported by its size, as the compiled core (which reads it into a C
    long long) reports it.
    """
    if type(value) is not int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidTypeError(f"{what} must be an int, not {type(value).__name__}: {value!r:.80}")
        value = int.__index__(value)
    if lo <= value <= hi:
        return value
    bounds = f"at least {lo}" if hi == sys.maxsize else f"in [{lo}, {hi}]"
    if not _LLONG_MIN <= value <= _LLONG_MAX:
        sign = "-" if value < 0 else ""
        raise ConfigError(f"{what} must be {bounds}, got {sign}a {value.bit_length()}-bit number")
    raise ConfigError(f"{what} must be {bounds}, got {value}")


def _check_partitions(num_partitions, what: str = "num_partitions") -> int:
    return _int_arg(num_partitions, what, 1, MAX_PARTITIONS)


def _check_seed(seed) -> int:
    return _int_arg(seed, "seed", 0, MASK)


def _check_width(width) -> int:
    return _int_arg(width, "width", 1, sys.maxsize)  # a C Py_ssize_t in the compiled core


def _result_buffer(out, n: int):
    """(what to return, where to write): a new array('I'), or the caller's `out` once
    checked to be a writable, contiguous, one-dimensional buffer of n unsigned 32-bit ints."""
    if out is None:
        res = array("I", bytes(4 * n))
        return res, res
    try:
        view = memoryview(out)
    except TypeError as e:
        why = str(e).removeprefix("memoryview: ")  # the buffer protocol's words, as the C code gets them
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {why}") from None
    problem = None
    if view.readonly:
        problem = "buffer is read-only"
    elif view.format.lstrip(_NATIVE_ORDER) not in ("I", "L") or view.itemsize != 4:
        # what Cython's unsigned int[::1] takes: an unsigned integer code of 4 bytes ('L' is
        # one in standard size, '=L', or natively where a C long has 32 bits)
        problem = f"buffer holds {view.format!r} items"
    elif view.ndim != 1 or not view.c_contiguous:
        problem = f"buffer is not a contiguous 1-dimensional array (ndim={view.ndim})"
    if problem is not None:
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {problem}")
    if len(view) != n:  # one-dimensional by now: its length is its item count
        raise ConfigError(f"out has {len(view)} items but there are {n} keys")
    return out, view.cast("B").cast("I")


# --------------------------------------------------------------------------- partition


def murmur3(key, seed=0):
    """MurmurHash3_x86_32 of ``bytes_of(key)``, unsigned: ``mmh3.hash(bytes_of(key), seed, signed=False)``."""
    return murmur3_32(bytes_of(key), _check_seed(seed))


def partition(key, num_partitions=10, seed=0):
    """The partition of `key`: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    ``bytes_of``: str -> UTF-8 (strict), bytes/bytearray/memoryview -> as is, int -> its
    decimal text (so ``42`` and ``"42"`` agree). Anything else raises InvalidTypeError.
    """
    n = _check_partitions(num_partitions)
    s = _check_seed(seed)
    return murmur3_32(bytes_of(key), s) % n


class Partitioner:
    """Maps keys to partitions: ``murmur3_x86_32(bytes_of(key), seed) % num_partitions``.

    Equal to ``mmh3.hash(bytes_of(key), seed, signed=False) % num_partitions``, and to the
    compiled ``Partitioner``. Instances are immutable.
    """

    __slots__ = ("_num_partitions", "_seed")
    _num_partitions: int
    _seed: int

    def __init__(self, num_partitions, seed=0):
        object.__setattr__(self, "_num_partitions", _check_partitions(num_partitions))
        object.__setattr__(self, "_seed", _check_seed(seed))

    def __setattr__(self, name, value):
        raise AttributeError(f"Partitioner is immutable: cannot set {name!r}")

    @property
    def num_partitions(self) -> int:
        return self._num_partitions

    @property
    def seed(self) -> int:
        return self._seed

    def partition(self, key):
        """The partition of one key."""
        return murmur3_32(bytes_of(key), self._seed) % self._num_partitions

    __call__ = partition

    def partition_many(self, keys, *, width=None, out=None):
        """The partitions of many keys, as an ``array('I')`` (or `out`, filled in place).

        `keys` is a list or tuple of keys, any other iterable of keys, or, with ``width=W``,
        a contiguous buffer of fixed-width records where each W bytes are one key (the whole
        record, padding included). `out`, if given, is a writable buffer of unsigned 32-bit
        ints with exactly one item per key; it is filled and returned.
        """
        if width is not None:
            return self._many_records(keys, width, out)
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(
                f"partition_many() takes an iterable of keys, not one {type(keys).__name__}; "
                "for a buffer of fixed-width records pass width="
            )
        seed, n = self._seed, self._num_partitions
        if type(keys) is not list and type(keys) is not tuple:  # as the compiled core tells them apart
            try:
                it = iter(keys)  # only this is checked: an error while iterating is the iterable's own
            except TypeError:
                raise InvalidTypeError(f"keys must be iterable, not {type(keys).__name__}: {keys!r:.80}") from None
            if out is None:  # hashed as they come, their number unknown
                return array("I", [murmur3_32(bytes_of(key), seed) % n for key in it])
            keys = list(it)
        count = len(keys)
        res, dest = _result_buffer(out, count)  # checked before any key, as in the compiled core
        parts = [murmur3_32(bytes_of(key), seed) % n for key in keys]
        # A finalizer run by a collection during the loop may have changed a list under it:
        # say so, as the compiled core does, rather than return a short answer.
        if len(parts) != count or len(keys) != count:
            raise RuntimeError(f"keys changed size during partition_many (was {count} keys)")
        if parts:
            dest[:] = array("I", parts)
        return res

    def _many_records(self, keys, width, out):
        w = _check_width(width)
        try:
            view = memoryview(keys)
        except (TypeError, BufferError, ValueError) as e:  # ValueError: a released memoryview
            why = str(e).removeprefix("memoryview: ")  # the buffer protocol's words, as the C code gets them
            raise InvalidTypeError(
                f"with width=, keys must be a contiguous buffer, not {type(keys).__name__}: {why}"
            ) from None
        if not view.c_contiguous:
            raise InvalidTypeError(
                f"with width=, keys must be a contiguous buffer, not {type(keys).__name__}: "
                "the buffer is not contiguous"
            )
        data = view.tobytes()
        if len(data) % w:
            raise ConfigError(f"buffer of {len(data)} bytes is not a whole number of {w}-byte records")
        count = len(data) // w
        res, dest = _result_buffer(out, count)
        seed, n = self._seed, self._num_partitions
        if count:
            dest[:] = array("I", [murmur3_32(data[i * w : (i + 1) * w], seed) % n for i in range(count)])
        return res

    def __repr__(self):
        return f"Partitioner(num_partitions={self._num_partitions}, seed={self._seed})"

    def __reduce__(self):
        return (Partitioner, (self._num_partitions, self._seed))

    def __eq__(self, other):
        if not isinstance(other, Partitioner):
            return NotImplemented
        return (self._num_partitions, self._seed) == (other._num_partitions, other._seed)

    def __hash__(self):
        return hash((Partitioner, self._num_partitions, self._seed))


# --------------------------------------------------------------------------- assign


def normalise_previous(num_partitions: int, ids: list[str], previous) -> list[int]:
    """owner[p] = index into sorted ids, or -1; the smallest id wins a doubly listed partition."""
    index = {m: i for i, m in enumerate(ids)}
    owner = [-1] * num_partitions
    for mid, parts in (previous or {}).items():
        i = index.get(mid)
        if i is None:
            continue
        for p in parts:
            if p >= num_partitions:
                continue
            if owner[p] == -1 or i < owner[p]:
                owner[p] = i
    return owner


def quotas(num_partitions: int, ids: list[str], weights):
    """(floor of each member's quota, whether it may take one more) -- no tie-breaking."""
    M = len(ids)
    if weights is None:
        base, extra = divmod(num_partitions, M)
        return [base] * M, [extra > 0] * M, [0.0] * M
    ws = [float(weights.get(m, 1.0)) for m in ids]
    total = 0.0
    for w in ws:  # plain left-to-right sum, as the C code does (sum() may compensate)
        total += w
    floors, fracs = [], []
    for w in ws:
        q = float(num_partitions) * w / total
        f = math.floor(q)
        floors.append(f)
        fracs.append(q - f)
    return floors, [fr > 0 for fr in fracs], fracs


def capacities(num_partitions: int, ids: list[str], kept: list[int], weights) -> list[int]:
    M = len(ids)
    floors, eligible, fracs = quotas(num_partitions, ids, weights)
    cap = list(floors)
    if weights is None:
        extra = num_partitions - sum(cap)
        gainers = [i for i in range(M) if kept[i] > cap[i]]
        others = [i for i in range(M) if kept[i] <= cap[i]]
        for i in (gainers + others)[:extra]:
            cap[i] += 1
        return cap
    S = sum(cap)
    if S > num_partitions:
        order = sorted(range(M), key=lambda i: (fracs[i], i))
        r = 0
        while S > num_partitions:
            i = order[r % M]
            if cap[i] > 0:
                cap[i] -= 1
                S -= 1
            r += 1
        return cap
    order = sorted(range(M), key=lambda i: (not eligible[i], not kept[i] > cap[i], -fracs[i], i))
    r = 0
    while S < num_partitions:
        cap[order[r % M]] += 1
        S += 1
        r += 1
    return cap


def _check_members(members) -> list[str]:
    """The member ids, validated and sorted (the order every node agrees on)."""
    if isinstance(members, (str, bytes)):
        raise InvalidTypeError(
            f"members must be a collection of ids, not one {type(members).__name__}: {members!r:.80}"
        )
    try:
        ids = list(members)
    except TypeError:
        raise InvalidTypeError(f"members must be an iterable of str ids, not {type(members).__name__}") from None
    for m in ids:
        if type(m) is not str:
            raise InvalidTypeError(f"a member id must be a str, not {type(m).__name__}: {m!r:.80}")
    if not ids:
        raise AssignmentError("members is empty: at least one member is needed to own the partitions")
    ids.sort()
    return ids


_MISSING = object()  # a mapping's get() default: absent, as opposed to a None value


def _check_previous(num_partitions: int, ids: list[str], previous) -> dict[str, list[int]]:
    """`previous` reduced to the current members' valid partitions, checked as the compiled
    core checks it: only the entries of current members are read, in id order, and
    partitions >= num_partitions are dropped (the partition count shrank)."""
    try:
        get = previous.get
    except AttributeError:
        raise InvalidTypeError(
            f"previous must be a mapping of member id -> partitions, not {type(previous).__name__}"
        ) from None
    clean: dict[str, list[int]] = {}
    for mid in ids:
        parts = get(mid, _MISSING)
        if parts is _MISSING:  # not a member before
            continue
        if parts is None:  # refused, not skipped: a None here is a caller's bug, not "nothing"
            raise InvalidTypeError(f"previous[{mid!r}] is None, not an iterable of partition numbers")
        if type(parts) is not list and type(parts) is not tuple:
            try:
                it = iter(parts)  # only this is checked: an error while iterating is the entry's own
            except TypeError:
                raise InvalidTypeError(
                    f"previous[{mid!r}] must be an iterable of partition numbers, not {type(parts).__name__}"
                ) from None
            parts = list(it)
        kept = []
        for item in parts:
            p = item
            if type(item) is not int:
                if not isinstance(item, int) or isinstance(item, bool):
                    raise InvalidTypeError(
                        f"previous[{mid!r}] holds {type(item).__name__} {item!r:.40}, not a partition number"
                    )
                p = int.__index__(item)  # an int subclass counts by its value, not its methods
            if p < 0:
                raise AssignmentError(f"previous[{mid!r}] holds negative partition {item!r}")
            if p < num_partitions:
                kept.append(p)
        clean[mid] = kept
    return clean


_REAL_TYPES = (Real, Decimal)  # weights taken by their float(), besides float and int


def _weight(x, mid: str, num_partitions: int) -> float:
    """A member's weight as a float, refused unless positive, finite and small enough that
    num_partitions * w is finite too: the quota P * w / sum(w) is computed in that order,
    and an infinite quota has no floor (the compiled core once spun or wrote out of bounds
    on one; math.floor would raise OverflowError here).

    float and int (and their subclasses) count by their stored value, whatever their
    methods say; any other real number (numbers.Real: Fraction, numpy scalars; and
    Decimal) by its float(). bool is refused. Same checks, errors and order as ``_weight``
    in ``_core.pyx``.
    """
    if isinstance(x, float):
        v = float.__float__(x)
    elif isinstance(x, int) and not isinstance(x, bool):
        try:
            v = int.__float__(x)
        except OverflowError:
            raise AssignmentError(f"weight of {mid!r} is too large: a {int.bit_length(x)}-bit int") from None
    elif not isinstance(x, bool) and isinstance(x, _REAL_TYPES):
        try:
            v = float(x)
        except (OverflowError, ValueError) as e:  # Fraction(10**400), Decimal("sNaN")
            raise AssignmentError(f"weight of {mid!r} has no float value: {x!r:.40} ({e})") from None
    else:
        raise InvalidTypeError(f"weight of {mid!r} must be a number, not {type(x).__name__}: {x!r:.40}")
    if not (math.isfinite(v) and v > 0):
        raise AssignmentError(f"weight of {mid!r} must be a positive finite number, got {x!r:.40} ({v!r})")
    if not math.isfinite(num_partitions * v):
        raise AssignmentError(
            f"weight of {mid!r} is too large: {num_partitions} partitions * {v!r} overflows; scale the weights down"
        )
    return v


def _check_weights(num_partitions: int, ids: list[str], weights) -> dict[str, float]:
    try:
        get = weights.get
    except AttributeError:
        raise InvalidTypeError(
            f"weights must be a mapping of member id -> weight, not {type(weights).__name__}"
        ) from None
    checked: dict[str, float] = {}
    total = 0.0
    for m in ids:
        w = _weight(get(m, 1.0), m, num_partitions)
        checked[m] = w
        total += w
    if not math.isfinite(total):
        raise AssignmentError(f"the weights add up to {total!r}; scale them down")
    return checked


_INTS: tuple = ()


def _partition_ints(P: int) -> tuple:
    """range(P) as a tuple of ints, cached as in the compiled core, so that results share
    their int objects (a previous result then holds the same objects as the next one)."""
    global _INTS
    if len(_INTS) >= P:
        return _INTS
    ints = tuple(range(P))
    if P <= INT_CACHE_LIMIT:
        _INTS = ints
    return ints


def assign(num_partitions, members, previous=None, weights=None):
    """Split partitions ``0 .. num_partitions-1`` among `members`: balanced, sticky, minimal.

    Returns ``{member_id: [partitions ascending]}`` with an entry for every member; every
    partition appears exactly once. Same contract as the compiled ``assign`` (see its
    docstring in ``_core.pyx`` or ``_core.pyi``), same results, same errors.
    """
    num_partitions = _check_partitions(num_partitions)
    ids = _check_members(members)
    if previous is not None:
        previous = _check_previous(num_partitions, ids, previous)
    if weights is not None:
        weights = _check_weights(num_partitions, ids, weights)
    M = len(ids)
    owner = normalise_previous(num_partitions, ids, previous)
    kept = [0] * M
    for o in owner:
        if o >= 0:
            kept[o] += 1
    cap = capacities(num_partitions, ids, kept, weights)
    for i in range(1, M):  # where the compiled core finds them: after the capacities
        if ids[i] == ids[i - 1]:
            raise AssignmentError(f"duplicate member id {ids[i]!r} in members")
    for p in range(num_partitions - 1, -1, -1):  # overloaded members give up their highest
        o = owner[p]
        if o >= 0 and kept[o] > cap[o]:
            owner[p] = -1
            kept[o] -= 1
    j = 0
    for p in range(num_partitions):  # free partitions fill members below capacity, in id order
        if owner[p] == -1:
            while kept[j] >= cap[j]:
                j += 1
            owner[p] = j
            kept[j] += 1
    ints = _partition_ints(num_partitions)
    lists: list[list[int]] = [[] for _ in ids]
    for p, o in enumerate(owner):
        lists[o].append(ints[p])
    return dict(zip(ids, lists))
