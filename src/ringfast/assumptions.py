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

REFUSAL_REASONS = ("settings_mismatch", "duplicate_id", "duplicate_address", "epoch_out_of_range", "tls_identity",
                   "ring_full")


def voters_digest(seeds) -> str:
    return hashlib.sha256("\n".join(sorted(seeds)).encode("utf-8")).hexdigest()[:16]


def fingerprint(num_partitions: int, quorum: int, seeds, failure_timeout: float) -> str:
    """The settings that must match on every node of a ring, in a short string carried by
    every ring message: ``"<partitions>/<quorum>/<digest of the sorted voter set>/<failure
    timeout in ms>"``. (The cluster name and the protocol version are already in every
    frame's header.) The failure timeout is there because a vote says how long the leader
    its voter backed may still grant leases by the voter's own timeout: a leader with a
    longer one grants leases that outlast the next leader's wait."""
    return f"{num_partitions}/{quorum}/{voters_digest(seeds)}/{round(failure_timeout * 1000)}"


def explain_mismatch(ours: str, theirs: str, us: str = "here", them: str = "there") -> str:
    """Name the setting that differs between two fingerprints, with both values and whose
    they are (the text is logged on both sides, so it says "on n1", not "here")."""
    try:
        p1, q1, v1, l1 = ours.split("/")
        p2, q2, v2, l2 = theirs.split("/")
    except ValueError:
        return f"settings fingerprint {theirs!r} on {them}, {ours!r} on {us}"
    diffs = []
    if l1 != l2:
        diffs.append(f"FAILURE_TIMEOUT {l1} ms on {us}, {l2} ms on {them} (change it on every node at once: "
                     "see docs/operations.md)")
    if p1 != p2:
        diffs.append(f"NUM_PARTITIONS {p1} on {us}, {p2} on {them}")
    if q1 != q2:
        diffs.append(f"quorum {q1} on {us}, {q2} on {them}")
    if v1 != v2:
        diffs.append(f"SEED_NODES (the voter set) differ: digest {v1} on {us}, {v2} on {them}")
    return "; ".join(diffs) or "settings differ"


def two_quorums_possible(voters_a, quorum_a: int, voters_b, quorum_b: int) -> bool:
    """Whether a quorum of `voters_a` and one of `voters_b` can be disjoint: two groups of
    nodes, each running one of the two settings (and voting only for its own), could then
    elect a leader each. Each side fills its quorum with voters the other does not have
    first, then needs shared ones; disjoint quorums exist when the shared voters suffice
    for both. Majorities of two sets that differ by one voter never can; a swap, a quorum
    below a majority, or a wider change can."""
    a, b = set(voters_a), set(voters_b)
    if quorum_a > len(a) or quorum_b > len(b):
        return False  # that side can never elect
    need_a = max(0, quorum_a - len(a - b))
    need_b = max(0, quorum_b - len(b - a))
    return need_a + need_b <= len(a & b)


def conflicts(ours: str, our_voters, theirs: str, their_voters) -> str | None:
    """Why a peer of ours running other settings makes electing unsafe, or None.

    Nodes with different settings never vote for each other, so each group can only elect
    with a quorum of its own voter set. When two disjoint quorums are possible (see
    `two_quorums_possible`: a botched rollout, a swap of voters, another quorum size) each
    group could elect: two rings owning the same partitions. Then nobody may elect until the
    settings agree again (a visible stop, not two owners). Another partition count over the
    same voters and quorum, or a voter set changed by one voter, cannot: those peers are
    refused and that is all. A voter list that does not match its fingerprint's digest is
    taken as unknown, and unknown voters as the worst case."""
    try:
        _, q1, v1, _ = ours.split("/")
        _, q2, v2, _ = theirs.split("/")
        q_ours, q_theirs = int(q1), int(q2)
    except ValueError:
        return "unreadable settings fingerprint"
    mine = set(our_voters)
    if v1 == v2:
        other = mine
    elif their_voters is None or voters_digest(their_voters) != v2:
        return "voter sets differ (theirs unknown)"
    else:
        other = set(their_voters)
    if not two_quorums_possible(mine, q_ours, other, q_theirs):
        return None
    if other == mine:
        return f"quorum {q_theirs} there, {q_ours} here, over the same {len(mine)} voters: both can be reached at once"
    diff = sorted(mine ^ other)
    return (f"voter sets differ by {len(diff)} voters ({', '.join(diff)}), quorum {q_ours} here and {q_theirs} "
            "there: two quorums can form at once; change one voter at a time")


def voter_change_refusal(old_voters, old_quorum: int, voters, quorum: int) -> str | None:
    """Why a node must not start with `voters`/`quorum` after running with the old ones (as
    its state dir remembers them), or None. Restarting nodes one by one into a voter set
    that allows a second quorum beside the old one (two at a time into a set of their own,
    a swap) is how a rollout makes two rings; one voter changed per step never can."""
    if not two_quorums_possible(old_voters, old_quorum, voters, quorum):
        return None
    gone = sorted(set(old_voters) - set(voters))
    added = sorted(set(voters) - set(old_voters))
    return (f"SEED_NODES changed from the {len(set(old_voters))} voters this node last ran with (quorum "
            f"{old_quorum}) to {len(set(voters))} (quorum {quorum}): removed {', '.join(gone) or 'none'}, added "
            f"{', '.join(added) or 'none'}; nodes with the old and the new set could elect a leader each. "
            "Change one voter at a time (restart every node with each step), or start a new cluster "
            "with a new state dir")


def epoch_cap(wall_seconds: float) -> int:
    """The highest epoch an honest node can have reached by now."""
    return min(MAX_EPOCH, int(wall_seconds) + EPOCH_HEADROOM)


def printable(text: str, limit: int = 80) -> str:
    """A peer-supplied string safe to put in a log line (no forged lines, bounded)."""
    return repr(text[:limit])
