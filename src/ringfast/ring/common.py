"""What the parts of the protocol share: its timing constants and the leader's Member record."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

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
    link: object
    last_heard: float
    mseq: int = 0
    inc: int = 0  # the process's incarnation: another process with the same id has another
    acks: dict = field(default_factory=dict)  # heartbeat seq -> when we sent its answer
    last_sent: float = 0.0  # when we last sent it an assign or a revoke
    leaving: bool = False
    restarting: bool = False  # left with restart=True: what it revokes waits for it
    probe: tuple[int, float] | None = None  # (mseq, when sent) of our last probe not yet seen
    stale: dict = field(default_factory=dict)  # partition it claims but is not its own -> when asked to let go


def step(fn):
    """Marks an entry point of the Ring: what it decided (`self.out`, ring/actions.py) is
    returned, in order, and nothing stays behind for the next call."""

    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        fn(self, *args, **kwargs)
        out, self.out = self.out, []
        return out

    return run
