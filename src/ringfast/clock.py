"""The clock leases are measured on.

A lease says "this node may act as owner until T". If the node's clock stops while the
machine is suspended, the node wakes up believing a lease is still running that the leader
(whose clock did not stop) has long given away: the partition would have two owners. On
Linux, ``CLOCK_BOOTTIME`` is ``CLOCK_MONOTONIC`` plus the time spent suspended, so a lease
taken before a suspend has run out when the node wakes. Elsewhere it is
:func:`time.monotonic`. Like it, the value only means something as a difference, and it is
the same for every process on one machine (the journals' ``"t"`` are on it).
"""

import time

__all__ = ["now"]

if hasattr(time, "CLOCK_BOOTTIME"):

    def now() -> float:
        """Seconds on the lease clock (CLOCK_BOOTTIME: counts through a suspend)."""
        return time.clock_gettime(time.CLOCK_BOOTTIME)

else:  # pragma: no cover - not Linux
    now = time.monotonic
