"""Event names, the objects callbacks receive, and the bounded way callbacks are run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BECOME_LEADER = "become_leader"
LEADER_CHANGED = "leader_changed"
PARTITIONS_ASSIGNED = "partitions_assigned"
PARTITIONS_REVOKED = "partitions_revoked"
MEMBER_JOINED = "member_joined"
MEMBER_LEFT = "member_left"
EVENTS = (BECOME_LEADER, LEADER_CHANGED, PARTITIONS_ASSIGNED, PARTITIONS_REVOKED, MEMBER_JOINED, MEMBER_LEFT)


@dataclass(frozen=True)
class PartitionsChanged:
    """What PARTITIONS_ASSIGNED / PARTITIONS_REVOKED callbacks receive.

    `partitions` are exactly the ones that changed for this node (sorted). `tokens` maps
    each to its fencing token: it only grows for a partition, so storage that remembers
    the highest token it has seen for a partition can reject a stale owner's writes.
    `reason` of a revoke is "rebalance", "lease_expired", "leader", "stop" or "restart".
    """

    partitions: list[int]
    tokens: dict[int, int]
    epoch: int
    reason: str = ""
    expired_at: float | None = None


@dataclass(frozen=True)
class LeaderChanged:
    """What BECOME_LEADER / LEADER_CHANGED callbacks receive (leader is None when unknown)."""

    leader: str | None
    epoch: int


@dataclass(frozen=True)
class MemberChanged:
    """What MEMBER_JOINED / MEMBER_LEFT callbacks receive (only the leader sees these)."""

    id: str
    address: str
    priority: int
    reason: str = field(default="")
