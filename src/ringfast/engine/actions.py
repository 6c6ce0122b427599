"""What an `EngineRing` asks of the engine, returned as data beside the application actions
of ring/actions.py (Assigned, Revoke, Released, RoleChanged, Membership), which mean the same
with either backend.

Keys here are relative to the cluster's prefix (keyspace.py); the runner adds it.
Comparisons and operations use one small vocabulary that both engines can express:

- comparisons ``("create", key, "==", revision)`` (0: the key does not exist) and
  ``("mod", key, "==", revision)``;
- operations ``("put", key, value, lease or None)`` and ``("delete", key)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Txn:
    """If every comparison holds, apply `success` at one revision. `what` names the write for
    the logs ("register", "config", "elect", "table", "member"). The outcome arrives as a new
    read of the keyspace (the runner reads after every write), never as a return value: what
    the ring decides next comes from what the engine holds, whatever the answer said."""

    what: str
    compare: list[tuple] = field(default_factory=list)
    success: list[tuple] = field(default_factory=list)


@dataclass(slots=True)
class EndLease:
    """Revoke `lease` in the engine now (a graceful leave): the engine deletes our keys at once."""

    lease: int


@dataclass(slots=True)
class DropLease:
    """Stop renewing `lease` and get a new one once it has surely run out in the engine (a
    revoke handler that did not return in time: our right ends with the lease, as with the
    built-in protocol)."""

    lease: int
