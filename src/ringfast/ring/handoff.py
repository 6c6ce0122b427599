"""The leader's handoff: rebalancing and the messages that move partitions.

Every partition's state lives in the leader's `PartitionTable` (ringfast.table), which
allows only the transitions of its lifecycle. This module decides *when* to move: it
computes the target assignment, revokes before it assigns, numbers every assign and revoke
so that late answers release nothing, and reconciles what members report.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from .._impl import assign
from ..limits import member_entry_bytes, voter_slack
from .actions import Membership
from .common import Member

log = logging.getLogger(__name__)


class Handoff:
    """Part of `Ring` (ring/core.py): the state it reads and writes is the Ring's."""

    def _rebalance(self, now: float):
        followers = sorted(m.id for m in self.members.values() if not m.leaving)
        if not followers:
            self.next_wake = float("inf")  # a member joining marks us dirty
            return
        started = time.perf_counter()
        table = self.table
        previous = {m.id: table.kept(m.id) for m in self.members.values() if not m.leaving}
        reserved = table.reservations()
        for p, mid in self.hint.items():
            if table.holder(p) is None and mid in previous and p not in reserved:
                previous[mid].append(p)
        for p, mid in reserved.items():
            if mid in previous:
                previous[mid].append(p)  # it is back: give its partitions back
        target = assign(self.P, followers, previous)
        proven = self._quorum_proven(now)
        revokes = defaultdict(list)
        assigns = defaultdict(dict)
        for mid, parts in target.items():
            for p in parts:
                o = table.holder(p)
                if o == mid:
                    continue
                if o is not None:
                    if not table.is_revoking(p):
                        revokes[o].append(p)
                elif table.assignable(p, now, mid, proven):
                    assigns[mid][p] = table.assign(p, mid, now, proven)
        for mid, parts in revokes.items():
            self._send_member(mid, "revoke", {"partitions": sorted(parts)})
        for mid, parts in assigns.items():
            m = self.members[mid]
            m.mseq += 1
            for p in parts:
                table.numbered(p, m.mseq)
            log.debug("assign %s to %s (mseq %d)", sorted(parts), mid, m.mseq)
            self._send_member(mid, "assign", {"mseq": m.mseq, "partitions": [[p, t] for p, t in sorted(parts.items())]})
        # What is still unowned waits for a lease to run out or for a rejoin grace to end:
        # wake then, rather than scanning every partition on every tick.
        self.next_wake = table.next_change(now)
        # A wait that ended but is not proven yet: ask the voters (the answers mark us dirty),
        # at once unless a probe sent since it ended is on its way (only what a voter
        # confirms of something sent after the wait's end proves it followed us then).
        due = table.unproven(now, proven)
        self.need_proof = due is not None
        if due is not None and (now >= self.next_probe or self.last_probe < due):
            self._probe_voters(now)
        if revokes or assigns:
            self.members_version += 1
            self.view_cache = None
            self.metrics.rebalances.inc()
            self.metrics.rebalance_seconds.observe(time.perf_counter() - started)
            self.metrics.moved.inc(sum(len(parts) for parts in assigns.values()))

    def _send_member(self, mid: str, kind: str, body: dict, stale: bool = False):
        """Send an assign or a revoke to a member (to ourselves without a socket). A revoke
        moves the table's slots to REVOKING, except a `stale` one: a partition the member
        claims that is not its own (no slot of it changes; its answer releases nothing)."""
        m = self.members[mid]
        now = self.clock()
        if kind == "revoke" or body.get("partitions"):  # (a probe is no send of anything to confirm:
            m.last_sent = now                            # what it has not confirmed is still resent)
        if kind == "revoke":  # numbered: answers to revokes from before this one do not count
            m.mseq += 1
            body = {**body, "mseq": m.mseq}
            if not stale:
                for p in body["partitions"]:
                    self.table.revoke(p, now, m.mseq)  # asking again keeps the first number
        body = {**self._common(), **body}
        if mid == self.id:  # the leader owning partitions talks to itself without a socket
            if kind == "assign":
                self._apply_assign(body)
                for p, t in body["partitions"]:  # no heartbeat will confirm them: we know
                    if self.held.get(p) == t and self.table.slots[p].assign_mseq:
                        self.table.confirmed(p)
            else:
                self._apply_revoke(body, ("self", m, self.epoch, body["mseq"]))
            return
        body.setdefault("mseq", m.mseq)
        self._reply(m.link, kind, body)

    def _resend(self, m: Member, now: float):
        """Ask again for what it has not confirmed: a follower ignores an assign or revoke
        that arrives while it does not (yet) follow us, and would never take it otherwise."""
        # never an assign after a revoke of the same partition: the revoke supersedes it, and
        # its acknowledgement must not be overtaken by the partition coming back
        table = self.table
        revoking = table.revoking(m.id)
        unconfirmed = sorted(p for p in table.pending(m.id) if p not in revoking)
        if unconfirmed:
            m.mseq += 1
            for p in unconfirmed:
                table.numbered(p, m.mseq)
            self._send_member(m.id, "assign", {"mseq": m.mseq, "partitions": [[p, table.token(p)] for p in unconfirmed]})
        if revoking:
            self._send_member(m.id, "revoke", {"partitions": sorted(revoking)})

    def _redo_revokes(self, m: Member, reported: dict, now: float):
        """After a reconnect: a revoke it still holds is asked again; one it no longer
        reports has been done (its `revoked` was lost with the old connection)."""
        revoking = self.table.revoking(m.id)
        again = sorted(p for p in revoking if p in reported)
        done = [p for p in revoking if p not in reported]
        if done:
            self._on_revoked_parts(m, done, now)
        if again:
            self._send_member(m.id, "revoke", {"partitions": again})

    def _reconcile(self, m: Member, reported: dict, seen: int, now: float) -> bool:
        """Bring our view of `m` in line with what it reports; True if it claims a partition
        another member owns (then its lease must not be renewed)."""
        table = self.table
        conflict = False
        for p, tok in reported.items():
            if p >= self.P:
                continue
            o = table.holder(p)
            if o == m.id:
                continue
            if table.adopt(p, m.id, tok):  # it held it under an earlier leader
                self.dirty = True
            else:
                # Someone else holds it for us, or its token is older than one we know: it
                # must let go (and hears no lease renewal until it has).
                conflict = True
                if now - m.stale.get(p, float("-inf")) > 2 * self.cfg.heartbeat_interval + 0.1:
                    log.warning("%s reports partition %d owned by %s: asking it to let go", m.id, p, o)
                    m.stale[p] = now
                    self._send_member(m.id, "revoke", {"partitions": [p]}, stale=True)
        for p in [p for p in m.stale if p not in reported]:
            del m.stale[p]
        for p, n in table.pending(m.id).items():
            if n <= seen and p in reported:
                table.confirmed(p)  # it has it
        revoking = table.revoking(m.id)
        pending = table.pending(m.id)
        for p in table.held(m.id):
            if p not in reported and p not in revoking and pending.get(p, 0) <= seen:
                table.released(p, now)  # it told us it does not hold it
                self.dirty = True
        return conflict

    def _on_revoked(self, link, body, now, dialed=None):
        if self.role != "leader":
            return
        m = self.members.get(body["from"])
        if m is not None:
            self._on_revoked_parts(m, self._answered(m, body["partitions"], body["mseq"]), now)

    def _answered(self, m: Member, parts, mseq: int) -> list:
        """The partitions this `revoked` really releases (see PartitionTable.answers)."""
        if m.leaving and m.id != self.id:
            return list(parts)  # it leaves: it holds none of them any more
        return [p for p in parts if p < self.P and self.table.answers(p, m.id, mseq)]

    def _on_revoked_parts(self, m: Member, parts, now):
        table = self.table
        if m.leaving and m.id != self.id:  # it takes no more: what we sent it unconfirmed is
            # free (revokes still running are not: each is acknowledged when its handler returns)
            parts = set(parts) | set(table.kept(m.id))
        grace = now + self.cfg.rejoin_grace if m.restarting else None
        for p in parts:
            if p < self.P and table.holder(p) == m.id:
                table.released(p, now, grace)
        self.dirty = True
        self.members_version += 1
        self.view_cache = None
        if m.leaving and m.id == self.id and not table.held(m.id):
            # We let go of all we owned: give it out now (our members take it from us, and
            # report it to the next leader), then go.
            self._rebalance(now)
            self._leader_leave_now()
        elif m.leaving and not table.held(m.id) and m.id in self.members and m.id != self.id:
            self._drop_member(m, "restarting" if m.restarting else "left")

    def _drop_member(self, m: Member, reason: str):
        log.info("member %s left (%s)", m.id, reason)
        del self.members[m.id]
        if m.id != self.id and m.addr not in self.seeds:
            self.view_bytes -= member_entry_bytes(m.id, m.addr)
        elif m.id != self.id:
            self.voter_slack -= voter_slack(m.id, m.addr)
        if m.link is not None and reason != "connection closed":
            self._close(m.link)
        # its lease, renewed at most at last_heard, surely ends by this time
        free = m.last_heard + self.L + self.margin
        for p in self.table.held(m.id):
            self.table.lost(p, free)
        self.members_version += 1
        self.view_cache = None
        self.dirty = True
        self.out.append(Membership(False, m.id, m.addr, m.priority))
