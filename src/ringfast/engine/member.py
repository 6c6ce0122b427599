"""`EngineRing`: the protocol of one node when a coordination engine (etcd, ZooKeeper) holds
the ring's state, as a pure state machine like ring/core.py: events in, actions out.

Events in (each returns the actions decided, in order):

- `lease_granted(lease, ttl, sent_at)` / `lease_renewed(...)`: the engine granted or renewed
  our lease; `sent_at` is when the request left, on our lease clock.
- `lease_lost(lease)`: the engine says the lease is gone (expired or revoked).
- `on_view(revision, entries)`: everything under the cluster's prefix, read at `revision`.
- `tick()`, `revoke_finished(request, ok)`, `leave(restart)`.

Actions out: the application's (ring/actions.py: Assigned, Revoke, Released, RoleChanged,
Membership) and the engine's (engine/actions.py: Txn, EndLease, DropLease).

Why no partition is ever held twice (the argument docs/backends.md spells out):

1. **A holder's right ends before the engine deletes its keys.** Our right to what we hold
   ends at ``sent_at + ttl * (1 - DRIFT) - MIN_MARGIN`` of the last answered keepalive; the
   engine renewed the lease from when it *handled* the request (later), for the full TTL,
   on its own clock (running within DRIFT of ours). A holder whose right ran out revokes
   everything itself (``lease_expired``) without waiting to hear anything.
2. **The leader frees a partition only on a fact that cannot be undone:** the owner's
   member key is gone (its lease ended in the engine, so its right ended before), or the
   owner wrote, having processed a table in which the partition was being taken back from
   it, that it no longer holds it (its ``seen`` is at least the revision at which the
   leader first saw that request in force). From that revision on, every table keeps the
   partition away from that owner until the leader grants it again, with a new token.
3. **Only the current leader writes the table**: each write compares the ``leader`` key's
   create revision with the one this leader created. A deposed leader's write fails.
4. **A member claims a partition only from a view in which its own member key carries its
   current lease**, while its right holds. A stale view (read before a pause, say) of an
   earlier session claims nothing. A grant is for one registration (the create revision of
   the member key): a later process with the same id does not inherit it.
5. **Every member key is a true statement "as of table revision `seen`, I hold `held`"**,
   whatever order the writes land in: a grant the member passes on (its right lapsed, or
   it is still giving that partition back under an older token) it never takes later, so
   a statement that it does not hold a grant it had seen stays true; the leader then frees
   and grants it afresh, with a new token.

Fencing tokens are ``epoch << 31 | generation`` as with the built-in protocol. The epoch
comes from the ``epoch`` key, which each election raises in the same transaction that
creates the ``leader`` key (compared on its mod revision, so two elections cannot both
take one value), starting above the wall clock and the state dir's highest epoch, so
tokens keep growing across a switch from the built-in backend (and back, with a state dir).
"""

from __future__ import annotations

import logging
import time

from ..assumptions import printable
from ..events import PartitionsChanged
from ..metrics import NoMetrics
from ..ring.actions import Action, Assigned, Released, Revoke, RoleChanged
from ..ring.common import DRIFT, MIN_MARGIN, step
from . import keyspace as ks
from .actions import DropLease, EndLease, Txn
from .leader import EngineLeader
from .rejoin import Rejoin
from .reading import Reading

log = logging.getLogger(__name__)



