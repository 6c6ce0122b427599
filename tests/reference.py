"""Plain-Python reference of the algorithms in ``ringfast._core``.

The compiled core must agree with this module exactly (same partitions, same assignment,
same tie-breaks). It is deliberately written for reading, not for speed, and it lives in
``tests/`` because it must never ship as a fallback.
"""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Real

from ringfast.errors import AssignmentError, ConfigError, InvalidTypeError

MASK = 0xFFFFFFFF
MAX_PARTITIONS = 2**31 - 1


def bytes_of(key) -> bytes:
    """The bytes a key is hashed as: str -> UTF-8, bytes-likes as is, int -> decimal text.

    Subclasses count by the value they hold, never by what their methods say: an int
    subclass with its own __int__ or __str__, or a str subclass with its own encode(),
    hashes as the plain int or str it is (the compiled core reads the stored value).
    """
    if isinstance(key, str):
        return str.encode(key, "utf-8")
    if isinstance(key, bytes):
        return bytes.__getitem__(key, slice(None))  # bytes(key) would call a subclass's __bytes__
    if isinstance(key, int) and not isinstance(key, bool):
        return int.__repr__(key).encode("ascii")
    if isinstance(key, bytearray):
        return bytes(bytearray.__getitem__(key, slice(None)))
    if isinstance(key, memoryview):
        return key.tobytes()
    raise InvalidTypeError(f"a key must be str, bytes, bytearray, memoryview or int, not {type(key).__name__}")


