"""The Node API driven from a plain threaded program and from a monkey-patched gevent app.

Each runs in its own interpreter (monkey-patching cannot be undone), forms a 3-node ring
in that one process, and checks what the application sees through the API and events.
"""

import subprocess
import sys
import textwrap

import pytest

from support import free_ports

pytestmark = pytest.mark.cluster

COMMON = textwrap.dedent(
    """
    import sys, time
    import ringfast
    from ringfast import Node, events

    ports = [int(a) for a in sys.argv[1:]]  # chosen by the test (support.free_ports)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports)
    seen = {}   # node id -> partitions assigned by events, minus revoked
    tokens = {}

    def make(i):
        node = Node(node_id=f"e{i}", port=ports[i], seeds=seeds, monitoring_port="off",
                    num_partitions=12, heartbeat_interval_ms=50, failure_timeout_ms=400, mode=MODE)
        nid = f"e{i}"
        seen[nid] = set()
        def on_assigned(change, nid=nid):
            seen[nid].update(change.partitions)
            tokens.update(change.tokens)
        def on_revoked(change, nid=nid):
            seen[nid].difference_update(change.partitions)
        node.on(events.PARTITIONS_ASSIGNED, on_assigned)
        node.on(events.PARTITIONS_REVOKED, on_revoked)
        return node

    def settled(nodes):
        leaders = {n.leader for n in nodes}
        held = [p for n in nodes for p in n.partitions()]
        return len(leaders) == 1 and None not in leaders and sorted(held) == list(range(12))

    def events_caught_up(nodes):
        # the partitions each node's events told the application of are the ones it holds
        # (callbacks run on the node's own hub, a moment after its state changed)
        return all(set(n.partitions()) == seen[n.id] for n in nodes)

    def check(nodes):
        leader = [n for n in nodes if n.is_leader]
        assert len(leader) == 1, [n.role for n in nodes]
        assert leader[0].partitions() == []
        for n in nodes:
            assert set(n.partitions()) == seen[n.id], (n.id, n.partitions(), seen[n.id])
            for p in n.partitions():
                assert n.fencing_token(p) == tokens[p] and tokens[p] >> 31 == n.epoch
            assert n.partition("key-1") == ringfast.partition("key-1", 12)
        ring = leader[0].ring()
        assert sorted(m["id"] for m in ring) == ["e0", "e1", "e2"]
        assert sum(len(m["partitions"]) for m in ring) == 12
    """
)

THREADED = COMMON.replace("MODE", '"thread"') + textwrap.dedent(
    """
    nodes = [make(i).start() for i in range(3)]
    deadline = time.monotonic() + 20
    spins = 0
    while not settled(nodes):          # a busy main thread: the nodes' hubs must not starve
        assert time.monotonic() < deadline, [(n.role, n.leader, n.partitions()) for n in nodes]
        sum(i * i for i in range(20000))
        spins += 1
    assert all(n.wait_until_ready(5) for n in nodes)
    deadline = time.monotonic() + 5
    while not events_caught_up(nodes):
        assert time.monotonic() < deadline, [(n.id, n.partitions(), seen[n.id]) for n in nodes]
        time.sleep(0.01)
    check(nodes)
    follower = next(n for n in nodes if not n.is_leader)
    follower.stop()
    assert follower.partitions() == [] and seen[follower.id] == set()
    rest = [n for n in nodes if n is not follower]
    deadline = time.monotonic() + 20
    while sorted(p for n in rest for p in n.partitions()) != list(range(12)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for n in rest:
        n.stop()
    print("THREADED-OK", spins)
    """
)

GEVENT = "from gevent import monkey; monkey.patch_all()\nimport gevent\n" + COMMON.replace("MODE", '"auto"') + textwrap.dedent(
    """
    nodes = [make(i) for i in range(3)]
    assert all(n.mode == "gevent" for n in nodes)
    for n in nodes:
        n.start()
    deadline = time.monotonic() + 20
    while not settled(nodes):
        assert time.monotonic() < deadline, [(n.role, n.leader, n.partitions()) for n in nodes]
        gevent.sleep(0.02)
    deadline = time.monotonic() + 5
    while not events_caught_up(nodes):
        assert time.monotonic() < deadline, [(n.id, n.partitions(), seen[n.id]) for n in nodes]
        gevent.sleep(0.01)
    check(nodes)
    leader = next(n for n in nodes if n.is_leader)
    old_epoch = leader.epoch
    leader.stop()
    rest = [n for n in nodes if n is not leader]
    deadline = time.monotonic() + 20
    while not (settled(rest) and rest[0].epoch > old_epoch):
        assert time.monotonic() < deadline, [(n.role, n.leader, n.partitions()) for n in rest]
        gevent.sleep(0.02)
    for n in rest:
        n.stop()
    print("GEVENT-OK")
    """
)


@pytest.mark.parametrize("name, script, marker", [("threaded", THREADED, "THREADED-OK"), ("gevent", GEVENT, "GEVENT-OK")])
def test_node_api_in_one_process(name, script, marker):
    ports = [str(p) for p in free_ports(3)]
    proc = subprocess.run([sys.executable, "-c", script, *ports], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and marker in proc.stdout, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
