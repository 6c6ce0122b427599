"""The coordination protocol: election, heartbeats and leases, and the leader's assignment.

States and transitions (one object per node, driven by `tick()` and `receive()` from the
node's greenlets; it never blocks):

    follower --no leader heard for failure_timeout (+ rank delay)--> candidate
    candidate --votes from a quorum of seed nodes--> leader
    candidate --election round times out / a leader appears--> follower
    leader --cannot hear a quorum of seeds for failure_timeout,
             or sees a higher epoch, or stops--> follower

Protocol, in short:

- **Epochs.** Every message carries the sender's epoch. A higher epoch is adopted (a
  leader seeing one steps down); a message from an older epoch is answered with who the
  leader is and otherwise ignored. A voter grants at most one vote per epoch, none for
  one timeout after it started, none while it hears a live leader, and none to a candidate
  when it is itself of better priority (lower number, then id) and still trying.
  Candidates wait a delay that grows with their priority rank, so the best live node
  usually asks first. Voters are the seed nodes; a quorum is a majority of them.
- **Leases.** Followers send a heartbeat every `heartbeat_interval` with what they hold.
  The leader's answer renews the follower's lease until *send time* of that heartbeat plus
  `failure_timeout`, on the follower's own lease clock (`ringfast.clock`). A follower
  whose lease runs out revokes everything itself. The leader treats a follower as gone
  after `failure_timeout` without a heartbeat (or at once when its connection closes) but
  frees its partitions only at last-heard + `failure_timeout` + a safety margin: by then
  the lease has expired
  (clocks are assumed to run at the same rate within `DRIFT`).
- **Handoff.** Between live nodes a partition moves revoke -> the old owner's handler
  returns -> `revoked` -> assign to the new owner, with a fencing token
  ``epoch << 31 | generation`` that only grows for each partition.
- **Failover.** A new leader adopts what followers report they hold, so their partitions
  stay put, and treats everything nobody reported as possibly leased to someone until
  one failure_timeout (+ margin) after it became leader.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field

from ._impl import assign
from .assumptions import WALL_SKEW_WARN, conflicts, epoch_cap, explain_mismatch, fingerprint, printable
from .table import PartitionTable, token_of  # noqa: F401  (token_of: re-exported)
from .events import PartitionsChanged
from .metrics import NoMetrics

log = logging.getLogger(__name__)

DRIFT = 0.05  # relative clock-rate difference tolerated between nodes, as safety margin
MIN_MARGIN = 0.02  # seconds added to every "surely expired" computation
START_WAIT = 0.2  # seconds a starting node listens for a leader before it may run
LOST_JITTER = 0.05  # at most this random delay before electing when the leader's connection closed


@dataclass
class Member:
    """The leader's view of one follower."""

    id: str
    addr: str
    priority: int
    conn: object
    last_heard: float
    mseq: int = 0
    inc: int = 0  # the process's incarnation: another process with the same id has another
    acks: dict = field(default_factory=dict)  # heartbeat seq -> when we sent its answer
    last_sent: float = 0.0  # when we last sent it an assign or a revoke
    leaving: bool = False
    restarting: bool = False  # left with restart=True: what it revokes waits for it
    stale: dict = field(default_factory=dict)  # partition it claims but is not its own -> when asked to let go


