"""What the protocol assumes of the nodes it meets, and how it checks it (guarantee G7).

The guarantees rest on facts no node can enforce alone: every node has the same voter set,
quorum and partition count; one process per node id; an epoch no higher than time allows;
wall clocks close enough for epochs to start from them. A node that meets a peer breaking
one of them refuses that peer (and tells it why) instead of degrading into two leaders of
one epoch or two owners of one partition. This module holds the pure parts: the settings
fingerprint every ring message carries, its explanation when it differs, and the bounds.
"""

from __future__ import annotations

import hashlib

# Fencing tokens are ``epoch << 31 | generation`` and must stay below 2**63: epochs below 2**32.
MAX_EPOCH = 2**32 - 1
# Epochs start from the wall clock in seconds and then grow by one per election. An epoch
# further ahead of our wall clock than this (about 194 days of one election per second) did
# not come from an honest node: adopting it would exhaust the epochs left (a ring that can
# never elect again), so the message is refused and counted instead.
EPOCH_HEADROOM = 2**24
# Wall clocks further apart than this (as measured on a hello or a vote request, which
# includes its time in flight) make wall-clock epoch floors unreliable (see
# docs/operations.md): logged and shown in /metrics, not refused.
WALL_SKEW_WARN = 5.0

REFUSAL_REASONS = ("settings_mismatch", "duplicate_id", "duplicate_address", "epoch_out_of_range", "tls_identity")


def voters_digest(seeds) -> str:
    return hashlib.sha256("\n".join(sorted(seeds)).encode("utf-8")).hexdigest()[:16]


def fingerprint(num_partitions: int, quorum: int, seeds) -> str:
    """The settings that must match on every node of a ring, in a short string carried by
    every ring message: ``"<partitions>/<quorum>/<digest of the sorted voter set>"``.
    (The cluster name and the protocol version are already in every frame's header.)"""
    return f"{num_partitions}/{quorum}/{voters_digest(seeds)}"


def explain_mismatch(ours: str, theirs: str, us: str = "here", them: str = "there") -> str:
    """Name the setting that differs between two fingerprints, with both values and whose
    they are (the text is logged on both sides, so it says "on n1", not "here")."""
    try:
        p1, q1, v1 = ours.split("/")
        p2, q2, v2 = theirs.split("/")
    except ValueError:
        return f"settings fingerprint {theirs!r} on {them}, {ours!r} on {us}"
    diffs = []
    if p1 != p2:
        diffs.append(f"NUM_PARTITIONS {p1} on {us}, {p2} on {them}")
    if q1 != q2:
        diffs.append(f"quorum {q1} on {us}, {q2} on {them}")
    if v1 != v2:
        diffs.append(f"SEED_NODES (the voter set) differ: digest {v1} on {us}, {v2} on {them}")
    return "; ".join(diffs) or "settings differ"


def conflicts(ours: str, our_voters, theirs: str, their_voters) -> str | None:
    """Why a voter of ours running other settings makes electing unsafe, or None.

    Nodes with different settings never vote for each other, so each group can only elect
    with a quorum of its own voter set. With the same voter set and quorum (another
    partition count, say) two groups cannot both have a majority: the odd ones are refused
    and that is all. Two voter sets that differ by one voter (one added or one removed)
    always need overlapping majorities, so a change made one voter at a time is safe; a
    wider difference (a swap, a botched rollout), or another quorum over the same voters,
    lets each group reach a quorum of its own: two rings owning the same partitions. Then
    nobody may elect until the settings agree again (a visible stop, not two owners)."""
    _, q1, v1 = ours.split("/")
    try:
        _, q2, v2 = theirs.split("/")
    except ValueError:
        return "unreadable settings fingerprint"
    if v1 == v2 and q1 != q2:
        return f"quorum {q2} there, {q1} here, over the same voters"
    if v1 != v2:
        if their_voters is None:
            return "voter sets differ"
        diff = sorted(set(our_voters) ^ set(their_voters))
        if len(diff) > 1:
            return f"voter sets differ by {len(diff)} voters ({', '.join(diff)}): change one voter at a time"
    return None


def epoch_cap(wall_seconds: float) -> int:
    """The highest epoch an honest node can have reached by now."""
    return min(MAX_EPOCH, int(wall_seconds) + EPOCH_HEADROOM)


def printable(text: str, limit: int = 80) -> str:
    """A peer-supplied string safe to put in a log line (no forged lines, bounded)."""
    return repr(text[:limit])
