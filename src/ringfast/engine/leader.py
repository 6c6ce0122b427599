"""The leader's part of an `EngineRing` (member.py): keeping the ``table`` key in step with
the live members, with revoke-before-assign and the compiled core's sticky `assign()`.

Each partition of the table is in one of three states, changed only here:

| state | meaning | leaves it when |
|---|---|---|
| free | owner None | the leader grants it: owner set, a new token |
| granted | owner X (one registration of X), not in ``revoking`` | X should not keep it (a rebalance, X leaving): -> revoking; X declined it (it could not take it) -> granted again with a new token |
| revoking | owner X, asked to give it back | X's key is gone, or X wrote that it no longer holds it having seen the request -> free |

and a partition whose owner's registration (its member key, by create revision) is gone is free at once (the lease ended in the
engine, so the owner's right had ended before). Nothing here waits on a timer: every
step follows from what the engine holds, read whole at one revision. (A free partition
may be *kept* for a member that stopped to restart: rejoin.py.)

Elections are here too: a follower that sees no leader runs for it (`_maybe_elect`).
"""

from __future__ import annotations

import logging

from .._impl import assign
from ..assumptions import epoch_cap
from ..ring.actions import Membership
from ..table import GEN_BITS, token_of
from . import keyspace as ks

log = logging.getLogger(__name__)

SETTLE = 0.2  # seconds a new leader of an empty table waits for members starting beside it
ELECTION_STEP = 0.05  # seconds of delay per priority rank before running for leader


