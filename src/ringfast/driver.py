"""The one driver of a `Ring`: it feeds the Ring events and carries out the actions the Ring
returns (ring/actions.py).

The node (sockets, greenlets, a journal file, the application's callbacks), the simulation
(tests/sim: a virtual clock and network) and the protocol transcripts (tests/transcripts)
all drive their Rings through this class; each gives it a `World` for what differs. So what
the simulation checks is what a node does with the Ring's decisions: the same journal
lines (the simulation's checker reads them), the same events and payloads, the same moment
a revoke counts as done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from . import events as ev
from .ring.actions import Action, Assigned, Close, Membership, Released, Reply, Revoke, RoleChanged, Send

if TYPE_CHECKING:
    from .ring import Ring

log = logging.getLogger(__name__)


class World(Protocol):
    """What the driver needs from where the Ring runs."""

    def send(self, to: str, kind: str, body: dict) -> None:
        """Send to the node at address `to` over our own connection to it (opened if need be).
        A connection that closes, or cannot open, is reported with `Driver.connection_lost`."""

    def reply(self, link: Hashable, kind: str, body: dict) -> None:
        """Send back on the connection `link` (given to `Driver.receive` with a message)."""

    def close(self, link: Hashable) -> None:
        """Close the connection `link`."""

    def run_revoke(self, change: ev.PartitionsChanged, done: Callable[[bool], None]) -> None:
        """Run the application's revoke handlers for `change` (PARTITIONS_REVOKED), then call
        ``done(ok)`` (False: a handler timed out) from the thread or greenlet that drives the
        Ring, never from inside a Driver call."""

    def notify(self, event: ev.Event, payload: ev.Payload) -> None:
        """Deliver an event to the application's callbacks (queued: the driver never waits)."""

    def record(self, event: str, fields: dict[str, Any]) -> None:
        """One journal line (the world adds the time and the node id)."""


def _tokens(change: ev.PartitionsChanged) -> dict[str, int]:
    return {str(p): t for p, t in change.tokens.items()}


