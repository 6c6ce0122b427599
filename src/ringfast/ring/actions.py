"""What a `Ring` asks to have done, returned as data (the vocabulary of ring/ and driver.py).

Every entry point of the Ring (`tick`, `receive`, `revoke_finished`, `on_connection_lost`,
`on_inbound_closed`, `leave`) returns the list of actions it decided on, in order; the Ring
itself never sends, closes, writes or calls back. `ringfast.driver.Driver` carries them out
for the node, the simulation and the transcripts alike.

Peers are addressed by their advertised address (`Send.to`), or, for an answer, by the
`link` the message came in on: an opaque handle the driver gave the Ring with the message
(hashable; the Ring never looks inside it).

Actions are plain records, read-only by convention (not frozen: a frozen dataclass costs
three times as much to build, and a leader builds one per heartbeat it answers).

One thing is not an action: the state file (`Storage`). A vote or a candidacy must be on
disk before it is cast, and a failed write changes what the Ring does next (it neither
votes nor runs), so the Ring asks for that write synchronously and reads the answer.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol, Union

from ..events import PartitionsChanged


@dataclass(slots=True)
class Send:
    """Send a message to the node at address `to`, over our own connection to it (opened if need be)."""

    to: str
    kind: str
    body: dict


@dataclass(slots=True)
class Reply:
    """Send a message back on the connection `link` (the one a message came in on)."""

    link: Hashable
    kind: str
    body: dict


@dataclass(slots=True)
class Close:
    """Close the connection `link` (a member dropped for silence)."""

    link: Hashable


@dataclass(slots=True)
class Assigned:
    """Partitions are ours now, with these fencing tokens: tell the application (and the journal)."""

    change: PartitionsChanged


@dataclass(slots=True)
class Revoke:
    """Run the application's revoke handlers for `change`; when they have returned (or timed
    out) feed ``Ring.revoke_finished(request, ok)`` back, as a new event."""

    change: PartitionsChanged
    request: int


@dataclass(slots=True)
class Released:
    """The revoke handlers of `change` returned: our right to those partitions ended at
    `ended` (on our lease clock), or now if None. For the journal."""

    change: PartitionsChanged
    ended: float | None


@dataclass(slots=True)
class RoleChanged:
    """We became follower, candidate or leader (of `epoch`, led by `leader`)."""

    role: str
    leader: str | None
    epoch: int


@dataclass(slots=True)
class Membership:
    """On the leader: a member joined (or left)."""

    joined: bool
    id: str
    addr: str
    priority: int


Action = Union[Send, Reply, Close, Assigned, Revoke, Released, RoleChanged, Membership]


class Storage(Protocol):
    def save(self, epoch: int, voted: tuple[int, str] | None) -> bool:
        """Write the highest epoch seen and our vote before they are acted on. False: not
        written (a failing disk), so the Ring neither votes nor runs."""
