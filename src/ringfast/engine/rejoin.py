"""The rejoin grace on an engine: a member stopped with ``stop(restart=True)`` gets what it
held back when it returns under the same id within ``RINGFAST_REJOIN_GRACE``, instead of
its partitions moving away and back. Part of `EngineRing` (member.py, leader.py).

- **The member, as it stops to restart**, writes ``rejoin/<id>``: "registration *r* stops
  to restart; keep what it held until *until*" (its wall clock plus the grace), before it
  ends its lease. It revokes what it holds as on any stop (its handlers run).
- **The leader** frees that registration's partitions as it always does, on the same facts
  (its member key gone, or its word that it no longer holds them), but puts them in the
  table's ``kept`` instead of giving them away: while the marker stands, the member counts
  in the assignment with them as its share, and nobody is granted them.
- **The member returns** (a new registration under the same id): the leader grants it its
  kept partitions, with new fencing tokens, and deletes the marker. The grace ends (the
  leader's wall clock passes *until*, or the marker is gone): the kept partitions are
  free to be granted to anyone, and the leader deletes the marker.

Safety does not rest on any of this: a kept partition is a free one (nobody holds it, as
for any free partition: leader.py's rules), given to one registration at a time. The clocks
of the two hosts only stretch or shorten the wait.
"""

from __future__ import annotations

from . import keyspace as ks


class Rejoin:
    # ------------------------------------------------------------------ the member's side

    def _announce_rejoin(self) -> bool:
        """On a stop with restart=True: write our marker (True: wait for its answer before
        ending the lease, else the leader could see us gone before it sees why)."""
        grace = self.cfg.rejoin_grace
        if grace is None:  # (a Config built directly, not through from_env: its default)
            grace = 3 * self.cfg.failure_timeout
        mine = self.entries.get(ks.MEMBER + self.id)
        if grace <= 0 or self.lease is None or mine is None or mine.lease != self.lease:
            return False
        key = ks.REJOIN + self.id
        old = self.entries.get(key)
        value = ks.RejoinValue(round(self.wall() + grace, 3), mine.create_revision)
        # Compared on the marker alone, not on our member key: that key's ZooKeeper version
        # moves with each of our writes, and a check against a collect older than our last
        # write would fail the marker. A marker needs no guard: it names the registration
        # it speaks for, and the leader heeds it only while that one is ours or gone.
        self._txn("rejoin", [("mod", key, "==", old.mod_revision if old else 0)], [("put", key, value.encode(), None)])
        return True

    # ------------------------------------------------------------------ the leader's side

    def _markers(self) -> dict[str, tuple[ks.RejoinValue, int]]:
        """Every readable marker: id -> (its value, its mod revision)."""
        out = {}
        for key, entry in self.entries.items():
            if key.startswith(ks.REJOIN):
                try:
                    out[key[len(ks.REJOIN):]] = (ks.decode_rejoin(entry.value, key), entry.mod_revision)
                except ks.BadValue as e:
                    self._log_once(("bad", key, entry.mod_revision), "node %s: %s: ignored", self.id, e)
        return out

    def _waiting(self, markers, members) -> dict[str, int]:
        """The members away within their grace: id -> the registration that stopped. The
        stopping process itself (still registered as that registration) counts as away."""
        now = self.wall()
        out = {}
        for who, (value, _) in markers.items():
            if value.until > now and (who not in members or self.member_regs.get(who) == value.reg):
                out[who] = value.reg
        return out

    def _keep(self, t: ks.Table, p: int, owner: str, reg: int, waiting: dict[str, int]):
        """`p` has just been freed from `owner`'s registration `reg`: keep it for the
        owner's return if that registration stopped to restart (and `p` was not being moved
        away from it anyway)."""
        if waiting.get(owner) == reg:
            t.kept[p] = owner

    def _release_kept(self, t: ks.Table, waiting: dict[str, int], eligible: list[str]) -> bool:
        """Kept partitions whose member neither waits nor is back: free for anyone."""
        gone = [p for p, who in t.kept.items() if who not in waiting and who not in eligible]
        for p in gone:
            del t.kept[p]
        return bool(gone)

    def _clear_markers(self, markers, waiting: dict[str, int], t: ks.Table):
        """Delete the markers whose grace is over, or whose member is back and has its
        partitions again (guarded by our leadership and by each marker's revision)."""
        done = [(who, rev) for who, (_, rev) in markers.items()
                if who not in waiting and who not in t.kept.values()]
        if done:
            self._txn("rejoin-clear",
                      [("create", ks.LEADER, "==", self.lead_rev)]
                      + [("mod", ks.REJOIN + who, "==", rev) for who, rev in done],
                      [("delete", ks.REJOIN + who) for who, _ in done])
