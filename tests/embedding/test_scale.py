"""A 200-member ring (ring-election's broadcast broke past ~54): one process, one gevent hub.

All nodes share the hub of a child interpreter, so the test costs one process; every
node still talks to the others over real loopback sockets.
"""

import subprocess
import sys
import textwrap

import pytest

from support import free_ports

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import gevent
    from ringfast import Node

    N, P = 200, 1000
    ports = [int(a) for a in sys.argv[1:]]  # chosen by the test (support.free_ports)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])  # the rest join through the seeds
    nodes = [Node(node_id=f"s{i:03d}", port=ports[i], seeds=seeds, monitoring_port="off", num_partitions=P,
                  heartbeat_interval_ms=500, failure_timeout_ms=2000, mode="gevent").start() for i in range(N)]

    def settled(live):
        leaders = [n for n in live if n.is_leader]
        if len(leaders) != 1 or any(n.leader != leaders[0].id for n in live):
            return False
        held = sorted(p for n in live for p in n.partitions())
        loads = [len(n.partitions()) for n in live if not n.is_leader]
        return held == list(range(P)) and max(loads) - min(loads) <= 1

    def wait(cond, what, timeout=90):
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, what
            gevent.sleep(0.1)

    t0 = time.monotonic()
    wait(lambda: settled(nodes), "200 nodes never settled")
    print(f"settled in {time.monotonic() - t0:.1f}s")
    follower = next(n for n in nodes if not n.is_leader)
    wait(lambda: len(follower.ring()) == N, "membership never reached the followers")
    leader = next(n for n in nodes if n.is_leader)
    epoch = leader.epoch
    leader.stop(timeout=5)
    live = [n for n in nodes if n is not leader]
    wait(lambda: settled(live) and live[0].epoch > epoch, "no new leader after the leader left")
    for n in live:
        n.stop(timeout=2)
    print("SCALE-OK")
    """
)


@pytest.mark.long  # ~8 s; .ci/run's long run has it
def test_two_hundred_members_settle_and_survive_the_leader_leaving():
    ports = [str(p) for p in free_ports(200)]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *ports], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "SCALE-OK" in proc.stdout, f"{proc.stdout}\n{proc.stderr[-4000:]}"
