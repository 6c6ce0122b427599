"""What a [`Node`][ringfast.Node] reports, as one frozen value: its
[`Snapshot`][ringfast.snapshot.Snapshot].

The node's loop builds a new snapshot after every change (every tick, every message, every
event's end) and swaps it in with one reference assignment; readers, on any thread, take
the reference once ([`Node.snapshot()`][ringfast.Node.snapshot]) and read a state that was
whole at one instant: never the partitions of one update with the epoch or leader of
another. The API's properties, the monitoring endpoints and the metrics all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from .node import RingMember
    from .ring import Ring

Role = Literal["leader", "follower", "candidate", "stopped"]


@dataclass(frozen=True, slots=True)
class Member:
    """One member in a [`Snapshot`][ringfast.snapshot.Snapshot]: the frozen form of a
    [`RingMember`][ringfast.node.RingMember]."""

    id: str
    """The member's node id."""
    addr: str
    """The address it advertises (`host:port`)."""
    priority: int
    """Its priority: lower leads."""
    role: str
    """`"leader"` or `"follower"`."""
    partitions: tuple[int, ...]
    """The partitions it holds, sorted."""

    def as_dict(self) -> RingMember:
        """A new [`RingMember`][ringfast.node.RingMember] dict with the same fields."""
        d: RingMember = {"id": self.id, "addr": self.addr, "priority": self.priority, "role": self.role,
                         "partitions": list(self.partitions)}
        return d


def _empty_tokens() -> Mapping[int, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A node's state at one instant, frozen: what [`Node`][ringfast.Node]'s API, the
    monitoring endpoints and the metrics report. Get it with
    [`Node.snapshot()`][ringfast.Node.snapshot]; a newer state is a new object, so read the
    fields of one snapshot for answers that agree with each other.

    Before the node starts it is the default one (no id, role `"follower"`, epoch 0)."""

    id: str | None = None
    """The node's id (None before it started)."""
    address: str | None = None
    """The `host:port` it advertises (None before it started)."""
    role: Role = "follower"
    """`"leader"`, `"follower"`, `"candidate"` or `"stopped"`."""
    leader: str | None = None
    """The id of the leader it follows (None while unknown, and once stopped)."""
    epoch: int = 0
    """The epoch (leadership term)."""
    partitions: tuple[int, ...] = ()
    """The partitions it held when the snapshot was taken, sorted. They stay its own only
    until `valid_until`: [`Node.partitions()`][ringfast.Node.partitions] checks that against
    the lease clock, this field does not."""
    tokens: Mapping[int, int] = field(default_factory=_empty_tokens)
    """`{partition: fencing token}` of those partitions (read-only)."""
    valid_until: float = 0.0
    """Until when, on the node's lease clock, what it holds surely stays its own without
    news: a follower's lease, a leader's quorum."""
    ready: bool = False
    """Whether it knows a leader and, as a follower, holds a lease
    ([`Node.wait_until_ready`][ringfast.Node.wait_until_ready] waits for this)."""
    members: tuple[Member, ...] = ()
    """The members as the leader last described them."""


class SnapshotMaker:
    """Takes snapshots of a `Ring`, on the loop that drives it.

    Member lists are copied only when the ring has a new one: a leader's `describe()`
    rebuilds its list whenever a member or a share changes, a follower takes each new list
    whole from its leader, and neither edits a list in place. So most snapshots (every
    tick, every heartbeat) reuse the last frozen members."""

    __slots__ = ("_source", "_members")

    def __init__(self) -> None:
        self._source: list[dict[str, Any]] | None = None
        self._members: tuple[Member, ...] = ()

    def take(self, ring: Ring, now: float, stopped: bool = False) -> Snapshot:
        role = ring.role
        held = dict(ring.held)
        # the wire format checked every field of a member (protocol._MEMBER_FIELDS)
        source = ring.describe() if role == "leader" else ring.view
        if source is not self._source:
            self._members = tuple(
                Member(m["id"], m["addr"], m["priority"], m["role"], tuple(m["partitions"])) for m in source)
            self._source = source
        return Snapshot(
            id=ring.id,
            address=ring.addr,
            role="stopped" if stopped else cast("Role", role),
            leader=None if stopped else ring.leader,
            epoch=ring.epoch,
            partitions=tuple(sorted(held)),
            tokens=MappingProxyType(held),
            # a follower holds on its lease, a leader (owning partitions) on its quorum
            valid_until=ring.holding_deadline(),
            ready=not stopped and (role == "leader" or (ring.leader is not None and ring.lease_expiry > now)),
            members=self._members,
        )