class EngineLeader:
    def __init__(self):
        self.lead_rev = 0  # create revision of our leader key: every table write compares it
        self.lead_since = 0.0
        self.asked: dict[int, int] = {}  # partition -> first table revision seen asking it back
        self.granted: dict[tuple[int, int], int] = {}  # (partition, token) -> first table revision seen with it
        self.known: dict[str, ks.MemberValue] = {}  # members as of our last look, for MEMBER_* events

    def _start_leading(self, entry: ks.Entry, now: float):
        self.lead_rev = entry.create_revision
        self.lead_since = now
        self.asked.clear()
        self.granted.clear()
        self.known = {}
        self._set_role("leader", self.id)
        log.info("node %s: leader of epoch %d", self.id, self.epoch)

    def _lead(self, now: float):
        members = self.members_seen
        self._membership_events(members)
        if not self.table_ok or "table" in self.inflight or not self._right(now):
            return
        t = self.table.copy()
        rev = self.table_rev
        if t.epoch > self.epoch:
            self._log_once(("table-epoch", t.epoch), "node %s: the table was written in epoch %d, after ours (%d): "
                           "not writing it", self.id, t.epoch, self.epoch)
            return
        markers = self._markers()
        waiting = self._waiting(markers, members)  # stopped to restart, within their grace (rejoin.py)
        changed = False
        for p in range(self.P):
            owner = t.owners[p]
            if owner is None:
                continue
            m = members.get(owner, False)
            if m is False or self.member_regs.get(owner) != t.regs[p]:
                # the registration it was granted to is gone: that lease ended in the engine
                changed |= self._free(t, p, waiting)
            elif m is None:  # unreadable: it may hold anything it was given
                continue
            elif p in t.revoking:
                if self._let_go(m, p, self.asked.setdefault(p, rev)):
                    changed |= self._free(t, p, waiting)
            elif self._declined(m, p, t.tokens[p], self.granted.setdefault((p, t.tokens[p]), rev)):
                changed |= self._free(t, p, waiting)
        eligible = sorted(i for i, m in members.items() if m is not None and not m.leaving
                          and (i != self.id or self.cfg.leader_owns_partitions))
        changed |= self._release_kept(t, waiting, eligible)
        if not eligible:
            changed |= self._ask_back_all(t)
        elif any(o is not None for o in t.owners) or t.kept or now - self.lead_since >= SETTLE:
            # a member away within its grace keeps its share in the assignment: sticky, so
            # its kept partitions stay its own, and nothing is granted to it while away
            previous: dict[str, list[int]] = {i: [] for i in sorted({*eligible, *waiting})}
            for p, o in enumerate(t.owners):
                if o in previous and t.regs[p] == self.member_regs.get(o):
                    previous[o].append(p)
            for p, who in t.kept.items():
                if who in previous:
                    previous[who].append(p)
            target = assign(self.P, sorted(previous), previous)
            moved = 0
            for who, parts in target.items():
                if who in waiting:
                    continue
                for p in parts:
                    owner = t.owners[p]
                    if owner is None:
                        if self._grant(t, p, who):
                            changed, moved = True, moved + 1
                    elif owner != who and p not in t.revoking:
                        t.revoking.add(p)
                        changed = True
            if moved:
                self.metrics.moved.inc(moved)
        if changed:
            # Guarded twice: by our leadership (a deposed leader's write fails) and by the
            # table we decided on (a write decided on a table that has changed since fails,
            # so an answer that never came back cannot be overtaken by an older decision).
            self._txn("table", [("create", ks.LEADER, "==", self.lead_rev), ("mod", ks.TABLE, "==", rev)],
                      [("put", ks.TABLE, t.encode(), None)])
        elif markers:
            self._clear_markers(markers, waiting, t)

    @staticmethod
    def _let_go(m: ks.MemberValue, p: int, asked: int) -> bool:
        """Whether the owner `m` surely gave `p` back: it wrote, having processed a table at
        or after `asked` (the first revision at which we saw `p` asked back: at or after the
        write that asked), that it does not hold it. Every table since asks it back too."""
        return m.seen >= asked and p not in m.held

    @staticmethod
    def _declined(m: ks.MemberValue, p: int, token: int, first: int) -> bool:
        """Whether the owner `m` processed our grant of `p` with `token` (seen at `first`)
        and does not hold it (its right had lapsed): nobody holds it, so it can be granted
        afresh, with a new token the owner will take."""
        return m.seen >= first and m.held.get(p) != token

    def _free(self, t: ks.Table, p: int, waiting: dict[str, int]) -> bool:
        owner, reg, moving = t.owners[p], t.regs[p], p in t.revoking
        t.owners[p] = None
        t.regs[p] = 0
        t.revoking.discard(p)
        self.asked.pop(p, None)
        if not moving:
            self._keep(t, p, owner, reg, waiting)
        return True

    def _grant(self, t: ks.Table, p: int, who: str) -> bool:
        if t.epoch != self.epoch:
            t.epoch, t.gen = self.epoch, 0
        token = token_of(t.epoch, t.gen + 1)
        if t.gen + 1 >= 1 << GEN_BITS or token <= t.tokens[p]:
            # the generations of this epoch are used up (the next token would run into the
            # next epoch's): no grant; a new leader (a new epoch) starts them again
            self._log_once(("gen", t.epoch), "node %s: epoch %d has used up its fencing-token generations: "
                           "not granting; stop this leader so that another starts a new epoch", self.id, t.epoch)
            return False
        t.gen += 1
        t.owners[p] = who
        t.regs[p] = self.member_regs[who]
        t.tokens[p] = token
        t.revoking.discard(p)
        t.kept.pop(p, None)
        return True

    def _ask_back_all(self, t: ks.Table) -> bool:
        asked = {p for p, o in enumerate(t.owners) if o is not None} - t.revoking
        t.revoking |= asked
        return bool(asked)

    def _maybe_elect(self, now: float):
        mine = self.entries.get(ks.MEMBER + self.id)
        if (self.stopping or self.parked or not self._right(now) or mine is None or mine.lease != self.lease
                or "elect" in self.inflight or not self.table_ok):
            return
        ranked = sorted((m.priority, i) for i, m in self.members_seen.items() if m is not None and not m.leaving)
        rank = next((n for n, (_, i) in enumerate(ranked) if i == self.id), len(ranked))
        if now - (self.no_leader_since or now) < rank * ELECTION_STEP:
            return
        entry = self.entries.get(ks.EPOCH)
        if entry is None:
            last, guard = 0, ("create", ks.EPOCH, "==", 0)
        else:
            try:
                last = ks.decode_epoch(entry.value, "epoch")
            except ks.BadValue as e:
                self._log_once(("bad", "epoch", entry.mod_revision), "node %s: %s: cannot run for leader", self.id, e)
                return
            guard = ("mod", ks.EPOCH, "==", entry.mod_revision)
        epoch = max(last, self.table.epoch, self.epoch_floor, self.epoch) + 1
        cap = epoch_cap(self.wall())
        if epoch > cap:
            self._log_once(("cap", epoch), "node %s: the next epoch would be %d, above the highest this clock allows "
                           "(%d): not running for leader (check the clocks)", self.id, epoch, cap)
            return
        if self.storage is not None and self.storage.save(epoch, None) is False:
            return  # a failing state dir: we neither run nor lead (see disk.py)
        self._txn("elect", [("create", ks.LEADER, "==", 0), guard],
                  [("put", ks.LEADER, ks.encode_leader(self.id, epoch), self.lease),
                   ("put", ks.EPOCH, ks.encode_epoch(epoch), None)])

    def _membership_events(self, members):
        now = {i: m for i, m in members.items() if m is not None}
        for i in sorted(set(now) - set(self.known)):
            self.out.append(Membership(True, i, now[i].addr, now[i].priority))
        for i in sorted(set(self.known) - set(now)):
            self.out.append(Membership(False, i, self.known[i].addr, self.known[i].priority))
        self.known = now

    def unowned(self) -> int:
        return self.table.unowned()
