"""A live node shrugs off bad input: every rejection reason closes that connection, is
counted, and changes nothing the node holds; 10,000 random frames change nothing either."""

import json
import random
import socket
import struct

import pytest

from support import free_ports, rejected, wait_for

from ringfast import Node, protocol

pytestmark = pytest.mark.cluster

HB = {"from": "intruder", "epoch": 1, "cfg": "10/2/abc", "addr": "127.0.0.1:1", "priority": 0, "inc": 1, "seq": 1, "acked": 0,
      "holdings": [], "seen": 0, "mv": 0}








def frame(kind=5, version=protocol.VERSION, cluster=b"ringfast", body=None, magic=b"RF"):
    payload = body if isinstance(body, bytes) else json.dumps(HB if body is None else body).encode()
    rest = magic + bytes([version, kind, len(cluster)]) + cluster + payload
    return struct.pack(">I", len(rest)) + rest


def closed_by_peer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def ring3():
    ports = free_ports(6)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    nodes = [Node(node_id=f"z{i}", port=ports[i], seeds=seeds, monitoring_port=ports[3 + i], num_partitions=8,
                  heartbeat_interval_ms=50, failure_timeout_ms=600, mode="thread") for i in range(3)]
    for n in nodes:
        n.start()
    try:
        wait_for(lambda: sum(n.is_leader for n in nodes) == 1 and sorted(p for n in nodes for p in n.partitions()) == list(range(8)),
                 what="a settled ring")
        yield nodes, ports
    finally:
        for n in nodes:
            n.stop(timeout=3)


def state(nodes):
    return [(n.role, n.leader, n.epoch, tuple(n.partitions())) for n in nodes]


@pytest.mark.parametrize("reason, data", [
    ("oversized", struct.pack(">I", 1 << 30)),
    ("truncated", struct.pack(">I", 2) + b"RF"),
    ("bad_magic", frame(magic=b"XX")),
    ("version", frame(version=9)),
    ("cluster", frame(cluster=b"someone-else")),
    ("type", frame(kind=99)),
    ("malformed", frame(body=b"{nope")),
    ("field", frame(body={**HB, "holdings": [[-5, 1]]})),
])
def test_each_rejection_closes_counts_and_changes_nothing(ring3, reason, data):
    nodes, ports = ring3
    target = next(i for i, n in enumerate(nodes) if not n.is_leader)
    before = state(nodes)
    count = rejected(ports[3 + target], reason)
    with socket.create_connection(("127.0.0.1", ports[target]), timeout=2) as s:
        s.sendall(data)
        assert closed_by_peer(s)
    wait_for(lambda: rejected(ports[3 + target], reason) == count + 1, what=f"{reason} to be counted")
    assert state(nodes) == before


def test_a_connection_that_never_speaks_is_dropped(ring3):
    nodes, ports = ring3
    count = rejected(ports[3], "idle")
    with socket.create_connection(("127.0.0.1", ports[0]), timeout=2) as s:
        assert closed_by_peer(s, timeout=5)
    assert rejected(ports[3], "idle") == count + 1


def test_ten_thousand_random_frames_change_nothing(ring3):
    nodes, ports = ring3
    rnd = random.Random(1234)
    target = next(i for i, n in enumerate(nodes) if not n.is_leader)
    before = state(nodes)
    sent = 0
    while sent < 10_000:
        with socket.create_connection(("127.0.0.1", ports[target]), timeout=2) as s:
            for _ in range(500):  # random frames, valid framing, random headers and bodies
                junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40)))
                head = rnd.choice([b"RF" + bytes([protocol.VERSION, rnd.randint(0, 12), 8]) + b"ringfast", b"", junk[:8]])
                rest = head + junk
                try:
                    s.sendall(struct.pack(">I", len(rest)) + rest)
                except OSError:
                    break  # the node closed it at the first bad frame, as it should
                sent += 1
    assert state(nodes) == before
    assert nodes[target].leader is not None and nodes[target].partitions()
