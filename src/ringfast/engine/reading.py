"""How an `EngineRing` (member.py) reads the keyspace: the config key (a different partition
count is refused), the member keys (an unreadable one still holds what it may hold), the
table (an unreadable one freezes the assignment), and the member list the API reports.
Part of `EngineRing`: the state it reads and writes is the ring's."""

from __future__ import annotations

import logging

from . import keyspace as ks
from .actions import EndLease

log = logging.getLogger("ringfast.engine.member")  # (the ring's logger: one name for its lines)


class Reading:
    def _config_ok(self, entries) -> bool:
        entry = entries.get(ks.CONFIG)
        if entry is None:
            if self.lease is not None and not self.stopping:
                self._txn("config", [("create", ks.CONFIG, "==", 0)],
                          [("put", ks.CONFIG, ks.encode_config(self.P), None)])
            return True
        try:
            theirs = ks.decode_config(entry.value, "config")
        except ks.BadValue as e:
            theirs = e
        if theirs == self.P:
            return True
        self.problem = f"NUM_PARTITIONS={self.P} differs from the cluster's ({theirs})"
        if "config" not in self.logged:
            self.logged.add("config")
            log.error("node %s: NUM_PARTITIONS=%d, but cluster %r in the engine has %s: not joining (set the same "
                      "NUM_PARTITIONS on every node)", self.id, self.P, self.cfg.cluster_name, theirs)
            self.metrics.refusals.labels(reason="settings_mismatch").inc()
        if self.held:
            self._lapse(self.clock())
        if self.lease is not None:
            # withdraw our registration (made before the config key existed, in a race with
            # the node that wrote it): a member that cannot read the table must not be given
            # partitions, nor lead
            self.out.append(EndLease(self.lease))
            self._end_session(self.clock())
        self.parked = True
        return False


    def _read_members(self, entries):
        members = {}
        regs = {}
        for key, entry in entries.items():
            if not key.startswith(ks.MEMBER):
                continue
            ident = key[len(ks.MEMBER):]
            regs[ident] = entry.create_revision
            try:
                members[ident] = ks.decode_member(entry.value, key)
            except ks.BadValue as e:
                members[ident] = None  # present, unreadable: holds what it may hold, gets nothing
                self._log_once(("bad", key, entry.mod_revision), "node %s: %s", self.id, e)
        self.members_seen = members
        self.member_regs = regs  # id -> create revision of its member key: which registration


    def _read_table(self, entries):
        entry = entries.get(ks.TABLE)
        if entry is None:
            self.table, self.table_rev, self.table_ok = ks.Table.empty(self.P), 0, True
            return
        try:
            self.table = ks.decode_table(entry.value, self.P, "table")
            self.table_rev, self.table_ok = entry.mod_revision, True
        except ks.BadValue as e:
            # nobody can tell who owns what: keep what we hold, claim nothing, write nothing
            self.table_ok = False
            self._log_once(("bad", "table", entry.mod_revision), "node %s: %s: the assignment is frozen", self.id, e)


    def _describe(self):
        t = self.table
        owned: dict[str, list[int]] = {}
        for p, o in enumerate(t.owners):
            if o is not None:
                owned.setdefault(o, []).append(p)
        view = [{"id": i, "addr": m.addr, "priority": m.priority, "role": "leader" if i == self.leader else "follower",
                 "partitions": owned.get(i, [])}
                for i, m in sorted(self.members_seen.items()) if m is not None]
        if view != self.view:
            self.view = view


    def _log_once(self, key, fmt, *args):
        if key not in self.logged:
            self.logged.add(key)
            log.error(fmt, *args)