class Driver:
    """Drives `ring` in `world`. With `contain`, an exception raised by the Ring is logged and
    the node carries on (a real node must not die of one bad message); without it (the
    simulation, the tests) it propagates."""

    def __init__(self, ring: Ring, world: World, contain: bool = False):
        self.ring = ring
        self.world = world
        self.contain = contain

    # ------------------------------------------------------------------ events in

    def tick(self) -> None:
        self._run(self.ring.tick)

    def receive(self, link: Hashable, kind: str, body: dict, dialed: str | None = None) -> None:
        """A validated message on `link`; `dialed`: the address we connected to, if we opened it.
        A leader that it gives something to hand out (a partition came back, a wait was
        proven, a member left) ticks at once rather than at its next tick, up to a tick
        period later; not for a member that joined: members join in bursts (a cold start, a
        new leader), and handing everything to the first only to ask much of it back is
        worse than waiting for the tick that sees them all. A follower whose election it
        makes due (a fresh node that heard from its last voter) runs at once too."""
        ring = self.ring
        idle = not (ring.role == "leader" and ring.dirty)
        members = len(ring.members)
        self._run(ring.receive, link, kind, body, dialed)
        if idle and ring.role == "leader" and ring.dirty and len(ring.members) <= members:
            self.tick()
        elif ring.role == "follower" and ring.leader is None and ring.election_at <= ring.clock():
            self.tick()  # an election is due now (a fresh node heard the last of its voters)

    def next_tick(self, now: float, period: float) -> float:
        """Seconds until the Ring should tick again: `period`, or less if a leader's wait
        (a lease that must run out, a rejoin grace) ends sooner."""
        ring = self.ring
        if ring.role == "leader" and now < ring.next_wake < now + period:
            return ring.next_wake - now
        return period

    def connection_lost(self, addr: str) -> None:
        """Our connection to `addr` closed, or could not open."""
        self._run(self.ring.on_connection_lost, addr)

    def inbound_closed(self, link: Hashable) -> None:
        """A connection a peer opened to us closed."""
        self._run(self.ring.on_inbound_closed, link)

    def leave(self, restart: bool) -> None:
        self._run(self.ring.leave, restart)

    def revoke_finished(self, request: int, ok: bool) -> None:
        self._run(self.ring.revoke_finished, request, ok)

    def _run(self, entry: Callable[..., list[Action]], *args: Any) -> None:
        try:
            actions = entry(*args)
        except Exception:
            if not self.contain:
                raise
            # (said only when it happens: a leader receives hundreds of heartbeats a second)
            if entry.__name__ == "receive":
                log.exception("error handling %s from %r (continuing)", args[1], args[2].get("from"))
            else:
                log.exception("error in Ring.%s (continuing)", entry.__name__)
            return
        self.apply(actions)

    # ------------------------------------------------------------------ actions out

    def apply(self, actions: list[Action]) -> None:
        """Carry out `actions` in the order the Ring decided them."""
        for action in actions:
            APPLY[type(action)](self, action)

    def _send(self, a: Send) -> None:
        self.world.send(a.to, a.kind, a.body)

    def _reply(self, a: Reply) -> None:
        self.world.reply(a.link, a.kind, a.body)

    def _close(self, a: Close) -> None:
        self.world.close(a.link)

    def _assigned(self, a: Assigned) -> None:
        c = a.change
        self.world.record("assigned", {"partitions": c.partitions, "epoch": c.epoch, "tokens": _tokens(c)})
        log.info("assigned %s (epoch %d)", c.partitions, c.epoch)
        self.world.notify(ev.PARTITIONS_ASSIGNED, c)

    def _revoke(self, a: Revoke) -> None:
        c = a.change
        if c.expired_at is not None:
            # Our lease ran out: the right ended then, whatever the handlers do now. Written
            # at once, so a reader never pairs it with a later assignment of the partition.
            self._record_revoked(c, c.expired_at)
        request = a.request
        self.world.run_revoke(c, lambda ok: self.revoke_finished(request, ok))

    def _released(self, a: Released) -> None:
        c = a.change
        if c.expired_at is None:
            self._record_revoked(c, a.ended)
        log.info("revoked %s (%s, epoch %d)", c.partitions, c.reason, c.epoch)

    def _record_revoked(self, c: ev.PartitionsChanged, expired_at: float | None) -> None:
        fields: dict[str, Any] = {"partitions": c.partitions, "epoch": c.epoch, "reason": c.reason, "tokens": _tokens(c)}
        if expired_at is not None:  # the right ended before this line: when
            fields["expired_at"] = expired_at
        self.world.record("revoked", fields)

    def _role(self, a: RoleChanged) -> None:
        self.world.record(a.role, {"leader": a.leader, "epoch": a.epoch})
        if a.role == "leader":
            log.info("became leader (epoch %d)", a.epoch)
            self.world.notify(ev.BECOME_LEADER, ev.LeaderChanged(a.leader, a.epoch))
        if a.role != "candidate":
            self.world.notify(ev.LEADER_CHANGED, ev.LeaderChanged(a.leader, a.epoch))

    def _membership(self, a: Membership) -> None:
        self.world.notify(ev.MEMBER_JOINED if a.joined else ev.MEMBER_LEFT, ev.MemberChanged(a.id, a.addr, a.priority))


# Each action -> how it is carried out: the whole vocabulary of ring/actions.py.
APPLY: dict[type, Callable[[Driver, Any], None]] = {
    Send: Driver._send,
    Reply: Driver._reply,
    Close: Driver._close,
    Assigned: Driver._assigned,
    Revoke: Driver._revoke,
    Released: Driver._released,
    RoleChanged: Driver._role,
    Membership: Driver._membership,
}
