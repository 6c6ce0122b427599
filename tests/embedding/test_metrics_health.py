"""/metrics and /health on live in-process nodes (thread mode): values follow the ring."""

import json
import socket
import struct
import urllib.error
import urllib.request

import pytest

from support import free_ports, wait_for

from ringfast import Node

pytestmark = pytest.mark.cluster




def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{labels} not in metrics")




@pytest.fixture
def ring3():
    ports = free_ports(6)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    nodes = [Node(node_id=f"m{i}", port=ports[i], seeds=seeds, monitoring_port=ports[3 + i], num_partitions=9,
                  heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread") for i in range(3)]
    for n in nodes:
        n.start()
    try:
        wait_for(lambda: sorted(p for n in nodes for p in n.partitions()) == list(range(9))
                 and sum(n.is_leader for n in nodes) == 1, what="a settled ring")
        yield nodes, ports[3:]
    finally:
        for n in nodes:
            n.stop(timeout=3)


def test_metrics_follow_the_ring(ring3):
    nodes, mports = ring3
    texts = {n.id: get(mp, "/metrics")[1] for n, mp in zip(nodes, mports)}
    leader = next(n for n in nodes if n.is_leader)
    for n in nodes:
        t = texts[n.id]
        assert metric(t, "ringfast_is_leader") == (1.0 if n is leader else 0.0)
        assert metric(t, "ringfast_epoch") == n.epoch
        assert metric(t, "ringfast_partitions_owned") == len(n.partitions())
        assert metric(t, "ringfast_members") == 3
    lt = texts[leader.id]
    assert metric(lt, "ringfast_partitions_unowned") == 0
    assert metric(lt, "ringfast_partitions_moved_total") >= 9
    assert metric(lt, "ringfast_rebalances_total") >= 1
    follower = next(n for n in nodes if not n.is_leader)
    fport = mports[nodes.index(follower)]
    lport = mports[nodes.index(leader)]
    assert metric(get(fport, "/metrics")[1], "ringfast_heartbeat_rtt_seconds_count") > 0
    before = metric(get(lport, "/metrics")[1], "ringfast_heartbeats_received_total")
    wait_for(lambda: metric(get(lport, "/metrics")[1], "ringfast_heartbeats_received_total") > before + 4,
             what="heartbeats to be counted")
    moved = metric(get(lport, "/metrics")[1], "ringfast_partitions_moved_total")
    follower.stop()
    wait_for(lambda: metric(get(lport, "/metrics")[1], "ringfast_partitions_moved_total") > moved,
             what="the leaver's partitions to be counted as moved")


def test_garbage_on_the_cluster_port_is_counted_and_changes_nothing(ring3):
    nodes, mports = ring3
    victim = next(n for n in nodes if not n.is_leader)
    held = victim.partitions()
    port = mports[nodes.index(victim)]
    host, cport = victim.address.rsplit(":", 1)
    for frame in (b"\x00\x00\x00\x05hello", struct.pack(">I", 1 << 30), b"GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection((host, int(cport)), timeout=2) as s:
            s.sendall(frame)
            s.settimeout(2)
            try:
                assert s.recv(10) == b""  # the node closed the connection
            except ConnectionResetError:
                pass
    text = get(port, "/metrics")[1]
    rejected = sum(metric(text, "ringfast_frames_rejected_total", f'{{reason="{r}"}}') for r in ("bad_magic", "oversized", "truncated"))
    assert rejected == 3
    assert victim.partitions() == held and victim.leader is not None


def test_health_is_ok_in_a_ring_and_503_without_a_leader(ring3):
    nodes, mports = ring3
    for n, mp in zip(nodes, mports):
        status, body = get(mp, "/health")
        assert status == 200 and json.loads(body)["status"] == "ok" and json.loads(body)["epoch"] == n.epoch
    last = next(n for n in nodes if not n.is_leader)
    port = mports[nodes.index(last)]
    for n in nodes:
        if n is not last:
            n.stop(timeout=3)
    status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/health")),
                            what="/health to turn 503 after the quorum is gone")
    assert json.loads(body)["status"] == "unavailable" and json.loads(body)["reason"]
    wait_for(lambda: last.partitions() == [], what="the lone follower's lease to run out")  # a minority holds nothing
