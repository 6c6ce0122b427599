"""The coordination protocol, one object per node (`Ring`), in parts by role.

Where to start reading: core.py (the state, `tick` and `receive` with the dispatch
table), then election.py, follower.py, leader.py and handoff.py; the leader's partition
lifecycle is ringfast/table.py. docs/internals.md draws the layers.
"""

from ..table import token_of
from .common import DRIFT, LOST_JITTER, MIN_MARGIN, START_WAIT, Member
from .core import Ring
from .io import RingIO

__all__ = ["DRIFT", "LOST_JITTER", "MIN_MARGIN", "START_WAIT", "Member", "Ring", "RingIO", "token_of"]