class Ring:
    """Protocol state of one node. `io` does everything outside: sending, events, journal.

    `io` provides: ``send(addr, kind, body)``, ``reply(conn, kind, body)``,
    ``assigned(partitions_changed)``, ``revoke(partitions_changed, done)`` (runs handlers,
    then calls ``done(ok)``), ``role_changed(role, leader, epoch)``,
    ``member_changed(joined, member)``, ``persist(epoch, vote)``.
    """

    def __init__(self, config, io, clock, epoch: int, rng=None, metrics=None, wall=time.time, fresh: bool = False):
        self.cfg = config
        self.metrics = metrics or NoMetrics()
        self.io = io
        self.clock = clock
        self.rng = rng or random.Random()
        self.id = config.node_id
        self.addr = config.address
        self.priority = config.priority
        self.P = config.num_partitions
        self.L = config.failure_timeout
        # A follower's clock may run DRIFT slower than ours: its lease of L then lasts
        # L / (1 - DRIFT) of our time, which is L * DRIFT / (1 - DRIFT) more (not DRIFT * L).
        self.margin = max(MIN_MARGIN, self.L * DRIFT / (1 - DRIFT))
        self.seeds = tuple(config.seeds)
        self.quorum = config.quorum_size()
        self.stagger = self.L / 3
        self.wall = wall  # the wall clock: only for epoch bounds and skew warnings, never for leases
        # what must match on every node (voter set, quorum, partitions), carried by every message
        self.fp = fingerprint(self.P, self.quorum, self.seeds)
        # tells this process from another one started with the same node id
        self.inc = self.rng.getrandbits(62)
        self.logged: set = set()  # (kind, peer, ...) already logged: refusals are logged once each
        self.refusal: tuple[str, str, str] | None = None  # the last (peer, reason, detail) a peer refused us for
        self.conflict_until = float("-inf")  # a voter of ours runs settings unsafe to elect beside
        now = clock()

        self.epoch = 0  # the current leader's epoch; 0 until we know one
        self.epoch_floor = epoch  # our own candidacies start above this (persisted or wall clock)
        self.vote_floor = 0  # highest epoch we voted or ran in (never vote there again)
        self.prevote = False
        self.asked_at = now
        self.voted: tuple[int, str] | None = None
        self.role = "follower"
        self.leader: str | None = None
        self.leader_addr: str | None = None
        self.last_leader_contact = now
        self.leader_heard = float("-inf")  # when the leader itself last answered us
        # `fresh`: a state dir that held nothing at start, so this node has never voted nor run
        # in any epoch (every vote and candidacy is written there before it is made). While it
        # stays so, its votes say it, and a leader elected by a quorum of fresh voters knows
        # that no earlier leader ever existed (two quorums share a voter): no lease to wait out.
        self.fresh = fresh
        self.fresh_voters: set[str] = set()  # voters whose vote for us came from a fresh node
        self.fresh_candidacy = False
        # A restarted voter may have voted shortly before and forgotten (without a state dir)
        # or count as contact for the leader it elected: it waits one timeout before voting.
        # A fresh one has never voted.
        self.vote_blocked_until = now if fresh else now + self.L
        # A fresh node's first election waits only for a hello's answer (a leader already
        # there), not a whole timeout: voters that hear a live leader refuse its pre-vote
        # anyway. Others wait the timeout: their peers may be blocking votes for that long.
        first = min(self.L, START_WAIT) if fresh else self.L
        self.election_at = now + first + self.rng.uniform(0, self.stagger / 4)
        self.votes: dict[str, str] = {}  # voter address -> the id that voted from there
        self.election_deadline = 0.0
        self.failed_elections = 0
        self.next_heartbeat = now
        self.next_discovery = now
        self.known: dict[str, tuple[str, int, float]] = {}  # id -> (addr, priority, heard)
        self.view: list[dict] = []  # members as the leader last described them
        self.mv = 0  # version of that view
        self.stopping = False
        self.last_tick = now
        self.suspended_until = 0.0  # after a hung revoke handler: let our lease run out

        # follower state
        self.held: dict[int, int] = {}
        self.max_token: dict[int, int] = {}  # highest token ever taken per partition
        self.lease_expiry = 0.0
        self.hb_seq = 0
        self.hb_acked = 0  # highest heartbeat the leader answered: tells it we heard it
        self.hb_sent: dict[int, tuple[float, bool]] = {}
        self.seen_mseq = 0  # highest leader message number handled (assign/revoke)
        self.seen_for: tuple | None = None  # ...from this (leader, epoch)
        self.revoke_in_progress: set[int] = set()

        # leader state
        self.members: dict[str, Member] = {}
        self.table = PartitionTable(0, 0, now)  # every partition's handoff state (table.py)
        self.leader_since = 0.0
        self.voter_heard: dict[str, float] = {}
        self.dirty = False
        self.members_version = 0
        self.view_cache: list[dict] | None = None
        self.expected: set[str] = set()
        self.hint: dict[int, str] = {}
        self.next_wake = float("inf")  # when the leader must look at unowned partitions again
        self.sessions = 0
        self.lost_leader: str | None = None  # not counted as a live better node
        self.settle_until = 0.0

    # ------------------------------------------------------------------ helpers

    def _is_voter(self, addr: str) -> bool:
        return not self.seeds or addr in self.seeds

    def _better(self, a: tuple[int, str], b: tuple[int, str]) -> bool:
        return a < b

    def _rank(self, now: float) -> int:
        """How many live nodes have better priority: those the leader last described, and
        those we heard from lately (at a cold start, that is all we know)."""
        me = (self.priority, self.id)
        better = {m["id"] for m in self.view if m["role"] != "leader" and (m["priority"], m["id"]) < me}
        better.update(i for i, (_, prio, heard) in self.known.items() if now - heard < self.L and (prio, i) < me)
        better.discard(self.leader)
        better.discard(self.lost_leader)
        better.discard(self.id)
        return len(better)

    def _schedule_election(self, base: float):
        """Elections start at `election_at` plus a delay per better-placed live node, worked
        out when the time comes, so the best live node usually asks first."""
        self.election_at = base + self.rng.uniform(0, self.stagger / 4)

    def hears_leader(self, now: float) -> bool:
        if self.role == "leader":
            return True
        # only first-hand: a leader someone told us about does not count until it answers,
        # or followers would keep vouching for a dead leader to each other
        return self.leader is not None and now - self.leader_heard < self.L

    def _set_role(self, role: str, leader: str | None, leader_addr: str | None = None):
        changed = (role, leader) != (self.role, self.leader)
        if leader is not None and leader != self.leader:
            self.metrics.leader_changes.inc()
        self.role, self.leader, self.leader_addr = role, leader, leader_addr
        if changed:
            self.io.role_changed(role, leader, self.epoch)

    def _adopt_epoch(self, epoch: int):
        if epoch > self.epoch:
            self.epoch = epoch
            if self.role != "follower":
                log.info("saw epoch %d: stepping down", epoch)
                self._become_follower(None, None)
            elif self.leader is not None:
                self._set_role("follower", None)  # our leader belongs to an older epoch
            self.io.persist(self.epoch, self.voted)

    def _become_follower(self, leader: str | None, addr: str | None):
        if self.role == "leader":
            self._leader_cleanup()
        self.votes = {}
        now = self.clock()
        self._set_role("follower", leader, addr)
        if leader is not None:
            self.last_leader_contact = now
            self.failed_elections = 0
            if self.seen_for != (leader, self.epoch):  # message numbers are per leader
                self.seen_for = (leader, self.epoch)
                self.seen_mseq = 0
            self.hb_sent.clear()
            self.next_heartbeat = now
        else:
            self._schedule_election(now)

    def _common(self) -> dict:
        return {"from": self.id, "epoch": self.epoch, "cfg": self.fp, "inc": self.inc}

    # ------------------------------------------------------------------ time

    def tick(self):
        now = self.clock()
        if self.role == "leader" and self._leadership_lapsed(now):
            self.last_tick = now
            return
        self.last_tick = now
        if self.role == "leader":
            self._leader_tick(now)
        else:
            self._follower_tick(now)

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
            if now >= self.election_at + self._rank(now) * self.stagger and not self.stopping and now >= self.conflict_until:
                self._start_election(now)
        # A stopping node that holds nothing any more does not report to a leader it found
        # after it left (a new one, say): that leader would take it for a new member and
        # hand it partitions that then wait out a lease when it exits.
        quiet = self.stopping and not self.held and not self.revoke_in_progress
        if self.leader is not None and now >= self.next_heartbeat and now >= self.suspended_until and not quiet:
            self._send_heartbeat(now)

    def _send_hellos(self, addrs):
        # the newest epoch we voted or ran in travels with it: candidates then start above it,
        # and a leader of an older epoch learns that it has been superseded
        hello = {**self._common(), "epoch": max(self.epoch, self.vote_floor), "addr": self.addr,
                 "priority": self.priority, "wall": int(self.wall() * 1000),
                 "voters": list(self.seeds)}
        for addr in addrs:
            if addr != self.addr:
                self.io.send(addr, "hello", hello)

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
        self.io.send(
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
        self.io.revoke(
            PartitionsChanged(sorted(parts), parts, self.epoch, "lease_expired", expired_at), lambda ok: None
        )

    # ------------------------------------------------------------------ election

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
                self.io.send(addr, "vote_req", req)

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
        if self.io.persist(epoch, (epoch, self.id)) is False:
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
        log.info("candidate for epoch %d", self.epoch)
        self._ask_votes(now, pre=False)

    def _on_vote_req(self, conn, body, now):
        cand, epoch, pre = body["from"], body["epoch"], body["pre"]
        self.known[cand] = (body["addr"], body["priority"], now)
        self._check_wall(cand, body["wall"])
        granted = self._may_vote(cand, body["priority"], epoch, pre, now)
        if granted and not pre and self.io.persist(epoch, (epoch, cand)) is False:
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
            # asked: no other vote from us before then, or two leaders could grant leases.
            self.vote_blocked_until = max(self.vote_blocked_until, now + self.L)
        # our floor travels with the answer, so a refused candidate asks above it next time
        floor = max(self.epoch, self.vote_floor, self.epoch_floor)
        fresh = self.fresh
        if granted and not pre:
            self.fresh = False  # from now on a leader may hold leases because of us
        self.io.reply(conn, "vote", {**self._common(), "epoch": floor, "granted": granted, "pre": pre, "addr": self.addr,
                                     "fresh": fresh})

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
        if self.hears_leader(now):
            return False
        if (self.priority, self.id) < (priority, cand) and self.failed_elections < 2 and not self.stopping:
            return False  # we are better placed and still trying: let us ask first
        return True

    def _on_vote(self, conn, body, now):
        if not body["granted"]:
            self.epoch_floor = max(self.epoch_floor, body["epoch"])
        if self.role != "candidate" or body["pre"] != self.prevote or now > self.election_deadline:
            return  # not asking, or asking no more (votes held up while we were frozen)
        if not body["granted"] or conn.peer_addr not in self.seeds:
            return
        if body["addr"] != conn.peer_addr:
            # the process that answered at this seed's address says it is another seed: a
            # relay, a load balancer or a copied config; its vote counts for neither
            self._log_once(("voter_addr", conn.peer_addr, body["addr"]), logging.ERROR,
                           "the voter reached at %s answers as %s (node %s): its vote does not count",
                           conn.peer_addr, printable(body["addr"]), printable(body["from"]))
            return
        if not body["pre"] and body["epoch"] != self.epoch:
            return
        self.votes[conn.peer_addr] = body["from"]
        if body["fresh"] and not body["pre"]:
            self.fresh_voters.add(body["from"])
        if self._vote_count() >= self.quorum:
            if self.prevote:
                self._start_real_election(now)
            else:
                self._become_leader(now)

    # ------------------------------------------------------------------ leader

    def _become_leader(self, now: float):
        log.info("leader for epoch %d with votes from %s", self.epoch, sorted(self.votes))
        self.leader_since = now
        self.voter_heard = {a: self.asked_at for a in self.votes}  # they answered after we asked
        self.members = {}
        voters = set(self.votes.values()) - {self.id}
        if self.fresh_candidacy and voters <= self.fresh_voters:
            # Every voter of this quorum (and we) had never voted nor run: no earlier leader
            # was ever elected, so nobody holds a lease. Nothing to wait out (a cold start).
            log.info("elected by fresh voters only: no earlier leases to wait for")
            self.table = PartitionTable(self.P, self.epoch, now)
        else:
            self.table = PartitionTable(self.P, self.epoch, now + self.L + self.margin)
        self.members_version += 1
        self.view_cache = None
        self.failed_elections = 0
        # Followers of the previous leader report what they hold within a heartbeat or two;
        # moving anything before they have would move what need not move.
        self.expected = {m["id"] for m in self.view if m["role"] != "leader" and m["id"] != self.id}
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
            def released(ok, parts=own, table=self.table):
                if self.role == "leader" and self.table is table:
                    for p in parts:
                        table.released_unheld(p, self.clock())
                self.dirty = True
                # held on our follower lease, which no longer renews: if the handler outlived
                # it (we froze), the right ended with it
                return self.lease_expiry if self.clock() >= self.lease_expiry else None

            for p in own:
                del self.held[p]
            reason = "leader" if lapsed is None else "lease_expired"
            self.io.revoke(PartitionsChanged(sorted(own), own, self.epoch, reason, lapsed), released)
        self.dirty = True
        # Tell everyone at once: the others would learn of us only with their next hello or
        # heartbeat, up to a heartbeat interval later (the bulk of a failover).
        notice = {**self._common(), "leader": self.id, "leader_addr": self.addr}
        targets = {m["addr"] for m in self.view} | set(self.seeds)
        targets.update(addr for addr, _, heard in self.known.values() if now - heard < self.L)
        for addr in sorted(targets - {self.addr}):
            self.io.send(addr, "leader_is", notice)

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
            self.io.revoke(PartitionsChanged(sorted(parts), parts, self.epoch, "leader"),
                           lambda ok: until if self.clock() >= until else None)

    def _quorum_until(self, now: float) -> float:
        """Until when a quorum of voters surely still hears us (our own vote counts now)."""
        if self._is_voter(self.addr):
            self.voter_heard[self.addr] = now
        times = sorted(self.voter_heard.values(), reverse=True)
        return times[self.quorum - 1] + self.L if len(times) >= self.quorum else float("-inf")

    def holding_deadline(self) -> float:
        """Until when what this node holds surely stays its own without news: a follower
        holds on its lease, a leader (owning partitions) on its quorum. Read by the API so a
        node frozen past it reports nothing held even before it has run again."""
        if self.role == "leader":
            return self._quorum_until(self.clock())
        return self.lease_expiry

    def _has_quorum(self, now: float) -> bool:
        return now < self._quorum_until(now)

    def _leader_tick(self, now: float):
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
        if self.dirty and now < self.settle_until and not self.expected <= self.members.keys():
            return  # still waiting for the previous leader's followers to report
        if self.dirty:
            self.dirty = False
            self._rebalance(now)

    def _drop_member(self, m: Member, reason: str):
        log.info("member %s left (%s)", m.id, reason)
        del self.members[m.id]
        if m.conn is not None and reason != "connection closed":
            m.conn.close()
        # its lease, renewed at most at last_heard, surely ends by this time
        free = m.last_heard + self.L + self.margin
        for p in self.table.held(m.id):
            self.table.lost(p, free)
        self.members_version += 1
        self.view_cache = None
        self.dirty = True
        self.io.member_changed(False, m)

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
                elif table.assignable(p, now, mid):
                    assigns[mid][p] = table.assign(p, mid, now)
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
        m.last_sent = now = self.clock()
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
                def done(parts, epoch=self.epoch, mseq=body["mseq"]):
                    if self.role == "leader" and self.epoch == epoch and self.members.get(m.id) is m:
                        self._on_revoked_parts(m, self._answered(m, parts, mseq), self.clock())

                self._apply_revoke(body, done)
            return
        body.setdefault("mseq", m.mseq)
        self.io.reply(m.conn, kind, body)

    def _on_heartbeat(self, conn, body, now):
        if self.role != "leader":
            self.io.reply(conn, "leader_is", {**self._common(), "leader": self.leader, "leader_addr": self.leader_addr})
            return
        fid = body["from"]
        m = self.members.get(fid)
        if m is None and body["addr"] in self.seeds:
            other = next((o for o in self.members.values() if o.addr == body["addr"] and o.id != fid), None)
            if other is not None:
                self._refuse(conn, fid, "duplicate_address",
                             f"seed address {body['addr']} is already used by member {other.id!r}")
                return
        reconnected = False
        if m is None or m.conn is not conn:
            if m is not None:  # reconnected: what we sent on the old connection may be lost
                m.conn = conn
                reconnected = True
            else:
                m = Member(fid, body["addr"], body["priority"], conn, now, inc=body["inc"])
                # Message numbers only grow, across sessions too: once it has handled a
                # newer one, an older one it never reported is lost for good.
                self.sessions += 1
                m.mseq = self.sessions << 32
                self.members[fid] = m
                self.dirty = True
                self.members_version += 1
                self.view_cache = None
                self.io.member_changed(True, m)
                log.info("member %s joined from %s", fid, body["addr"])
            conn.remote_id = fid
        m.last_heard = now
        confirmed = m.acks.pop(body["acked"], None)
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
        ack = {**self._common(), "seq": body["seq"], "mv": self.members_version, "members": None}
        if body["mv"] != self.members_version:
            ack["members"] = self.describe()
        self.io.reply(conn, "heartbeat_ack", ack)
        m.acks[body["seq"]] = now
        if len(m.acks) > 64:
            for seq in sorted(m.acks)[:-32]:
                del m.acks[seq]
        self.metrics.heartbeats.inc()

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

    def _on_revoked(self, conn, body, now):
        if self.role != "leader":
            return
        m = self.members.get(body["from"])
        if m is not None:
            self._on_revoked_parts(m, self._answered(m, body["partitions"], body["mseq"]), now)

    def _answered(self, m: Member, parts, mseq: int) -> list:
        """The partitions this `revoked` really releases (see PartitionTable.answers)."""
        if m.leaving:
            return list(parts)  # it leaves: it holds none of them any more
        return [p for p in parts if p < self.P and self.table.answers(p, m.id, mseq)]

    def _on_revoked_parts(self, m: Member, parts, now):
        table = self.table
        if m.leaving:  # it takes no more: what we sent it unconfirmed is free (revokes still
            # running are not: each is acknowledged when its handler returns)
            parts = set(parts) | set(table.kept(m.id))
        grace = now + self.cfg.rejoin_grace if m.restarting else None
        for p in parts:
            if p < self.P and table.holder(p) == m.id:
                table.released(p, now, grace)
        self.dirty = True
        self.members_version += 1
        self.view_cache = None
        if m.leaving and not table.held(m.id) and m.id in self.members and m.id != self.id:
            self._drop_member(m, "restarting" if m.restarting else "left")

    def _on_leave(self, conn, body, now):
        if self.role == "leader":
            m = self.members.get(body["from"])
            if m is not None:
                m.leaving = True
                m.restarting = body["restart"]
                if not self.table.held(m.id):
                    self._drop_member(m, "restarting" if m.restarting else "left")
        elif body["from"] == self.leader:
            log.info("leader %s is leaving", self.leader)
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

    # ------------------------------------------------------------------ follower

    def _on_heartbeat_ack(self, conn, body, now):
        if body["from"] != self.leader or body["epoch"] != self.epoch:
            return
        sent = self.hb_sent.pop(body["seq"], None)
        self.last_leader_contact = self.leader_heard = now
        self.hb_acked = max(self.hb_acked, body["seq"])
        if sent is not None:
            sent_at, lease_valid = sent
            self.metrics.rtt.observe(now - sent_at)
            if lease_valid:
                self.lease_expiry = max(self.lease_expiry, sent_at + self.L)
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
        self.io.assigned(PartitionsChanged(sorted(new), new, self.epoch))

    def _apply_revoke(self, body, done):
        self.seen_mseq = max(self.seen_mseq, body.get("mseq", 0))
        parts = {p: self.held[p] for p in body["partitions"] if p in self.held and p not in self.revoke_in_progress}
        absent = [p for p in body["partitions"] if p not in self.held]
        if absent:
            done(absent)  # not ours (any more): say so, so the leader can move on
        if not parts:
            return  # (those being revoked already are acknowledged when their handler returns)
        self.revoke_in_progress.update(parts)

        def finished(ok):
            ended = self._right_ended()
            self.revoke_in_progress.difference_update(parts)
            for p, t in parts.items():
                if self.held.get(p) == t:
                    del self.held[p]
            if ok:
                done(sorted(parts))
            else:
                # A handler did not return in time: we cannot say the application let go,
                # so we stop renewing our lease and let it run out; the leader waits for that.
                log.error("revoke handler timed out: letting the lease expire before rejoining")
                self.suspended_until = self.clock() + self.L + self.margin
            return ended

        self.io.revoke(PartitionsChanged(sorted(parts), parts, self.epoch, "rebalance"), finished)

    # ------------------------------------------------------------------ dispatch

    def receive(self, conn, kind: str, body: dict):
        now = self.clock()
        sender, epoch = body["from"], body["epoch"]
        if kind == "refused":
            self._on_refused(conn, body, now)
            return
        if body["cfg"] != self.fp:
            self._refuse(conn, sender, "settings_mismatch", explain_mismatch(self.fp, body["cfg"], printable(self.id), printable(sender)))
            self._check_conflict(conn, body, now)
            return
        cap = epoch_cap(self.wall())
        if epoch > cap:
            self._refuse(conn, sender, "epoch_out_of_range",
                         f"epoch {epoch} is above {cap} (wall clock + headroom): not adopted")
            return
        if self.role == "leader" and sender in self.members and self.members[sender].inc != body["inc"]:
            # Another process with a member's id, while the first is still a member (dropped
            # after a failure timeout without heartbeats, or at once when its connection
            # closes). Taking its heartbeat as a reconnect, or its leave as the member's, would
            # hand the first one's partitions on while it still holds them: refuse it till then.
            m = self.members[sender]
            self._refuse(conn, sender, "duplicate_id",
                         f"node id {sender!r} is already a live member at {m.addr} (another process); "
                         f"give every process its own NODE_ID")
            return
        if sender == self.id:
            if body["inc"] != self.inc:
                self.metrics.refusals.labels(reason="duplicate_id").inc()
                self._log_once(("self_dup", body.get("inc")), logging.ERROR,
                               "another process uses this node's id %s: give every process its own NODE_ID",
                               printable(self.id))
            return
        if sender in self.known:
            addr, prio, _ = self.known[sender]
            self.known[sender] = (addr, prio, now)
        if self.role == "leader":
            self._leadership_lapsed(now)  # steps down first if it must: then answers as a follower
        if kind == "vote_req":
            self._on_vote_req(conn, body, now)
        elif kind == "vote":
            self._on_vote(conn, body, now)
        elif kind == "hello":
            self.known[sender] = (body["addr"], body["priority"], now)
            self._check_wall(sender, body["wall"])
            self.epoch_floor = max(self.epoch_floor, epoch)
            if self.role == "leader" and epoch > self.epoch:
                # it voted in a newer election (one a quorum agreed to hold): this leadership
                # is over, and without a new election it could never follow anyone again
                log.info("%s took part in epoch %d: stepping down from %d", sender, epoch, self.epoch)
                self._become_follower(None, None)
            self._reply_leader_is(conn, now)
        elif kind == "leader_is":
            self._on_leader_is(conn, body, now)
        elif epoch < self.epoch:
            if kind in ("heartbeat", "assign", "revoke"):
                self._reply_leader_is(conn, now)  # tell a stale node who leads now
        else:
            if epoch > self.epoch:
                self._adopt_epoch(epoch)
            getattr(self, f"_on_{kind}")(conn, body, now)

    def _log_once(self, key, level, fmt, *args):
        if key in self.logged:
            return
        if len(self.logged) > 10_000:  # bounded: a hostile peer cannot grow it forever
            self.logged.clear()
        self.logged.add(key)
        log.log(level, fmt, *args)

    def _refuse(self, conn, peer: str, reason: str, detail: str):
        """Ignore a peer's message that breaks an assumption, count it, log it once, and
        tell the peer why (so its operator sees it on both sides)."""
        self.metrics.refusals.labels(reason=reason).inc()
        self._log_once(("refuse", peer, reason, detail), logging.ERROR, "refusing node %s: %s: %s",
                       printable(peer), reason, detail)
        self.io.reply(conn, "refused", {**self._common(), "reason": reason, "detail": detail[:300],
                                        "voters": list(self.seeds)})

    def _check_conflict(self, conn, body, now):
        """A voter of ours (by the address it says it has, or the one we reached it at) whose
        settings make two rings possible stops every election for a failure timeout."""
        addr = body.get("addr") or getattr(conn, "peer_addr", None)
        if addr not in self.seeds or addr == self.addr:
            return
        why = conflicts(self.fp, self.seeds, body["cfg"], body.get("voters"))
        if why is None:
            return
        self.conflict_until = now + self.L
        self._log_once(("conflict", addr, why), logging.CRITICAL,
                       "seed node %s (%s) runs conflicting settings: %s; no election until they agree",
                       addr, printable(body["from"]), why)

    def _on_refused(self, conn, body, now):
        self.refusal = (body["from"], body["reason"], body["detail"])
        self._log_once(("refused", body["from"], body["reason"], body["detail"]), logging.ERROR,
                       "node %s refused this node: %s: %s", printable(body["from"]), printable(body["reason"]),
                       printable(body["detail"], 300))
        if body["reason"] == "settings_mismatch":
            self._check_conflict(conn, {**body, "addr": None}, now)

    def _check_wall(self, peer: str, wall_ms: int):
        skew = wall_ms / 1000 - self.wall()
        self.metrics.clock_skew.set(abs(skew))
        if abs(skew) > WALL_SKEW_WARN:
            self._log_once(("skew", peer), logging.WARNING,
                           "wall clock of node %s differs from ours by %.1fs: without a state dir, epochs "
                           "(fencing tokens) start from wall clocks and may go backwards", printable(peer), skew)

    def _reply_leader_is(self, conn, now):
        leader = self.leader if self.hears_leader(now) else None
        addr = self.leader_addr if leader else None
        self.io.reply(conn, "leader_is", {**self._common(), "leader": leader, "leader_addr": addr})

    def _on_leader_is(self, conn, body, now):
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
                    self.io.persist(epoch, self.voted)  # the highest epoch seen must survive a restart
                self.epoch = epoch
                self._become_follower(leader, addr)

    def _on_assign(self, conn, body, now):
        if self.leader != body["from"]:
            self._follow_sender(conn, body, now)
            if self.leader != body["from"]:
                return
        self.last_leader_contact = self.leader_heard = now
        self._apply_assign(body)

    def _on_revoke(self, conn, body, now):
        if self.leader != body["from"]:
            return

        def done(parts):
            if self.leader == body["from"]:
                self.io.send(self.leader_addr, "revoked",
                             {**self._common(), "partitions": list(parts), "mseq": body["mseq"]})

        self._apply_revoke(body, done)

    def _follow_sender(self, conn, body, now):
        addr = self.known.get(body["from"], (None,))[0]
        if addr is not None and self.role != "leader":
            self._become_follower(body["from"], addr)

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

    def on_inbound_closed(self, conn):
        if self.role == "leader" and conn.remote_id in self.members:
            m = self.members[conn.remote_id]
            if m.conn is conn:
                self._drop_member(m, "connection closed")

    # ------------------------------------------------------------------ leaving

    def leave(self, restart: bool):
        """Hand off at once: revoke locally (handlers run), tell the leader, stop asking for votes."""
        if self.stopping:
            return  # once is enough: a second "leave" would tell the leader we hold nothing
        self.stopping = True
        if self.role == "leader":
            for m in list(self.members.values()):
                if m.conn is not None:
                    self.io.reply(m.conn, "leave", {**self._common(), "restart": restart})
            self._become_follower(None, None)
            return
        # Partitions stay held (and reported) until the handlers return: only then may the
        # leader give them to someone else.
        parts = {p: t for p, t in self.held.items() if p not in self.revoke_in_progress}
        self.revoke_in_progress.update(parts)

        def done(ok):
            ended = self._right_ended()
            self.revoke_in_progress.difference_update(parts)
            for p, t in parts.items():
                if self.held.get(p) == t:
                    del self.held[p]
            # the leader of now, not of when we began: it may have changed while handlers ran
            leader_addr = self.leader_addr if self.leader is not None else None
            if leader_addr is not None:  # "leave" first: the leader then knows to keep what we revoke for us
                self.io.send(leader_addr, "leave", {**self._common(), "restart": restart})
                self.io.send(leader_addr, "revoked", {**self._common(), "partitions": sorted(parts), "mseq": 0})
            return ended

        if parts:
            reason = "restart" if restart else "stop"
            self.io.revoke(PartitionsChanged(sorted(parts), parts, self.epoch, reason), done)
        else:
            done(True)
