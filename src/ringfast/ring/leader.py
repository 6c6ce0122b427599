"""The leader: its start (what earlier leases it must wait out), its quorum, its members.

A leader holds office on its quorum: it steps down (and stops answering heartbeats, which
would renew leases) as soon as it cannot prove that a quorum of voters heard it within
`failure_timeout`. Its members are the followers that heartbeat it; what they hold is in
the partition table (handoff.py, ringfast.table).
"""

from __future__ import annotations

import logging

from ..events import PartitionsChanged
from ..limits import member_entry_bytes, voter_slack
from ..protocol import MAX_MEMBERS
from ..table import PartitionTable
from .actions import Membership
from .common import Member, step

log = logging.getLogger(__name__)


class Leader:
    """Part of `Ring` (ring/core.py): the state it reads and writes is the Ring's."""

    def _become_leader(self, now: float):
        log.info("leader for epoch %d with votes from %s", self.epoch, sorted(self.votes))
        self.leader_since = now
        self.voter_heard = {a: self.asked_at for a in self.votes}  # they answered after we asked
        self.members = {}
        # the list's bytes, partitions and voters aside (their room is kept: Ring.view_budget)
        voter = self.addr in self.seeds
        self.view_bytes = 0 if voter else member_entry_bytes(self.id, self.addr)
        self.voter_slack = voter_slack(self.id, self.addr) if voter else 0
        voters = set(self.votes.values()) - {self.id}
        if self.fresh_candidacy and voters <= self.fresh_voters:
            # Every voter of this quorum (and we) had never voted nor run: no earlier leader
            # was ever elected, so nobody holds a lease. Nothing to wait out (a cold start).
            log.info("elected by fresh voters only: no earlier leases to wait for")
            self.table = PartitionTable(self.P, self.epoch, None)
        else:
            # Partitions nobody reports may be leased by an earlier leader. Its quorum shares a
            # voter with ours, and it grants no lease past its quorum deadline, which that
            # voter's "grants" covers: so every such lease has ended by the latest grants of
            # a voter of ours. Three margins: the lease's clock against that leader's, that
            # leader's against the voter's, the voter's against ours (each over at most L).
            grants = max((t for a, t in self.vote_grants.items() if a in self.votes), default=float("-inf"))
            wait = max(now, grants + 3 * self.margin)
            self.table = PartitionTable(self.P, self.epoch, wait)
        self.members_version += 1
        self.view_cache = None
        self.failed_elections = 0
        # Followers of the previous leader report what they hold within a heartbeat or two;
        # moving anything before they have would move what need not move.
        self.expected = {m["id"] for m in self.view if m["role"] != "leader" and m["id"] != self.id}
        if not self.view:
            # No ring before us that we know of (a cold start): the nodes we heard from lately
            # follow us within a round trip of our notice below. Handing everything to the
            # first to report only to ask some of it back as the others do runs revoke
            # handlers at every cold start.
            self.expected = {i for i, (_, _, at, _) in self.known.items()
                             if now - at < self.L and i not in (self.id, self.lost_leader)}
        # where partitions were, as the previous leader last described it: partitions that
        # come back free (their owners' leases ran out while there was no leader) go back there
        self.hint = {p: m["id"] for m in self.view if m["id"] != self.id for p in m["partitions"] if p < self.P}
        self.settle_until = now + min(self.L, 2 * self.cfg.heartbeat_interval + 0.05)
        own = {p: t for p, t in self.held.items() if p not in self.revoke_in_progress}
        lapsed = self.lease_expiry if own and now >= self.lease_expiry else None  # before we got here
        self._set_role("leader", self.id, self.addr)
        if self.cfg.leader_owns_partitions and lapsed is None:
            self._add_self_member(now)
            for p, t in own.items():
                self.table.adopt(p, self.id, t)
        elif own:
            # What we held as a follower goes (the leader owns none by default); if our lease
            # ran out before this (we were frozen, say), our right ended back then.
            for p in own:
                del self.held[p]
            reason = "leader" if lapsed is None else "lease_expired"
            # They were held on our follower lease as it stands now: it covers nothing we no
            # longer report, so a later renewal (from another leader, once we follow again)
            # must not stretch it.
            self._revoke(PartitionsChanged(sorted(own), own, self.epoch, reason, lapsed), "leader_start",
                         parts=own, table=self.table, until=self.lease_expiry)
        self.dirty = True
        # Tell everyone at once: the others would learn of us only with their next hello or
        # heartbeat, up to a heartbeat interval later (the bulk of a failover).
        notice = {**self._common(), "leader": self.id, "leader_addr": self.addr}
        targets = {m["addr"] for m in self.view} | set(self.seeds)
        targets.update(addr for addr, _, heard, _ in self.known.values() if now - heard < self.L)
        for addr in sorted(targets - {self.addr}):
            self._send(addr, "leader_is", notice)

    def _start_revoked(self, ok, parts, table, until):
        """What we held as a follower, let go of as we became leader: free at once if we still
        lead with the same table (nobody else held it: it was ours)."""
        if self.role == "leader" and self.table is table:
            for p in parts:
                table.released_unheld(p, self.clock())
        self.dirty = True
        # held on our follower lease as it was when we became leader, which no longer renews
        # them: if the handler outlived it (we froze), the right ended with it
        return until if self.clock() >= until else None

    def _stop_revoked(self, ok, until):
        """What we owned as leader, let go of as we stopped leading: held on our quorum, so
        the right ended with it if the handlers outlived it."""
        return until if self.clock() >= until else None

    def _add_self_member(self, now):
        self.members[self.id] = Member(self.id, self.addr, self.priority, None, now, inc=self.inc)
        self.sessions += 1
        self.members[self.id].mseq = self.sessions << 32

    def _leader_cleanup(self):
        self.members = {}
        self.table = PartitionTable(0, 0, 0.0)
        if self.cfg.leader_owns_partitions and self.held:
            # a leader's own partitions are held on its quorum, as a follower's on its lease
            until = self._quorum_until(self.clock()) if self.voter_heard else self.clock()
            parts = dict(self.held)
            self.held.clear()
            self._revoke(PartitionsChanged(sorted(parts), parts, self.epoch, "leader"), "leader_stop", until=until)

    def _quorum_until(self, now: float) -> float:
        """Until when a quorum of voters surely still hears us (our own vote counts now)."""
        if self._is_voter(self.addr):
            self.voter_heard[self.addr] = now
        times = sorted(self.voter_heard.values(), reverse=True)
        return times[self.quorum - 1] + self.L if len(times) >= self.quorum else float("-inf")

    def _quorum_proven(self, now: float) -> float:
        """Until when a quorum of voters is proven to have followed us (so no newer leader
        existed before): the quorum's oldest confirmation of something we sent."""
        if self._is_voter(self.addr):
            self.voter_heard[self.addr] = now
        times = sorted(self.voter_heard.values(), reverse=True)
        return times[self.quorum - 1] if len(times) >= self.quorum else float("-inf")

    def _probe_voters(self, now: float) -> None:
        """Ask every voter among our members for a proof that it still follows us: an empty
        assign, which it answers with a heartbeat at once (its `seen` confirms it). Every
        half heartbeat, or every quarter while a wait needs the proof."""
        self.last_probe = now
        self.next_probe = now + self.cfg.heartbeat_interval / (4 if self.need_proof else 2)
        for m in list(self.members.values()):
            if m.id != self.id and m.addr in self.seeds and m.link is not None:
                m.mseq += 1
                m.probe = (m.mseq, now)
                self._send_member(m.id, "assign", {"mseq": m.mseq, "partitions": []})

    def _has_quorum(self, now: float) -> bool:
        return now < self._quorum_until(now)

    def _leadership_lapsed(self, now: float) -> bool:
        """Step down if our leadership may have ended. Checked on every path where a leader
        acts (its tick, and each message before it is handled): a leader frozen just before
        its quorum deadline wakes up to heartbeats queued in its sockets before its tick runs,
        and answering them would renew leases that outlive the next leader's wait."""
        gap = now - self.last_tick
        if gap >= self.L:
            # We were frozen (SIGSTOP, a long GC, a VM pause) for longer than a lease: others
            # have moved on. Step down before acting on anything we knew before the pause.
            log.warning("paused for %.2fs (longer than the lease): stepping down", gap)
        elif not self._has_quorum(now):
            log.warning("leader cannot hear a quorum (%d) of seed nodes: stepping down", self.quorum)
        elif now < self.conflict_until:
            log.error("a seed node runs conflicting settings: stepping down until they agree")
        else:
            return False
        self._become_follower(None, None)
        return True

    def _leader_tick(self, now: float):
        if self.stopping and not any(not m.leaving for m in self.members.values() if m.id != self.id):
            self._leader_leave_now()  # handing our partitions over, and nobody left to take them
            return
        if self.cfg.leader_owns_partitions and self.id in self.members:
            self.members[self.id].last_heard = now
        if now >= self.next_discovery:
            # Seeds that are not members are asked who they are: one restarted with other
            # settings (a botched rollout) is found and refused before it can form a ring
            # of its own beside ours.
            self.next_discovery = now + self.cfg.heartbeat_interval
            in_ring = {m.addr for m in self.members.values()}
            self._send_hellos([a for a in self.seeds if a not in in_ring])
        for m in list(self.members.values()):
            if m.id == self.id:
                continue
            if now - m.last_heard >= self.L:
                self._drop_member(m, "timeout")
            elif (revoking := self.table.revoking(m.id)) and min(revoking.values()) + self.cfg.handler_timeout + self.margin < now:
                log.warning("%s did not finish revoking in %.1fs: letting its lease run out", m.id, self.cfg.handler_timeout)
                self._drop_member(m, "revoke timeout")
            elif (revoking or self.table.pending(m.id)) and now - m.last_sent > 2 * self.cfg.heartbeat_interval + 0.1:
                self._resend(m, now)
        if now >= self.next_wake:  # a freed partition's lease, or a rejoin grace, has run out
            self.dirty = True
        if now >= self.next_probe and not (self.need_proof and self.dirty):
            # The voters' answers keep our quorum deadline, and so the leases we grant (which
            # end by it), within half a heartbeat (and a round trip) of a full lease: a
            # regular heartbeat confirms only the answer to the one before, up to two
            # heartbeats old. A wait that needs a proof gets one too (a rebalance, when one
            # is due, asks itself).
            self._probe_voters(now)
        if self.dirty and now < self.settle_until and not self.expected <= self.members.keys():
            return  # still waiting for the previous leader's followers to report
        if self.dirty:
            self.dirty = False
            self._rebalance(now)

    def _on_heartbeat(self, link, body, now, dialed=None):
        if self.role != "leader":
            self._reply(link, "leader_is", {**self._common(), "leader": self.leader, "leader_addr": self.leader_addr})
            return
        fid = body["from"]
        m = self.members.get(fid)
        if m is None and body["addr"] in self.seeds:
            other = next((o for o in self.members.values() if o.addr == body["addr"] and o.id != fid), None)
            if other is not None:
                self._refuse(link, fid, "duplicate_address",
                             f"seed address {body['addr']} is already used by member {other.id!r}")
                return
        reconnected = False
        if m is None or m.link != link:
            if m is not None:  # reconnected: what we sent on the old connection may be lost
                m.link = link
                reconnected = True
            else:
                voter = body["addr"] in self.seeds  # (room is kept for each voter: Ring.view_budget)
                size = 0 if voter else member_entry_bytes(fid, body["addr"])
                if not voter and (self.view_bytes + size > self.view_budget + self.voter_slack
                                  or len(self.members) + len(self.seeds) + 1 >= MAX_MEMBERS):
                    # [harden] every heartbeat answer that carries the member list would
                    # exceed the frame limit (or the list's length), and every follower would
                    # lose its lease
                    self._refuse(link, fid, "ring_full",
                                 f"the member list would take more than RINGFAST_MAX_FRAME={self.cfg.max_frame_size} "
                                 f"bytes or {MAX_MEMBERS} entries with this member ({len(self.members)} members now): "
                                 "raise RINGFAST_MAX_FRAME on every node first, then restart them (a leader with a "
                                 "larger limit than its followers sends answers they refuse)")
                    return
                self.view_bytes += size
                if voter:
                    self.voter_slack += voter_slack(fid, body["addr"])
                m = Member(fid, body["addr"], body["priority"], link, now, inc=body["inc"])
                # Message numbers only grow, across sessions too: once it has handled a
                # newer one, an older one it never reported is lost for good.
                self.sessions += 1
                m.mseq = self.sessions << 32
                self.members[fid] = m
                self.dirty = True
                self.members_version += 1
                self.view_cache = None
                self.out.append(Membership(True, m.id, m.addr, m.priority))
                log.info("member %s joined from %s", fid, body["addr"])
        m.last_heard = now
        confirmed = m.acks.pop(body["acked"], None)
        if m.probe is not None and body["seen"] >= m.probe[0]:
            confirmed = max(confirmed or 0.0, m.probe[1])  # it handled our probe: it followed us then
            m.probe = None
            self.dirty = self.dirty or self.need_proof
        if confirmed is not None and body["addr"] in self.seeds:
            # The quorum is timed by answers the voter confirms it got, stamped when we
            # sent them: a heartbeat that sat in a buffer (we were frozen, or the link was
            # cut) says nothing about whether the voter still hears us.
            self.voter_heard[body["addr"]] = max(self.voter_heard.get(body["addr"], 0.0), confirmed)
        reported = dict(body["holdings"])
        if reconnected and self.table.revoking(m.id):
            self._redo_revokes(m, reported, now)
        if reconnected and self.table.pending(m.id):  # a newer number settles what the old connection lost
            m.mseq += 1
            self._send_member(m.id, "assign", {"mseq": m.mseq, "partitions": []})
        if self._reconcile(m, reported, body["seen"], now):
            return  # it claims what another member owns: no lease renewal until it lets go
        # The lease this answer renews ends at our quorum deadline at the latest (counted
        # from the heartbeat's send time, which is before now): a lease never outlives the
        # quorum that backs it, so a leader elected after us waits only for what its voters
        # say we may still count on them (their grants), not a lease beyond that.
        granted = max(0, int(min(self.L, self._quorum_until(now) - now) * 1000))
        self.granted_until = max(self.granted_until, now + granted / 1000)
        ack = {**self._common(), "seq": body["seq"], "mv": self.members_version, "members": None,
               "lease": granted}
        if body["mv"] != self.members_version:
            ack["members"] = self.describe()
        self._reply(link, "heartbeat_ack", ack)
        m.acks[body["seq"]] = now
        if len(m.acks) > 64:
            for seq in sorted(m.acks)[:-32]:
                del m.acks[seq]
        self.metrics.heartbeats.inc()

    def _on_leave(self, link, body, now, dialed=None):
        if self.role == "leader":
            m = self.members.get(body["from"])
            if m is not None:
                m.leaving = True
                m.restarting = body["restart"]
                if not self.table.held(m.id):
                    self._drop_member(m, "restarting" if m.restarting else "left")
        elif body["from"] == self.leader:
            log.info("leader %s is leaving", self.leader)
            # (grants_until stays: the leases it granted, which may rely on us, last until then)
            self.lost_leader = self.leader
            self._set_role("follower", None)
            self.last_leader_contact = now - self.L
            self._schedule_election(now)

    def describe(self) -> list[dict]:
        """The members as the leader sees them: O(members + partitions) entries."""
        if self.view_cache is None:
            view = [
                {"id": self.id, "addr": self.addr, "priority": self.priority, "role": "leader", "partitions": sorted(self.held) if self.cfg.leader_owns_partitions else []}
            ]
            for m in sorted(self.members.values(), key=lambda m: (m.priority, m.id)):
                if m.id != self.id:
                    view.append({"id": m.id, "addr": m.addr, "priority": m.priority, "role": "follower", "partitions": sorted(self.table.kept(m.id))})
            self.view_cache = view
        return self.view_cache

    @step
    def on_inbound_closed(self, link):
        """A connection a peer opened to us closed: a member heartbeating on it is gone."""
        if self.role == "leader":
            m = next((m for m in self.members.values() if m.link == link), None)
            if m is not None and m.id != self.id:
                self._drop_member(m, "connection closed")
