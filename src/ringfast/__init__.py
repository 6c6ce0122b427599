"""ringfast: cluster coordination for Python.

A group of processes forms a ring, elects a leader, detects failures and splits
``num_partitions`` partitions among the live members. The compiled core gives the
``key -> partition`` function and the assignment calculation.
"""

import logging

from ._version import __version__
from .errors import AssignmentError, ConfigError, InvalidTypeError, NotRunningError, RingfastError

try:
    from ._core import Partitioner, assign, murmur3, partition
except ImportError as _e:  # no pure-Python fallback ships: say how to get the real thing
    raise ImportError(
        "ringfast's compiled core (ringfast._core) is missing or broken "
        f"({_e}). Install ringfast with pip from a source tree or sdist on a machine with a "
        "C compiler and the Python headers, e.g. `python -m pip install .`; "
        "an editable checkout needs `python -m pip install -e .` again after changing _core.pyx."
    ) from _e

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

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "Partitioner",
    "partition",
    "assign",
    "murmur3",
    "RingfastError",
    "ConfigError",
    "InvalidTypeError",
    "AssignmentError",
    "ProtocolError",
    "NotRunningError",
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