class EngineRing(EngineLeader, Rejoin, Reading):
    def __init__(self, config, clock, epoch_floor: int, storage=None, metrics=None, wall=time.time):
        self.cfg = config
        self.clock = clock
        self.wall = wall
        self.storage = storage
        self.metrics = metrics or NoMetrics()
        self.out: list = []
        self.id = config.node_id
        self.addr = config.address
        self.priority = config.priority
        self.P = config.num_partitions
        self.epoch_floor = epoch_floor
        self.role = "follower"
        self.leader: str | None = None
        self.epoch = 0
        self.stopping = False
        self.stopped = False  # left: every partition released, the lease ended
        self.parked = False  # refused by the cluster's settings for good: no session, no registration
        self.leave_reason = "stop"
        self.rejoin_pending = False  # stopping to restart: our rejoin marker is not answered yet
        # the session: our lease and until when our right to what we hold lasts
        self.lease: int | None = None
        self.lease_expiry = 0.0
        self.old_leases: set[int] = set()  # ours, dropped: a key of one of these is not another process's
        # what we hold (the application was told), and what we are giving back (handlers running)
        self.held: dict[int, int] = {}
        self.revoking: dict[int, tuple[int, int]] = {}  # partition -> (request, token)
        self.refused: dict[int, int] = {}  # partition -> highest token we will not claim
        self.requests: dict[int, PartitionsChanged] = {}  # revokes running: request -> change
        self.lapsed_at: dict[int, float] = {}  # ...those whose right ended while they ran: when
        self.next_request = 0
        # the last view
        self.view_rev = 0
        self.entries: dict[str, ks.Entry] = {}
        self.members_seen: dict[str, ks.MemberValue | None] = {}
        self.member_regs: dict[str, int] = {}
        self.table = ks.Table.empty(self.P)
        self.table_rev = 0
        self.table_ok = True
        self.view: list[dict] = []  # members with role and partitions, for the snapshot
        # writes sent and not yet answered, by `what`: one of each at a time, so that no
        # write decided on an older view can land after one decided on a newer one
        self.inflight: set[str] = set()
        self.no_leader_since: float | None = None
        self.logged: set = set()  # problems already logged (once each)
        self.problem: str | None = None  # why we do not take part right now (for /health)
        EngineLeader.__init__(self)

    # ------------------------------------------------------------------ what the API reads

    def holding_deadline(self) -> float:
        return self.lease_expiry

    def describe(self) -> list[dict]:
        return self.view

    def _right(self, now: float) -> bool:
        return self.lease is not None and now < self.lease_expiry

    # ------------------------------------------------------------------ the session

    @step
    def lease_granted(self, lease: int, ttl: float, sent_at: float):
        self._expire_if_due(self.clock())
        if self.stopping or self.parked:
            self.out.append(EndLease(lease))
            return
        if self.lease is not None and lease != self.lease:
            # a second session while one is live (a late answer to a grant): what we hold
            # rests on the old lease, which nothing renews now; it ends here
            self.out.append(DropLease(self.lease))
            self._end_session(self.clock())
        self.lease = lease
        self.lease_expiry = sent_at + ttl * (1 - DRIFT) - MIN_MARGIN
        self.problem = None

    @step
    def lease_renewed(self, lease: int, ttl: float, sent_at: float):
        self._expire_if_due(self.clock())
        if lease == self.lease:
            self.lease_expiry = max(self.lease_expiry, sent_at + ttl * (1 - DRIFT) - MIN_MARGIN)

    @step
    def lease_lost(self, lease: int):
        self._expire_if_due(self.clock())
        if lease == self.lease:
            log.warning("node %s: the engine ended our session (lease %x): giving up what we hold", self.id, lease)
            self._end_session(self.clock())

    def _end_session(self, now: float):
        """Our lease is gone or can no longer be counted on: our right ended (at the
        lease's end, or now if that is earlier); we start a new session."""
        if self.lease is not None:
            self.old_leases.add(self.lease)
        self.lease = None
        ended = min(self.lease_expiry, now)
        self.lease_expiry = min(self.lease_expiry, now)
        for request, change in self.requests.items():  # revokes still running end now too
            if change.expired_at is None:
                self.lapsed_at.setdefault(request, ended)
        self._lapse(ended)
        if self.role == "leader":
            self._set_role("follower", None)

    def _lapse(self, ended: float):
        """Our right ended at `ended`: everything we hold is revoked now, whatever the
        handlers do, and never claimed again with the same token."""
        parts = {p: t for p, t in self.held.items() if p not in self.revoking}
        for p, t in parts.items():
            self.refused[p] = max(self.refused.get(p, 0), t)
        if parts:
            self._start_revoke(parts, "lease_expired", ended)

    # ------------------------------------------------------------------ ticks and leaving

    @step
    def tick(self):
        now = self.clock()
        self._expire_if_due(now)
        if self.role == "follower" and self.no_leader_since is not None and self.view_rev:
            self._maybe_elect(now)

    def _expire_if_due(self, now: float):
        """First thing on every entry point, not only on ticks: a process that wakes from a
        freeze may handle a read or a stop before its next tick, and must not act (or say it
        held anything) past the end of its right."""
        if now < self.lease_expiry:
            return
        for request, change in self.requests.items():
            # a revoke still running when the right ended: it ended then, not when the
            # handlers return (the leader may give those partitions away meanwhile)
            if change.expired_at is None:
                self.lapsed_at.setdefault(request, self.lease_expiry)
        if self.lease is not None:
            # No keepalive answered in time (the engine is slow, frozen or cut off, or its
            # answers are lost): our right ended, and the session goes with it. A process
            # that hears no answers may well keep renewing its lease, and with it its keys:
            # a leader key nobody could replace, grants it could never take. So we let the
            # lease go (the engine deletes our keys within a TTL) and start a new session.
            held = [p for p in self.held if p not in self.revoking]
            if held:
                log.warning("node %s: no keepalive answered in time: giving up %d partition(s)", self.id, len(held))
            self.out.append(DropLease(self.lease))
            self._end_session(self.lease_expiry)

    @step
    def leave(self, restart: bool):
        if self.stopping:
            return
        self._expire_if_due(self.clock())
        self.stopping = True
        self.leave_reason = "restart" if restart else "stop"
        self.rejoin_pending = restart and self._announce_rejoin()  # (before the member write saying we leave)
        parts = {p: t for p, t in self.held.items() if p not in self.revoking}
        if parts:
            self._start_revoke(parts, self.leave_reason, None)
        self._finish_leave()

    def _finish_leave(self):
        if self.stopping and not self.held and not self.stopped and not self.rejoin_pending:
            self.stopped = True
            if self.role == "leader":
                self._set_role("follower", None)
            if self.lease is not None:
                # the engine deletes our member key (and the leader key, if ours) at once:
                # the leader frees our partitions, the others elect, without waiting for a TTL
                self.out.append(EndLease(self.lease))
                self.old_leases.add(self.lease)
                self.lease = None

    # ------------------------------------------------------------------ revokes

    def _start_revoke(self, parts: dict[int, int], reason: str, expired_at: float | None):
        self.next_request += 1
        request = self.next_request
        for p, t in parts.items():
            self.revoking[p] = (request, t)
        change = PartitionsChanged(sorted(parts), dict(parts), self.epoch, reason, expired_at)
        self.requests[request] = change
        self.out.append(Revoke(change, request))

    @step
    def revoke_finished(self, request: int, ok: bool):
        self._expire_if_due(self.clock())
        change = self.requests.pop(request, None)
        if change is None:
            return
        for p in change.partitions:
            if self.revoking.get(p, (None,))[0] == request:
                del self.revoking[p]
                self.held.pop(p, None)
        self.out.append(Released(change, self.lapsed_at.pop(request, None)))
        if not ok and self.lease is not None:
            # a handler still runs: the application may still act on these partitions, so
            # we do not say we let them go; our lease (and with it the right) runs out instead
            log.error("node %s: a revoke handler did not return in time: letting our lease run out", self.id)
            self.out.append(DropLease(self.lease))
            self._end_session(self.clock())
            self._finish_leave()
            return
        self._finish_leave()
        self._write_member()

    @step
    def txn_done(self, what: str):
        """A write of ours was answered (whatever the answer: the next view tells)."""
        self._expire_if_due(self.clock())
        self.inflight.discard(what)
        if what == "rejoin":
            self.rejoin_pending = False
            self._finish_leave()

    def _txn(self, what: str, compare: list, success: list):
        if what not in self.inflight:
            self.inflight.add(what)
            self.out.append(Txn(what, compare, success))

    # ------------------------------------------------------------------ views

    @step
    def on_view(self, revision: int, entries: dict[str, ks.Entry]):
        self._expire_if_due(self.clock())
        if revision < self.view_rev:
            return  # an older read that arrived late
        self.view_rev = revision
        self.entries = entries
        now = self.clock()
        if not self._config_ok(entries):
            return
        self._read_members(entries)
        self._read_table(entries)
        self._follow(entries, now)
        mine = entries.get(ks.MEMBER + self.id)
        registered = mine is not None and self.lease is not None and mine.lease == self.lease
        if self.lease is not None and not self.stopped:
            if mine is None:
                self._register()
            elif not registered:
                self._duplicate(mine)
        if registered:
            self.problem = None
        if registered and self.table_ok:
            self._reconcile_member(now)
        if self.role == "leader":
            self._lead(now)
        self._describe()

    def _follow(self, entries, now):
        entry = entries.get(ks.LEADER)
        leader, epoch = None, 0
        if entry is not None:
            try:
                leader, epoch = ks.decode_leader(entry.value, "leader")
            except ks.BadValue as e:
                self._log_once(("bad", "leader", entry.mod_revision), "node %s: %s", self.id, e)
                leader = "?"
        self.no_leader_since = None if entry is not None else (self.no_leader_since or now)
        ours = (entry is not None and leader == self.id and self.lease is not None and entry.lease == self.lease
                and self._right(now))
        if epoch > self.epoch:
            self.epoch = epoch
            if self.storage is not None:
                self.storage.save(epoch, None)
        if ours and self.role != "leader":
            self._start_leading(entry, now)
        elif not ours:
            followed = None if leader in ("?", self.id) else leader  # (never ourselves: our right lapsed)
            if self.role == "leader" or followed != self.leader:
                self._set_role("follower", followed)

    def _set_role(self, role: str, leader: str | None):
        if (role, leader) != (self.role, self.leader):
            if leader is not None and leader != self.leader:
                self.metrics.leader_changes.inc()
            self.role, self.leader = role, leader
            if role == "leader" or leader is not None:
                self.out.append(RoleChanged(role, leader, self.epoch))

    def _register(self):
        value = ks.MemberValue(self.addr, self.priority, {}, 0, self.stopping)
        key = ks.MEMBER + self.id
        self._txn("register", [("create", key, "==", 0)], [("put", key, value.encode(), self.lease)])

    def _duplicate(self, entry: ks.Entry):
        if entry.lease in self.old_leases:
            self.problem = "waiting for our previous session's key to expire in the engine"
            return
        self.problem = f"another process holds NODE_ID={self.id!r} (lease {entry.lease})"
        if ("duplicate", entry.lease) not in self.logged:
            self.logged.add(("duplicate", entry.lease))
            log.error("node %s: another live process is registered with NODE_ID=%s (lease %s, since revision %d): "
                      "not joining until its session ends; give every process its own NODE_ID",
                      self.id, printable(self.id), entry.lease, entry.create_revision)
            self.metrics.refusals.labels(reason="duplicate_id").inc()

    def _reconcile_member(self, now: float):
        t = self.table
        right = self._right(now) and not self.stopping
        reg = self.member_regs.get(self.id)
        new: dict[int, int] = {}
        take_back: dict[int, int] = {}
        for p in range(self.P):
            mine = self._granted_to_us(t, p, reg) and p not in t.revoking
            token = t.tokens[p]
            if not mine or token <= self.refused.get(p, 0) or self.held.get(p) == token:
                if p in self.held and not mine and p not in self.revoking:
                    take_back[p] = self.held[p]
            elif right and p not in self.revoking:
                new[p] = token
            else:
                # A grant we pass on (our right lapsed, or we are still giving the partition
                # back under an older token) is passed on for good: what we write next says,
                # as of this table, that we do not hold it, and the leader then grants it
                # afresh (leader.py, _declined). Taking it later would make that untrue.
                self.refused[p] = token
        if take_back:
            self._start_revoke(take_back, "rebalance", None)
        if new:
            self.held.update(new)
            self.out.append(Assigned(PartitionsChanged(sorted(new), new, self.epoch)))
        self._write_member()

    def _granted_to_us(self, t: ks.Table, p: int, reg: int | None) -> bool:
        """Whether the table gives `p` to this registration of ours (`reg`: the create
        revision of our member key), not merely to our id."""
        return t.owners[p] == self.id and t.regs[p] == reg

    def _write_member(self):
        """Tell the leader what we hold, as of the table revision we processed, when it
        changed or when the leader waits for word from us (a partition it asks back, or one
        it granted that we do not hold)."""
        if self.lease is None or self.stopped:
            return
        mine = self.entries.get(ks.MEMBER + self.id)
        if mine is None or mine.lease != self.lease:
            return
        t = self.table
        held = dict(self.held)
        value = ks.MemberValue(self.addr, self.priority, held, self.table_rev, self.stopping)
        last = self.members_seen.get(self.id)
        reg = mine.create_revision
        waiting = any(self._granted_to_us(t, p, reg) and (p in t.revoking or p not in held) for p in range(self.P))
        if last is not None and last.held == held and last.leaving == self.stopping and (
                last.seen >= self.table_rev or not waiting):
            return
        key = ks.MEMBER + self.id
        self._txn("member", [("create", key, "==", mine.create_revision)], [("put", key, value.encode(), self.lease)])

    # ------------------------------------------------------------------ helpers


__all__ = ["Action", "EngineRing"]
