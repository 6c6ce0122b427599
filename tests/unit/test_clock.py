"""The lease clock: CLOCK_BOOTTIME on Linux (it counts through a suspend), the node's default."""

import sys
import time

import pytest

from ringfast import Node, clock


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CLOCK_BOOTTIME is Linux's")
def test_the_lease_clock_is_boottime_on_linux():
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    t = clock.now()
    after = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert before <= t <= after
    # CLOCK_MONOTONIC stops during a suspend, so it may lag; it can never be ahead
    assert time.monotonic() <= clock.now() + 1e-3


def test_a_node_times_its_leases_on_the_lease_clock_unless_given_another():
    assert Node(monitoring_port="off", mode="thread")._clock is clock.now
    ticks = iter([100.0])
    assert Node(monitoring_port="off", mode="thread", clock=lambda: next(ticks))._clock() == 100.0
