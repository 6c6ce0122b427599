"""What a `Ring` asks of whoever drives it (node.py for real, the simulation in tests/sim).

The Ring never touches a socket, a thread or a file. The driver calls `tick()` every few
milliseconds and `receive(link, kind, body, dialed)` with every validated message; the Ring
answers through these calls. A `link` is the driver's handle for one connection: hashable
and opaque to the Ring, which only hands it back (to reply on it or to close it).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..events import PartitionsChanged
    from .common import Member


class RingIO(Protocol):
    def send(self, addr: str, kind: str, body: dict) -> None:
        """Send a message to the node at `addr`, over a connection of ours (opened if need be)."""

    def reply(self, link: Hashable, kind: str, body: dict) -> None:
        """Send a message back on the connection a message came in on."""

    def close(self, link: Hashable) -> None:
        """Close that connection (a member dropped for silence or a refused peer)."""

    def assigned(self, change: PartitionsChanged) -> None:
        """Partitions are ours now: tell the application (and the journal)."""

    def revoke(self, change: PartitionsChanged, request: int) -> None:
        """Run the application's revoke handlers; when they have returned (or timed out),
        call ``ring.revoke_finished(request, ok)``, from the thread or greenlet that drives
        the Ring, never from inside a Ring call. It returns when our right to the partitions
        ended if that was before now (a lease that ran out meanwhile), for the journal."""

    def role_changed(self, role: str, leader: str | None, epoch: int) -> None:
        """This node became follower, candidate or leader (of `epoch`, led by `leader`)."""

    def member_changed(self, joined: bool, member: Member) -> None:
        """On the leader: a member joined or left."""

    def persist(self, epoch: int, voted: tuple[int, str] | None) -> bool | None:
        """Write the highest epoch seen and our vote before they are acted on. False: not
        written (a failing disk), so the Ring neither votes nor runs."""
