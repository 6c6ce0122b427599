"""ringfast: cluster coordination for Python.

A group of processes forms a ring, elects a leader, detects failures and splits
``num_partitions`` partitions among the live members. The core (compiled, or its
pure-Python twin where no compiler was available: ``core_implementation`` says which)
gives the ``key -> partition`` function and the assignment calculation.
"""

import logging

# Before anything can log (the core's selection may): the application decides where it goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())

from ._version import __version__
from .errors import (
    AssignmentError,
    ConfigError,
    InvalidTypeError,
    NotRunningError,
    PurePythonCoreWarning,
    RingfastError,
)

# The compiled core when it imports, else its pure-Python twin (with a warning): _impl.py.
from ._impl import Partitioner, assign, core_implementation, murmur3, partition

from . import clock, events
from .config import Config
from .events import (
    BECOME_LEADER,
    LEADER_CHANGED,
    MEMBER_JOINED,
    MEMBER_LEFT,
    PARTITIONS_ASSIGNED,
    PARTITIONS_REVOKED,
)
from .node import Node
from .protocol import ProtocolError

__all__ = [
    "__version__",
    "Partitioner",
    "partition",
    "assign",
    "murmur3",
    "core_implementation",
    "RingfastError",
    "ConfigError",
    "InvalidTypeError",
    "AssignmentError",
    "ProtocolError",
    "NotRunningError",
    "PurePythonCoreWarning",
    "Node",
    "Config",
    "events",
    "clock",
    "BECOME_LEADER",
    "LEADER_CHANGED",
    "PARTITIONS_ASSIGNED",
    "PARTITIONS_REVOKED",
    "MEMBER_JOINED",
    "MEMBER_LEFT",
]
