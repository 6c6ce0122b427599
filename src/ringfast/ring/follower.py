"""The follower: heartbeats and the lease they renew, assign and revoke, leaving.

A follower heartbeats its leader every `heartbeat_interval` with what it holds; an answer
renews its lease from the heartbeat's *send* time for as long as the answer says: the
leader's quorum deadline, at most `failure_timeout`. It runs the
application's revoke handlers and tells the leader only once they returned; when its lease
runs out it revokes everything itself.
"""

from __future__ import annotations

import logging

from ..events import PartitionsChanged
from .actions import Assigned
from .common import LOST_JITTER, step

log = logging.getLogger(__name__)


class Follower:
    """Part of `Ring` (ring/core.py): the state it reads and writes is the Ring's."""

    def _may_follow(self, now: float) -> bool:
        """Whether we may follow the leader of our current epoch: as its follower we answer
        its messages, and a voter's answers count in its quorum, so following backs it as
        a vote does. Not below the epoch our state dir holds (we voted or followed there:
        after a restart, following an older leader would back it beside the one we
        elected); not while fresh if the state dir did not take this epoch (a restart
        would be fresh again, and its votes would say that it backed nobody); and, without
        a state dir, not while our start-up vote block lasts (we may have voted for another
        leader just before a restart and forgotten it)."""
        if self.epoch < self.recorded:
            return False
        if self.storage is not None:  # (fresh: record it now if it was not taken before)
            return not self.fresh or self.recorded >= self.epoch or self._persist(self.epoch, self.voted)
        return not (now < self.vote_blocked_until and self._is_voter(self.addr))

    def _become_follower(self, leader: str | None, addr: str | None):
        if leader is not None and not self._may_follow(self.clock()):
            self._log_once(("no_follow", leader, self.epoch), logging.WARNING,
                           "not following leader %s of epoch %d yet: %s", leader, self.epoch,
                           "our state dir holds a newer epoch" if self.epoch < self.recorded else
                           "our state dir did not take its epoch" if self.storage is not None else
                           "just started without a state dir (a vote before the restart may be forgotten)")
            leader, addr = None, None
        if self.role == "leader":
            # We renew no lease from now on; those we granted (and our own hold, with the
            # leader owning partitions) end by our quorum deadline: our votes say so.
            now = self.clock()
            held_until = self._quorum_until(now) if self.voter_heard else float("-inf")
            self.grants_until = max(self.grants_until, self.granted_until, held_until)
            self._leader_cleanup()
        self.votes = {}
        now = self.clock()
        self._set_role("follower", leader, addr)
        if leader is not None:
            if self.voted is not None and self.epoch >= self.voted[0]:
                self.promised_until = float("-inf")  # the election we voted in is decided
            self.last_leader_contact = now
            self.failed_elections = 0
            if self.seen_for != (leader, self.epoch):  # message numbers are per leader
                self.seen_for = (leader, self.epoch)
                self.seen_mseq = 0
            self.hb_sent.clear()
            self.next_heartbeat = now
        else:
            self._schedule_election(now)

    def _follower_tick(self, now: float):
        if self.held and now >= self.lease_expiry:
            self._expire_lease()
        if self.leader is not None and now - self.last_leader_contact >= self.L:
            log.info("no answer from leader %s for %.2fs", self.leader, now - self.last_leader_contact)
            lost = self.last_leader_contact + self.L
            self.lost_leader = self.leader
            self._set_role("follower", None)
            self._schedule_election(lost)
        if self.role == "candidate" and now >= self.election_deadline:
            self.failed_elections += 1
            self._set_role("follower", None)
            self.election_at = now + self.rng.uniform(self.L / 4, self.L / 2)
        if self.leader is None and self.role == "follower":
            if now >= self.next_discovery:
                self.next_discovery = now + self.cfg.heartbeat_interval
                # the newest epoch we voted or ran in travels with it: candidates then start
                # above it, and a leader of an older epoch learns that it has been superseded
                self._send_hellos(self.seeds)
            if (now >= self.election_at + self._rank(now) * self.stagger and not self.stopping
                    and now >= self.conflict_until and now >= self.suspended_until):
                self._start_election(now)
        # A stopping node that holds nothing any more does not report to a leader it found
        # after it left (a new one, say): that leader would take it for a new member and
        # hand it partitions that then wait out a lease when it exits.
        quiet = self.stopping and not self.held and not self.revoke_in_progress
        if self.leader is not None and now >= self.next_heartbeat and now >= self.suspended_until and not quiet:
            self._send_heartbeat(now)

    def _send_hellos(self, addrs):
        # the newest epoch we voted, ran or followed in (this run or, by our state dir, an
        # earlier one) travels with it: candidates then start above it, and a leader of an
        # older epoch learns that it has been superseded (we may not follow it: _may_follow;
        # a voter would otherwise stay out of the ring for as long as that leader lives)
        hello = {**self._common(), "epoch": max(self.epoch, self.vote_floor, self.recorded), "addr": self.addr,
                 "priority": self.priority, "wall": int(self.wall() * 1000),
                 "voters": list(self.seeds)}
        for addr in addrs:
            if addr != self.addr:
                self._send(addr, "hello", hello)

    def _send_heartbeat(self, now: float):
        self.next_heartbeat = now + self.cfg.heartbeat_interval
        if self.held and now >= self.lease_expiry:
            self._expire_lease()
        self.hb_seq += 1
        self.hb_sent[self.hb_seq] = (now, now < self.lease_expiry or not self.held)
        log.debug("heartbeat %d to %s", self.hb_seq, self.leader)
        if len(self.hb_sent) > 64:
            for seq in sorted(self.hb_sent)[:-32]:
                del self.hb_sent[seq]
        self._send(
            self.leader_addr,
            "heartbeat",
            {
                **self._common(),
                "addr": self.addr,
                "priority": self.priority,
                "seq": self.hb_seq,
                "acked": self.hb_acked,
                "holdings": [[p, t] for p, t in self.held.items()],
                "seen": self.seen_mseq,
                "mv": self.mv,
            },
        )

    def _right_ended(self) -> float | None:
        """Called when a revoke handler returns: if our lease ran out meanwhile (we were
        frozen, say), our right to act ended then, not now, and the journal must say so."""
        if self.role != "leader" and self.clock() >= self.lease_expiry:
            return self.lease_expiry
        return None

    def _expire_lease(self):
        expired_at = self.lease_expiry
        # those being revoked already end with their own handler (it reports the expiry)
        parts = {p: t for p, t in self.held.items() if p not in self.revoke_in_progress}
        if not parts:
            return
        for p in parts:
            del self.held[p]
        log.warning("lease expired: revoking %d partitions", len(parts))
        self._revoke(PartitionsChanged(sorted(parts), parts, self.epoch, "lease_expired", expired_at), "lease_expired")

    def _lease_revoked(self, ok):
        return None  # already gone from what we hold; the change itself says when it ended

    def _on_heartbeat_ack(self, link, body, now, dialed=None):
        if body["from"] != self.leader or body["epoch"] != self.epoch:
            return
        sent = self.hb_sent.pop(body["seq"], None)
        self.last_leader_contact = self.leader_heard = now
        self.grants_until = max(self.grants_until, now + self.L)  # it may count us in its quorum till then
        self.hb_acked = max(self.hb_acked, body["seq"])
        if sent is not None:
            sent_at, lease_valid = sent
            self.metrics.rtt.observe(now - sent_at)
            if lease_valid:
                # from our send time, for as long as the leader's quorum backs it (at most L)
                self.lease_expiry = max(self.lease_expiry, sent_at + min(self.L, body["lease"] / 1000))
                log.debug("lease until %.3f (heartbeat %d)", self.lease_expiry, body["seq"])
        if body["members"] is not None:
            self.view = body["members"]
            self.mv = body["mv"]

    def _apply_assign(self, body):
        # seen even when refused: our next heartbeat then tells the leader we did not take it
        self.seen_mseq = max(self.seen_mseq, body.get("mseq", 0))
        if self.stopping:
            return  # leaving: the leader frees whatever we do not take
        if self.role != "leader" and self.clock() >= self.lease_expiry:
            log.debug("refusing assign mseq %s: no valid lease", body.get("mseq"))
            return  # no valid lease (e.g. a frame buffered while we were frozen): refuse it
        # A token at or below one we already had for that partition is a stale or repeated
        # assign (say, one asked again that crossed a revoke): taking it would undo the revoke.
        new = {p: t for p, t in body["partitions"] if p < self.P and t > self.max_token.get(p, -1)}
        self.max_token.update(new)
        if not new:
            return
        self.held.update(new)
        self.out.append(Assigned(PartitionsChanged(sorted(new), new, self.epoch)))

    def _apply_revoke(self, body, answer: tuple):
        """A revoke from the leader (or from ourselves, leading and owning partitions).
        `answer` says whom to tell once the handlers returned (see _answer_revoke)."""
        self.seen_mseq = max(self.seen_mseq, body.get("mseq", 0))
        parts = {p: self.held[p] for p in body["partitions"] if p in self.held and p not in self.revoke_in_progress}
        absent = [p for p in body["partitions"] if p not in self.held]
        if absent and self.clock() >= self.suspended_until:
            self._answer_revoke(answer, absent)  # not ours (any more): say so, so the leader can move on
        # (but not while a handler that timed out may still use them: we let our lease run
        # out instead, and the leader waits for that; a repeated revoke must not cut it short)
        if not parts:
            return  # (those being revoked already are acknowledged when their handler returns)
        self.revoke_in_progress.update(parts)
        reason = "rebalance" if not self.stopping else "restart" if self.leave_restart else "stop"
        self._revoke(PartitionsChanged(sorted(parts), parts, self.epoch, reason), "rebalance",
                     parts=parts, answer=answer)

    def _rebalance_revoked(self, ok, parts, answer):
        ended = self._right_ended()
        self.revoke_in_progress.difference_update(parts)
        for p, t in parts.items():
            if self.held.get(p) == t:
                del self.held[p]
        if ok:
            self._answer_revoke(answer, sorted(parts))
        elif answer[0] == "self" and self.role == "leader":
            # Our own handler (a leader owning partitions) did not return in time: nobody can
            # say the application let go, and a leader's hold never runs out while it leads.
            # So we stop leading and stay out of elections while what we granted runs out;
            # the next leader waits for these partitions as for any nobody reports.
            log.error("revoke handler timed out on the leader: stepping down, no candidacy for a lease")
            self.suspended_until = self.clock() + self.L + self.margin
            self._leader_leave_now()  # our members elect another at once
        else:
            # A handler did not return in time: we cannot say the application let go,
            # so we stop renewing our lease and let it run out; the leader waits for that.
            log.error("revoke handler timed out: letting the lease expire before rejoining")
            self.suspended_until = self.clock() + self.L + self.margin
        return ended

    def _answer_revoke(self, answer: tuple, parts) -> None:
        """Tell whoever asked that we let go of `parts`: ("leader", its id, the revoke's
        number) gets a `revoked` if it still leads us; ("self", our Member record, epoch,
        number) is the leader talking to itself, answered only in the same leadership."""
        if answer[0] == "leader":
            _, leader, mseq = answer
            if self.leader == leader:
                self._send(self.leader_addr, "revoked", {**self._common(), "partitions": list(parts), "mseq": mseq})
        else:
            _, m, epoch, mseq = answer
            if self.role == "leader" and self.epoch == epoch and self.members.get(m.id) is m:
                self._on_revoked_parts(m, self._answered(m, parts, mseq), self.clock())

    def _on_assign(self, link, body, now, dialed=None):
        if self.leader != body["from"]:
            self._follow_sender(link, body, now)
            if self.leader != body["from"]:
                return
        self.last_leader_contact = self.leader_heard = now
        self.grants_until = max(self.grants_until, now + self.L)  # it may count us in its quorum till then
        self._apply_assign(body)
        if not body["partitions"] and now >= self.suspended_until:
            self._send_heartbeat(now)  # a probe: our `seen` proves at once that we follow it

    def _on_revoke(self, link, body, now, dialed=None):
        if self.leader != body["from"]:
            return
        # (its number counts in our `seen`, which the leader takes as proof that we follow it)
        self.grants_until = max(self.grants_until, now + self.L)
        self._apply_revoke(body, ("leader", body["from"], body["mseq"]))

    @step
    def on_connection_lost(self, addr: str):
        """A hint: the connection to `addr` closed or could not open."""
        if addr == self.leader_addr and self.role == "follower":
            now = self.clock()
            log.info("lost connection to leader %s", self.leader)
            self.lost_leader = self.leader
            self._set_role("follower", None)
            self.last_leader_contact = now - self.L
            # its process is gone (or its host): elect now, with only a little jitter
            self.election_at = now + self.rng.uniform(0, min(self.stagger / 4, LOST_JITTER))

    @step
    def leave(self, restart: bool):
        """Hand off at once: revoke locally (handlers run), tell the leader, stop asking for votes."""
        if self.stopping:
            return  # once is enough: a second "leave" would tell the leader we hold nothing
        self.stopping = True
        self.leave_restart = restart
        if self.role == "leader":
            me = self.members.get(self.id)
            if me is not None and self.table.held(self.id) and any(
                    not m.leaving for m in self.members.values() if m.id != self.id):
                # We own partitions (RINGFAST_LEADER_OWNS_PARTITIONS) and others can take
                # them: hand them over as a leaving member would, while we still lead (our
                # handlers run, then they are assigned); we leave when we hold none.
                me.leaving, me.restarting = True, restart
                self.dirty = True
                return
            self._leader_leave_now()
            return
        # Partitions stay held (and reported) until the handlers return: only then may the
        # leader give them to someone else.
        parts = {p: t for p, t in self.held.items() if p not in self.revoke_in_progress}
        self.revoke_in_progress.update(parts)
        if parts:
            reason = "restart" if restart else "stop"
            self._revoke(PartitionsChanged(sorted(parts), parts, self.epoch, reason), "leave",
                         parts=parts, restart=restart)
        else:
            self._leave_revoked(True, parts, restart)

    def _leader_leave_now(self):
        """Tell the members we leave, then follow nobody (they elect at once)."""
        for m in list(self.members.values()):
            if m.link is not None:
                self._reply(m.link, "leave", {**self._common(), "restart": self.leave_restart})
        self._become_follower(None, None)

    def _leave_revoked(self, ok, parts, restart):
        ended = self._right_ended()
        self.revoke_in_progress.difference_update(parts)
        for p, t in parts.items():
            if self.held.get(p) == t:
                del self.held[p]
        # the leader of now, not of when we began: it may have changed while handlers ran
        leader_addr = self.leader_addr if self.leader is not None else None
        if leader_addr is not None:  # "leave" first: the leader then knows to keep what we revoke for us
            self._send(leader_addr, "leave", {**self._common(), "restart": restart})
            self._send(leader_addr, "revoked", {**self._common(), "partitions": sorted(parts), "mseq": 0})
        return ended
