"""An in-memory model of a coordination engine (etcd v3's data model), on a virtual clock.

The first piece of the etcd/ZooKeeper backends (they are not built yet): the simulation
will run those backends against this model as it runs the built-in protocol against
simulated networks, so that a seed can find what a test on the real engine rarely would.
It models what the backends' guarantees rest on, and nothing else:

- **Revisions.** One counter for the whole store. Every write (a put, a delete, a
  transaction with writes, a lease expiry that deletes keys) raises it by exactly one,
  and every key remembers the revision that created it and the one that last changed it.
  ZooKeeper's zxid plays the same part.
- **Leases** (etcd leases; ZooKeeper's sessions with ephemeral znodes). Granted for whole
  seconds, at least `MIN_TTL` (etcd's floor), on the engine's clock. A keepalive renews
  the full TTL from the moment the engine handles it; when a lease runs out, the engine
  deletes every key attached to it in one revision. An expired lease cannot be renewed.
- **Transactions.** Compare, then either the success or the failure operations, at one
  revision: how a leader writes an assignment only while its leadership key is still the
  one it created (a deposed leader's write fails).
- **Watches**, as a history read from a revision: events after it, in order, or
  `Compacted` if the history from there was compacted (the client must re-read).

The engine's clock is `clock()`, the simulation's: expiry happens when time passes, seen by
the next operation or by `advance()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIN_TTL = 2  # seconds: etcd refuses shorter leases (it raises them to its minimum)


class EngineError(Exception):
    """A request the engine refuses (what etcd answers with an error code)."""


class LeaseNotFound(EngineError):
    """The lease expired or was revoked (etcd: "requested lease not found")."""


class Compacted(EngineError):
    """A watch asked for history that was compacted away: re-read, then watch from there."""


@dataclass
class Entry:
    value: str
    create_revision: int
    mod_revision: int
    version: int  # writes since it was created (1 after the create)
    lease: int | None


@dataclass
class Lease:
    ttl: int
    expires: float
    keys: set = field(default_factory=set)


@dataclass(frozen=True)
class Event:
    revision: int
    kind: str  # "put" or "delete"
    key: str
    value: str | None  # None for a delete


class EngineModel:
    def __init__(self, clock):
        self.clock = clock
        self.revision = 0
        self.kv: dict[str, Entry] = {}
        self.leases: dict[int, Lease] = {}
        self.history: list[Event] = []
        self.compacted = 0  # events at or below this revision are gone
        self._next_lease = 0

    # ---- leases

    def grant(self, ttl: float) -> int:
        """A new lease of `ttl` seconds (raised to a whole number, at least MIN_TTL)."""
        if not ttl > 0:
            raise EngineError(f"lease TTL {ttl!r}: must be positive")
        self.advance()
        self._next_lease += 1
        whole = max(MIN_TTL, math.ceil(ttl))
        self.leases[self._next_lease] = Lease(whole, self.clock() + whole)
        return self._next_lease

    def keepalive(self, lease: int) -> int:
        """Renew `lease` for its full TTL from now; its TTL. LeaseNotFound once it ran out."""
        self.advance()
        held = self._lease(lease)
        held.expires = self.clock() + held.ttl
        return held.ttl

    def revoke(self, lease: int) -> int:
        """End `lease` now, deleting its keys (one revision if there were any)."""
        self.advance()
        self._lease(lease)
        self._end_lease(lease)
        return self.revision

    def time_to_live(self, lease: int) -> float:
        self.advance()
        return max(0.0, self._lease(lease).expires - self.clock())

    def advance(self) -> None:
        """Expire what ran out by now, in the order the leases ran out."""
        now = self.clock()
        for lease in sorted((i for i, e in self.leases.items() if e.expires <= now), key=lambda i: self.leases[i].expires):
            self._end_lease(lease)

    def _lease(self, lease: int) -> Lease:
        held = self.leases.get(lease)
        if held is None:
            raise LeaseNotFound(f"lease {lease}: not found (expired or revoked)")
        return held

    def _end_lease(self, lease: int) -> None:
        keys = sorted(self.leases.pop(lease).keys)
        if keys:
            self.revision += 1
            for key in keys:
                self._delete(key)

    # ---- keys

    def get(self, key: str) -> Entry | None:
        self.advance()
        return self.kv.get(key)

    def range(self, prefix: str) -> tuple[list[tuple[str, Entry]], int]:
        """Every key under `prefix`, sorted, and the revision they were read at."""
        self.advance()
        return sorted((k, e) for k, e in self.kv.items() if k.startswith(prefix)), self.revision

    def put(self, key: str, value: str, lease: int | None = None) -> int:
        return self.txn([], [("put", key, value, lease)])[1]

    def delete(self, key: str) -> int:
        return self.txn([], [("delete", key)])[1]

    def txn(self, compare, success, failure=()) -> tuple[bool, int]:
        """If every comparison holds, apply `success`, else `failure`; (whether it held, the
        revision after). Comparisons: ("create", key, "==" | "!=" | "<" | ">", revision)
        (0 for "does not exist"), ("mod", key, op, revision), ("version", key, op, n),
        ("value", key, op, value). Operations: ("put", key, value, lease or None),
        ("delete", key). All writes of one transaction share one new revision."""
        self.advance()
        ok = all(self._holds(c) for c in compare)
        ops = list(success if ok else failure)
        for op in ops:  # checked before anything changes: a refused transaction changes nothing
            if op[0] == "put" and op[3] is not None:
                self._lease(op[3])
            elif op[0] not in ("put", "delete"):
                raise EngineError(f"operation {op[0]!r}: not put or delete")
        writes = [op for op in ops if op[0] == "put" or op[1] in self.kv]
        if writes:
            self.revision += 1
            for op in writes:
                if op[0] == "put":
                    self._put(op[1], op[2], op[3])
                else:
                    self._delete(op[1])
        return ok, self.revision

    def _holds(self, cmp) -> bool:
        target, key, op, want = cmp
        entry = self.kv.get(key)
        if target == "value":
            have = None if entry is None else entry.value
        else:
            field_name = {"create": "create_revision", "mod": "mod_revision", "version": "version"}.get(target)
            if field_name is None:
                raise EngineError(f"comparison on {target!r}: not create, mod, version or value")
            have = 0 if entry is None else getattr(entry, field_name)
        if op == "==":
            return have == want
        if op == "!=":
            return have != want
        if have is None:
            return False
        if op == "<":
            return have < want
        if op == ">":
            return have > want
        raise EngineError(f"comparison operator {op!r}: not ==, !=, < or >")

    def _put(self, key: str, value: str, lease: int | None) -> None:
        old = self.kv.get(key)
        if old is not None and old.lease is not None and old.lease in self.leases:
            self.leases[old.lease].keys.discard(key)
        if old is None:
            entry = Entry(value, self.revision, self.revision, 1, lease)
        else:
            entry = Entry(value, old.create_revision, self.revision, old.version + 1, lease)
        self.kv[key] = entry
        if lease is not None:
            self.leases[lease].keys.add(key)
        self.history.append(Event(self.revision, "put", key, value))

    def _delete(self, key: str) -> None:
        old = self.kv.pop(key)
        if old.lease is not None and old.lease in self.leases:
            self.leases[old.lease].keys.discard(key)
        self.history.append(Event(self.revision, "delete", key, None))

    # ---- watches

    def events(self, prefix: str, after: int) -> list[Event]:
        """What changed under `prefix` after revision `after`, in order."""
        self.advance()
        if after < self.compacted:
            raise Compacted(f"revision {after} is compacted (history starts after {self.compacted}): re-read")
        return [e for e in self.history if e.revision > after and e.key.startswith(prefix)]

    def compact(self, revision: int) -> None:
        """Forget the history up to `revision` (etcd's auto-compaction)."""
        if revision > self.revision:
            raise EngineError(f"compact to {revision}: above the current revision {self.revision}")
        self.compacted = max(self.compacted, revision)
        self.history = [e for e in self.history if e.revision > self.compacted]
