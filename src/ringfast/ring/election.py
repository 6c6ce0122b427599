"""Elections: pre-vote and vote, who may vote for whom, and who leads (issue 11: roles apart).

A follower that hears no leader for `failure_timeout` (plus a delay per better-placed live
node) asks the voters (the seed nodes) for a pre-vote, then a vote; a quorum of votes
makes it leader of a new epoch. A voter grants one vote per epoch, none while it hears a
live leader, none for a timeout after it started (unless its state dir proves it never
voted), and none to a node whose settings fingerprint differs from its own.
"""

from __future__ import annotations

import logging

from ..assumptions import printable

log = logging.getLogger(__name__)


class Election:
    """Part of `Ring` (ring/core.py): the state it reads and writes is the Ring's."""

    def _is_voter(self, addr: str) -> bool:
        return not self.seeds or addr in self.seeds

    def _rank(self, now: float) -> int:
        """How many live nodes have better priority: those the leader last described, and
        those we heard from lately (at a cold start, that is all we know)."""
        me = (self.priority, self.id)
        better = {m["id"] for m in self.view if m["role"] != "leader" and (m["priority"], m["id"]) < me}
        better.update(i for i, (_, prio, heard, _) in self.known.items() if now - heard < self.L and (prio, i) < me)
        better.discard(self.leader)
        better.discard(self.lost_leader)
        better.discard(self.id)
        return len(better)

    def _schedule_election(self, base: float):
        """Elections start at `election_at` plus a delay per better-placed live node, worked
        out when the time comes, so the best live node usually asks first."""
        self.election_at = base + self.rng.uniform(0, self.stagger / 4)

    def _maybe_start_early(self, now: float) -> None:
        """A fresh node (one that has never voted nor run) that has heard a hello from every
        other seed knows every voter and so its exact rank: it need not wait out the rest of
        START_WAIT and its jitter before its first election (the best-placed node asks at
        once, the others still wait a stagger per better-placed node). Only liveness hangs on
        this: a voter that hears a live leader refuses the pre-vote anyway."""
        if not self.fresh or self.role != "follower" or self.leader is not None:
            return
        heard = {addr for addr, _, at, _ in self.known.values() if now - at < self.L}
        if all(addr in heard for addr in self.seeds if addr != self.addr):
            self.election_at = min(self.election_at, now)

    def hears_leader(self, now: float) -> bool:
        if self.role == "leader":
            return True
        # only first-hand: a leader someone told us about does not count until it answers,
        # or followers would keep vouching for a dead leader to each other
        return self.leader is not None and now - self.leader_heard < self.L

    def _start_election(self, now: float):
        """Pre-vote first: ask whether a quorum would vote for us, without changing epochs,
        so a node that cannot win (cut off, or outranked) never inflates the epoch."""
        self.prevote = True
        self.votes = {self.addr: self.id} if self._is_voter(self.addr) else {}
        self._set_role("candidate", None)
        self.election_deadline = now + self.rng.uniform(self.L / 2, self.L)
        self._ask_votes(now, pre=True)

    def _ask_votes(self, now: float, pre: bool):
        if self._vote_count() >= self.quorum:
            if pre:
                self._start_real_election(now)
            else:
                self._become_leader(now)
            return
        self.asked_at = now
        req = {**self._common(), "epoch": self._next_epoch() if pre else self.epoch, "addr": self.addr,
               "priority": self.priority, "pre": pre, "wall": int(self.wall() * 1000),
               "voters": list(self.seeds)}
        for addr in self.seeds:
            if addr != self.addr:
                self._send(addr, "vote_req", req)

    def _vote_count(self) -> int:
        """Votes count per voter identity: a relay or a load balancer that maps two seed
        addresses to one process must not count that process twice."""
        return len(set(self.votes.values()))

    def _next_epoch(self) -> int:
        return max(self.epoch, self.vote_floor, self.epoch_floor) + 1

    def _start_real_election(self, now: float):
        epoch = self._next_epoch()
        # [harden] recorded before it is used: a candidacy the state dir did not take could be
        # repeated in the same epoch after a restart (two leaders of one epoch). Nothing has
        # changed yet, so giving up here leaves no half-done state; the next try writes again.
        if self._persist(epoch, (epoch, self.id)) is False:
            self._set_role("follower", None)
            self.election_at = now + self.rng.uniform(self.L / 4, self.L / 2)
            return
        self.prevote = False
        self.fresh_candidacy, self.fresh = self.fresh, False
        self.fresh_voters = set()
        self.epoch = epoch
        self.vote_floor = self.epoch
        self.voted = (self.epoch, self.id)
        self.votes = {self.addr: self.id} if self._is_voter(self.addr) else {}
        self.vote_grants = {self.addr: self.grants_until}  # our own backing counts as a voter's
        log.info("candidate for epoch %d", self.epoch)
        self._ask_votes(now, pre=False)

    def _on_vote_req(self, link, body, now, dialed=None):
        cand, epoch, pre = body["from"], body["epoch"], body["pre"]
        genuine = self._note_known(body, now)  # not a second process with a live node's id
        self._check_wall(cand, body["wall"])
        granted = genuine and self._may_vote(cand, body["priority"], epoch, pre, now)
        if granted and not pre and self._persist(epoch, (epoch, cand)) is False:
            granted = False  # [harden] a vote the state dir did not take could be cast twice after a restart
        if granted and not pre:
            self.epoch = epoch
            self.vote_floor = max(self.vote_floor, epoch)
            self.voted = (epoch, cand)
            if self.role != "follower":
                self._become_follower(None, None)
            elif self.leader is not None:
                self._set_role("follower", None)  # a new epoch: the old leader is not ours any more
            self.election_at = max(self.election_at, now + self.L / 2)  # give it time to win
        # If it wins, it counts on our vote as contact until one failure timeout after it
        # asked, and may grant leases a lease beyond. We may vote again before then (a
        # leader that died at once is replaced at once), but our vote says when we last
        # backed a leader, and the leader it elects waits out what that one may have granted.
        grants = min(2**31 - 1, max(0, int((self.grants_until - now) * 1000) + 1)) if self.grants_until > now else 0
        if granted and not pre:
            self.grants_until = max(self.grants_until, now + self.L)
            # Give the candidate we voted for a chance to win before voting for another (no
            # duelling candidates); once we follow the leader it became, hearing it keeps us
            # from voting, and losing it frees us at once.
            self.promised_until = now + self.L
        # our floor travels with the answer, so a refused candidate asks above it next time
        floor = max(self.epoch, self.vote_floor, self.epoch_floor)
        fresh = self.fresh
        if granted and not pre:
            self.fresh = False  # from now on a leader may hold leases because of us
        self._reply(link, "vote", {**self._common(), "epoch": floor, "granted": granted, "pre": pre, "addr": self.addr,
                                     "fresh": fresh, "grants": grants})

    def _may_vote(self, cand: str, priority: int, epoch: int, pre: bool, now: float) -> bool:
        if now < self.conflict_until:
            return False  # a voter of ours runs conflicting settings: nobody may elect
        if epoch <= self.epoch or (not pre and epoch <= self.vote_floor and self.voted != (epoch, cand)):
            return False  # a stale candidate, or an epoch we already voted or ran in
        if epoch <= self.epoch_floor:
            # We may have voted there before a restart and forgotten it (no state dir): only
            # epochs above our floor (persisted, else the wall clock at start) are safe.
            return False
        if now < self.vote_blocked_until:
            return False  # just started: we may have voted in this epoch before a restart
        if now < self.promised_until:
            return False  # we voted lately: that candidate may still win
        if self.hears_leader(now):
            return False
        if ((self.priority, self.id) < (priority, cand) and self.failed_elections < 2 and not self.stopping
                and now >= self.suspended_until):
            return False  # we are better placed and still trying: let us ask first
        return True

    def _on_vote(self, link, body, now, dialed=None):
        if not body["granted"]:
            self.epoch_floor = max(self.epoch_floor, body["epoch"])
        if self.role != "candidate" or body["pre"] != self.prevote or now > self.election_deadline:
            return  # not asking, or asking no more (votes held up while we were frozen)
        if not body["granted"] or dialed not in self.seeds:
            return
        if body["addr"] != dialed:
            # the process that answered at this seed's address says it is another seed: a
            # relay, a load balancer or a copied config; its vote counts for neither
            self._log_once(("voter_addr", dialed, body["addr"]), logging.ERROR,
                           "the voter reached at %s answers as %s (node %s): its vote does not count",
                           dialed, printable(body["addr"]), printable(body["from"]))
            return
        if not body["pre"] and body["epoch"] != self.epoch:
            return
        self.votes[dialed] = body["from"]
        if not body["pre"]:
            self.vote_grants[dialed] = now + body["grants"] / 1000
        if body["fresh"] and not body["pre"]:
            self.fresh_voters.add(body["from"])
        if self._vote_count() >= self.quorum:
            if self.prevote:
                self._start_real_election(now)
            else:
                self._become_leader(now)

    def _on_leader_is(self, link, body, now, dialed=None):
        leader, addr, epoch = body["leader"], body["leader_addr"], body["epoch"]
        if leader is None or leader == self.id or addr is None:
            return
        # Never back to an older epoch: having voted in a newer one, supporting its
        # predecessor could hand out a lease the new leader does not know about.
        if epoch > self.epoch or (epoch == self.epoch and self.role != "leader"):
            if self.leader != leader or epoch != self.epoch:
                log.info("following leader %s at %s (epoch %d)", leader, addr, epoch)
                if self.role == "leader":
                    self._become_follower(None, None)
                if epoch > self.epoch:
                    self._persist(epoch, self.voted)  # the highest epoch seen must survive a restart
                self.epoch = epoch
                self._become_follower(leader, addr)

    def _follow_sender(self, link, body, now, dialed=None):
        addr = self.known.get(body["from"], (None,))[0]
        if addr is not None and self.role != "leader":
            self._become_follower(body["from"], addr)

    def _reply_leader_is(self, link, now):
        leader = self.leader if self.hears_leader(now) else None
        addr = self.leader_addr if leader else None
        self._reply(link, "leader_is", {**self._common(), "leader": leader, "leader_addr": addr})
