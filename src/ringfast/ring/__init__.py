"""The coordination protocol, one object per node (`Ring`), in parts by role.

Every entry point returns the actions it decided on (actions.py); ringfast/driver.py
carries them out. Where to start reading: core.py (the state, `tick` and `receive` with the dispatch
table), then election.py, follower.py, leader.py and handoff.py; the leader's partition
lifecycle is ringfast/table.py. docs/internals.md draws the layers.
"""

from ..table import token_of
from .common import DRIFT, LOST_JITTER, MIN_MARGIN, START_WAIT, Member
from .actions import Action, Assigned, Close, Membership, Released, Reply, Revoke, RoleChanged, Send, Storage
from .core import Ring

__all__ = ["DRIFT", "LOST_JITTER", "MIN_MARGIN", "START_WAIT", "Action", "Assigned", "Close", "Member",
           "Membership", "Released", "Reply", "Revoke", "Ring", "RoleChanged", "Send", "Storage", "token_of"]
