"""The driver of an `EngineRing`: ringfast.driver.Driver (the application's actions: events,
journal lines, revoke handlers) plus the engine's actions, carried out by an `EngineWorld`.
The node's runner (runner.py) and the simulation (tests/sim/engine_sim.py) both drive their
rings through it, so the simulation checks what a node does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..driver import APPLY, Driver, World
from .actions import DropLease, EndLease, Txn


class EngineWorld(World):
    """What an engine-backed driver needs beyond a `World` (whose send/reply/close it never uses)."""

    def txn(self, txn: Txn) -> None:
        """Carry out `txn`, then feed `Driver.txn_done(txn.what)` back and read the keyspace."""

    def end_lease(self, lease: int) -> None:
        """Revoke `lease` in the engine now."""

    def drop_lease(self, lease: int) -> None:
        """Stop renewing `lease`; start a new session."""


class EngineDriver(Driver):
    def lease_granted(self, lease: int, ttl: float, sent_at: float) -> None:
        self._run(self.ring.lease_granted, lease, ttl, sent_at)

    def lease_renewed(self, lease: int, ttl: float, sent_at: float) -> None:
        self._run(self.ring.lease_renewed, lease, ttl, sent_at)

    def lease_lost(self, lease: int) -> None:
        self._run(self.ring.lease_lost, lease)

    def view(self, revision: int, entries: dict) -> None:
        self._run(self.ring.on_view, revision, entries)

    def txn_done(self, what: str) -> None:
        self._run(self.ring.txn_done, what)

    def next_tick(self, now: float, period: float) -> float:
        return period

    def apply(self, actions: list) -> None:
        for action in actions:
            ENGINE_APPLY[type(action)](self, action)

    def _txn(self, a: Txn) -> None:
        self.world.txn(a)  # type: ignore[attr-defined]

    def _end_lease(self, a: EndLease) -> None:
        self.world.end_lease(a.lease)  # type: ignore[attr-defined]

    def _drop_lease(self, a: DropLease) -> None:
        self.world.drop_lease(a.lease)  # type: ignore[attr-defined]


ENGINE_APPLY: dict[type, Callable[[Driver, Any], None]] = {
    **APPLY,
    Txn: EngineDriver._txn,
    EndLease: EngineDriver._end_lease,
    DropLease: EngineDriver._drop_lease,
}
