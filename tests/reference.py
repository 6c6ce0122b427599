"""Plain-Python reference of the algorithms in ``ringfast._core``.

The compiled core must agree with this module exactly (same partitions, same assignment,
same tie-breaks). It is deliberately written for reading, not for speed, and it lives in
``tests/`` because it must never ship as a fallback.
"""

from __future__ import annotations

import math

MASK = 0xFFFFFFFF


def bytes_of(key) -> bytes:
    """The bytes a key is hashed as: str -> UTF-8, bytes-likes as is, int -> decimal text."""
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key)).encode("ascii")
    raise TypeError(f"unsupported key type {type(key).__name__}")


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
    return murmur3_32(bytes_of(key), seed) % num_partitions


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


def assign(num_partitions: int, members, previous=None, weights=None) -> dict[str, list[int]]:
    ids = sorted(members)
    M = len(ids)
    owner = normalise_previous(num_partitions, ids, previous)
    kept = [0] * M
    for o in owner:
        if o >= 0:
            kept[o] += 1
    cap = capacities(num_partitions, ids, kept, weights)
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
