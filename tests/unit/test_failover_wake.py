"""When the leader's connection closes, the node ticks its ring when the election is due,
not at the next period of its loop (issue 13: failover at network speed)."""

import queue
import random

from ringfast import Node
from ringfast.connections import NodeWorld
from ringfast.driver import Driver
from ringfast.ring import Ring

SEEDS = "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"


class Timers:
    """The handler's spawn_later, recorded instead of run."""

    def __init__(self):
        self.later = []

    def spawn_later(self, delay, fn, *args):
        self.later.append((delay, fn))

    def spawn(self, fn, *args):  # (connecting to the voters: not done here)
        return None


def follower_node():
    node = Node(node_id="n2", port=2, seeds=SEEDS, monitoring_port="off", mode="thread", clock=lambda: clock[0])
    clock = [100.0]
    ring = Ring(node.config, None, lambda: clock[0], epoch=1000, rng=random.Random(2))
    node._ring, node._driver, node._running = ring, Driver(ring, NodeWorld(node)), True
    node._handler = timers = Timers()
    node._event_queue = queue.SimpleQueue()  # what the application would hear
    ring.leader, ring.leader_addr = "n1", "127.0.0.1:1"
    return node, ring, timers, clock


def test_losing_the_leader_schedules_a_tick_when_the_election_is_due():
    node, ring, timers, clock = follower_node()
    node._connection_lost("127.0.0.1:1")
    assert ring.leader is None
    (delay, fn), = timers.later
    assert delay == ring.election_at - clock[0] and 0 <= delay <= 0.05
    clock[0] = ring.election_at
    fn()  # the scheduled tick: the election starts now
    assert ring.role == "candidate"


def test_losing_another_peer_schedules_nothing():
    node, ring, timers, clock = follower_node()
    node._connection_lost("127.0.0.1:3")
    assert ring.leader == "n1" and timers.later == []