def int_arg(value, what: str, lo: int, hi: int) -> int:
    """An int argument's value, in [lo, hi] (int subclasses by value, not by their methods)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTypeError(f"{what} must be an int, not {type(value).__name__}")
    v = int.__index__(value)
    if not lo <= v <= hi:
        raise ConfigError(f"{what} must be in [{lo}, {hi}], got {v}")
    return v


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


def partition(key, num_partitions: int = 10, seed: int = 0) -> int:
    n = int_arg(num_partitions, "num_partitions", 1, MAX_PARTITIONS)
    s = int_arg(seed, "seed", 0, MASK)
    return murmur3_32(bytes_of(key), s) % n


def partition_many(keys, num_partitions: int = 10, seed: int = 0, *, width=None, out=None) -> list[int]:
    """Partitioner(num_partitions, seed).partition_many(...) as a list, checked in the same
    order as the compiled core; `out`, when given, is only validated (the caller compares)."""
    n = int_arg(num_partitions, "num_partitions", 1, MAX_PARTITIONS)
    s = int_arg(seed, "seed", 0, MASK)
    if width is not None:
        w = int_arg(width, "width", 1, 2**63 - 1)
        try:
            data = memoryview(keys)
        except (TypeError, BufferError, ValueError) as e:  # ValueError: a released memoryview
            raise InvalidTypeError(f"with width=, keys must be a contiguous buffer: {e}") from None
        if not data.c_contiguous:
            raise InvalidTypeError("with width=, keys must be a contiguous buffer")
        data = data.tobytes()
        if len(data) % w:
            raise ConfigError(f"buffer of {len(data)} bytes is not a whole number of {w}-byte records")
        records = [data[i : i + w] for i in range(0, len(data), w)]
        check_out(out, len(records))
        return [murmur3_32(r, s) % n for r in records]
    if isinstance(keys, (str, bytes, bytearray, memoryview)):
        raise InvalidTypeError(f"partition_many() takes an iterable of keys, not one {type(keys).__name__}")
    if type(keys) is not list and type(keys) is not tuple:
        try:
            keys = iter(keys)
        except TypeError:
            raise InvalidTypeError(f"keys must be iterable, not {type(keys).__name__}") from None
        if out is not None:
            keys = list(keys)
    if out is not None:
        check_out(out, len(keys))
    return [murmur3_32(bytes_of(k), s) % n for k in keys]


def check_out(out, n: int) -> None:
    if out is None:
        return
    try:
        mv = memoryview(out)
    except TypeError as e:
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {e}") from None
    if mv.readonly or mv.ndim != 1 or mv.format not in ("I", "@I") or mv.itemsize != 4 or not mv.c_contiguous:
        raise InvalidTypeError("out must be a writable buffer of unsigned 32-bit ints ('I')")
    if len(mv) != n:
        raise ConfigError(f"out has {len(mv)} items but there are {n} keys")


# --------------------------------------------------------------------------- assign


_MISSING = object()


def member_ids(members) -> list[str]:
    """The member ids, checked and sorted (duplicates are refused later, as the core does)."""
    if isinstance(members, (str, bytes)):
        raise InvalidTypeError(f"members must be a collection of ids, not one {type(members).__name__}")
    try:
        ids = list(members)
    except TypeError:
        raise InvalidTypeError(f"members must be an iterable of str ids, not {type(members).__name__}") from None
    for m in ids:
        if type(m) is not str:
            raise InvalidTypeError(f"a member id must be a str, not {type(m).__name__}")
    if not ids:
        raise AssignmentError("members is empty")
    return sorted(ids)


def partition_number(item, mid) -> int:
    if not isinstance(item, int) or isinstance(item, bool):
        raise InvalidTypeError(f"previous[{mid!r}] holds {type(item).__name__}, not a partition number")
    v = int.__index__(item)
    if v < 0:
        raise AssignmentError(f"previous[{mid!r}] holds negative partition {v}")
    return v


def normalise_previous(num_partitions: int, ids: list[str], previous) -> list[int]:
    """owner[p] = index into sorted ids, or -1; the smallest id wins a doubly listed partition.

    Each member's entry is looked up with previous.get(id) in id order, as the core does;
    entries of members that are gone are never looked at. A None entry is refused.
    """
    owner = [-1] * num_partitions
    if previous is None:
        return owner
    try:
        get = previous.get
    except AttributeError:
        raise InvalidTypeError(f"previous must be a mapping of member id -> partitions, not {type(previous).__name__}") from None
    for i, mid in enumerate(ids):
        parts = get(mid, _MISSING)
        if parts is _MISSING:
            continue
        if parts is None:
            raise InvalidTypeError(f"previous[{mid!r}] is None, not an iterable of partition numbers")
        try:
            parts = iter(parts)
        except TypeError:
            raise InvalidTypeError(f"previous[{mid!r}] must be an iterable of partition numbers") from None
        for item in list(parts):
            p = partition_number(item, mid)
            if p < num_partitions and owner[p] == -1:
                owner[p] = i
    return owner


def weight_of(x, mid, num_partitions: int) -> float:
    """A weight as a float: float and int (and subclasses) by value, other real numbers
    (numbers.Real, Decimal) by float(); positive, finite, and with P * w finite."""
    if isinstance(x, float):
        v = float.__float__(x)
    elif isinstance(x, int) and not isinstance(x, bool):
        try:
            v = int.__float__(x)
        except OverflowError:
            raise AssignmentError(f"weight of {mid!r} is too large") from None
    elif not isinstance(x, bool) and isinstance(x, (Real, Decimal)):
        try:
            v = float(x)
        except (OverflowError, ValueError) as e:
            raise AssignmentError(f"weight of {mid!r} has no float value: {e}") from None
    else:
        raise InvalidTypeError(f"weight of {mid!r} must be a number, not {type(x).__name__}")
    if not (math.isfinite(v) and v > 0):
        raise AssignmentError(f"weight of {mid!r} must be a positive finite number, got {v!r}")
    if not math.isfinite(float(num_partitions) * v):
        raise AssignmentError(f"weight of {mid!r} is too large: {num_partitions} * {v!r} overflows")
    return v


def quotas(num_partitions: int, ids: list[str], weights):
    """(floor of each member's quota, whether it may take one more) -- no tie-breaking."""
    M = len(ids)
    if weights is None:
        base, extra = divmod(num_partitions, M)
        return [base] * M, [extra > 0] * M, [0.0] * M
    try:
        get = weights.get
    except AttributeError:
        raise InvalidTypeError(f"weights must be a mapping of member id -> weight, not {type(weights).__name__}") from None
    ws = [weight_of(get(m, 1.0), m, num_partitions) for m in ids]
    total = 0.0
    for w in ws:  # plain left-to-right sum, as the C code does (sum() may compensate)
        total += w
    if not math.isfinite(total):
        raise AssignmentError(f"the weights add up to {total!r}; scale them down")
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


def assign(num_partitions: int, members, previous=None, weights=None) -> dict[str, list[int]]:
    num_partitions = int_arg(num_partitions, "num_partitions", 1, MAX_PARTITIONS)
    ids = member_ids(members)
    M = len(ids)
    owner = normalise_previous(num_partitions, ids, previous)
    kept = [0] * M
    for o in owner:
        if o >= 0:
            kept[o] += 1
    cap = capacities(num_partitions, ids, kept, weights)
    for a, b in zip(ids, ids[1:]):
        if a == b:
            raise AssignmentError(f"duplicate member id {a!r} in members")
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
    result: dict[str, list[int]] = {m: [] for m in ids}
    for p, o in enumerate(owner):
        result[ids[o]].append(p)
    return result


def movement_lower_bound(num_partitions: int, members, previous=None, weights=None) -> int:
    """Fewest partitions that must change owner to reach any balanced assignment.

    Derived independently of assign()'s procedure: member i can keep at most
    min(kept_i, c_i) of its partitions, with c_i its floor or (if its quota allows, and
    only R = P - sum(floors) times) its floor plus one. The +1 helps only members with
    kept_i > floor_i, so the best any assignment can do is the sum of min(kept_i, floor_i)
    plus min(R, number of eligible members with kept_i > floor_i).
    """
    ids = sorted(members)
    owner = normalise_previous(num_partitions, ids, previous)
    kept = [0] * len(ids)
    for o in owner:
        if o >= 0:
            kept[o] += 1
    floors, eligible, _ = quotas(num_partitions, ids, weights)
    R = num_partitions - sum(floors)
    can_gain = sum(1 for i in range(len(ids)) if eligible[i] and kept[i] > floors[i])
    best_kept = sum(min(k, f) for k, f in zip(kept, floors)) + min(R, can_gain)
    return num_partitions - best_kept


def moved(num_partitions: int, members, previous, result) -> int:
    """Partitions whose owner in `result` differs from their (normalised) previous owner."""
    ids = sorted(members)
    owner = normalise_previous(num_partitions, ids, previous)
    after = {p: m for m, parts in result.items() for p in parts}
    return sum(1 for p in range(num_partitions) if owner[p] < 0 or ids[owner[p]] != after[p])
