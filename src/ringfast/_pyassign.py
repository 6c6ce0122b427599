"""``assign`` in plain Python: the compiled core's ``assign`` for the fallback core
(``_pycore``, which exports it). Its algorithm is kept line for line as in
``tests/reference.py``; the argument checks around it follow ``_core.pyx``."""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Real

from ._pyargs import INT_CACHE_LIMIT, _check_partitions
from .errors import AssignmentError, InvalidTypeError


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
