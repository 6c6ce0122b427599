"""Event names, the objects callbacks receive, and the one object `aio.Node.changes()` yields.

Event names are members of [`Event`][ringfast.events.Event], a `str` enum: `Event.PARTITIONS_ASSIGNED ==
"partitions_assigned"`, so code written against the bare strings keeps working, while
type checkers see a closed set ([`EventName`][ringfast.events.EventName] is the same set as a `Literal`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Union

log = logging.getLogger(__name__)


class Event(str, enum.Enum):
    """The events a node reports (`node.on(Event.X, callback)`)."""

    BECOME_LEADER = "become_leader"
    """This node won an election; payload [`LeaderChanged`][ringfast.events.LeaderChanged]."""
    LEADER_CHANGED = "leader_changed"
    """A leader is known (again) or changed, on every node;
    payload [`LeaderChanged`][ringfast.events.LeaderChanged]."""
    PARTITIONS_ASSIGNED = "partitions_assigned"
    """Partitions were given to this node; payload [`PartitionsChanged`][ringfast.events.PartitionsChanged]."""
    PARTITIONS_REVOKED = "partitions_revoked"
    """Partitions were taken from this node; acknowledged when the callbacks returned;
    payload [`PartitionsChanged`][ringfast.events.PartitionsChanged]."""
    MEMBER_JOINED = "member_joined"
    """A member joined (seen by the leader only); payload [`MemberChanged`][ringfast.events.MemberChanged]."""
    MEMBER_LEFT = "member_left"
    """A member left or failed (seen by the leader only); payload [`MemberChanged`][ringfast.events.MemberChanged]."""

    # The value, not "Event.X", wherever the name is printed (logs, journals, f-strings).
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


EventName = Literal[
    "become_leader", "leader_changed", "partitions_assigned", "partitions_revoked", "member_joined", "member_left"
]
"""The event names as plain strings, for annotations that accept either spelling."""

BECOME_LEADER: Final = Event.BECOME_LEADER
LEADER_CHANGED: Final = Event.LEADER_CHANGED
PARTITIONS_ASSIGNED: Final = Event.PARTITIONS_ASSIGNED
PARTITIONS_REVOKED: Final = Event.PARTITIONS_REVOKED
MEMBER_JOINED: Final = Event.MEMBER_JOINED
MEMBER_LEFT: Final = Event.MEMBER_LEFT
EVENTS: Final = tuple(Event)

# The event names by payload, either spelling: the overloads of `on` pair each with the
# callback type it takes (ringfast.Node.on, ringfast.aio.Node.on).
_PartitionEvent = Literal[
    Event.PARTITIONS_ASSIGNED, Event.PARTITIONS_REVOKED, "partitions_assigned", "partitions_revoked"
]
_LeaderEvent = Literal[Event.BECOME_LEADER, Event.LEADER_CHANGED, "become_leader", "leader_changed"]
_MemberEvent = Literal[Event.MEMBER_JOINED, Event.MEMBER_LEFT, "member_joined", "member_left"]


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


Payload = Union[PartitionsChanged, LeaderChanged, MemberChanged]
"""Any object a callback can receive."""


@dataclass(frozen=True)
class Change:
    """One event, as `ringfast.aio.Node.changes()` yields it.

    Every field is present whatever the event, so code can read them without narrowing
    the type of `payload` first; fields that do not apply to the event are empty.

    Attributes:
        event: which event this is.
        partitions: for PARTITIONS_ASSIGNED / PARTITIONS_REVOKED, the partitions that
            changed (sorted); else empty.
        tokens: the fencing token of each of those partitions; else empty.
        epoch: the epoch of the leader that made the change (0 for member events).
        leader: for BECOME_LEADER / LEADER_CHANGED, the leader's id (None when unknown).
        member: for MEMBER_JOINED / MEMBER_LEFT, the member; else None.
        reason: why partitions were revoked ("rebalance", "lease_expired", "leader",
            "stop", "restart"); else "".
        payload: the object a `node.on(event, callback)` callback receives.
    """

    event: Event
    partitions: tuple[int, ...] = ()
    tokens: Mapping[int, int] = field(default_factory=dict)
    epoch: int = 0
    leader: str | None = None
    member: MemberChanged | None = None
    reason: str = ""
    payload: Payload | None = None

    @classmethod
    def of(cls, event: Event | EventName, payload: Payload) -> Change:
        """The Change for `payload` delivered as `event`."""
        name = Event(event)
        if isinstance(payload, PartitionsChanged):
            return cls(name, tuple(payload.partitions), dict(payload.tokens), payload.epoch,
                       reason=payload.reason, payload=payload)
        if isinstance(payload, LeaderChanged):
            return cls(name, epoch=payload.epoch, leader=payload.leader, payload=payload)
        return cls(name, member=payload, reason=payload.reason, payload=payload)
