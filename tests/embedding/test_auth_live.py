"""A cluster with a shared secret: the right secret joins; no secret or a wrong one never
joins nor learns the members; a replayed frame is refused."""

import socket
import struct

import pytest
from support import free_ports, rejected, wait_for

from ringfast import Node, protocol

pytestmark = pytest.mark.cluster




@pytest.fixture
def secured(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"correct horse battery staple 42\n")
    secret.chmod(0o600)
    ports = free_ports(8)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    nodes = [Node(node_id=f"a{i}", port=ports[i], seeds=seeds, monitoring_port=ports[4 + i], num_partitions=6,
                  heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", secret_file=str(secret)) for i in range(3)]
    for n in nodes:
        n.start()
    try:
        wait_for(lambda: sum(n.is_leader for n in nodes) == 1
                 and sorted(p for n in nodes for p in n.partitions()) == list(range(6)), what="a secured ring")
        yield nodes, ports, seeds, tmp_path
    finally:
        for n in nodes:
            n.stop(timeout=3)


@pytest.mark.parametrize("secret", [None, b"the wrong secret, long enough\n"])
def test_a_node_without_the_secret_never_joins(secured, secret):
    nodes, ports, seeds, tmp_path = secured
    leader = next(n for n in nodes if n.is_leader)
    lport = ports[4 + nodes.index(leader)]
    before = rejected(lport, "unauthenticated")
    kw = {}
    if secret is not None:
        (tmp_path / "wrong").write_bytes(secret)
        (tmp_path / "wrong").chmod(0o600)
        kw["secret_file"] = str(tmp_path / "wrong")
    stranger = Node(node_id="stranger", port=ports[3], seeds=seeds, monitoring_port="off", num_partitions=6,
                    heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **kw)
    stranger.start()
    try:
        wait_for(lambda: rejected(lport, "unauthenticated") > before, what="the stranger to be refused")
        assert not stranger.wait_until_ready(1.0)
        assert stranger.leader is None and stranger.ring() == [] and stranger.partitions() == []
        assert "stranger" not in [m["id"] for m in leader.ring()]
    finally:
        stranger.stop(timeout=2)


def test_a_replayed_frame_is_refused(secured):
    nodes, ports, seeds, tmp_path = secured
    target = next(i for i, n in enumerate(nodes) if not n.is_leader)
    before = rejected(ports[4 + target], "unauthenticated")
    auth = protocol.Auth(b"correct horse battery staple 42", initiator=True)
    with socket.create_connection(("127.0.0.1", ports[target]), timeout=3) as s:
        hello = {"from": "tester", "epoch": 0, **auth.hello()}
        s.sendall(protocol.encode("auth_hello", hello, "ringfast"))
        (length,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
        kind, challenge = protocol.decode_payload(s.recv(length, socket.MSG_WAITALL), b"ringfast")
        assert kind == "auth_challenge"
        proof = auth.on_challenge(challenge)
        s.sendall(protocol.encode("auth_proof", {"from": "tester", "epoch": 0, **proof}, "ringfast"))
        frame = protocol.encode("hello", {"from": "tester", "epoch": 0, "cfg": "10/2/abc", "addr": "127.0.0.1:1", "priority": 9, "inc": 1, "wall": 1, "voters": []},
                                "ringfast", auth)
        s.sendall(frame)  # accepted: authenticated and fresh, so it is answered (leader_is)
        (length,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
        assert len(s.recv(length, socket.MSG_WAITALL)) == length
        s.sendall(frame)  # the same bytes again: a replay
        s.settimeout(3)
        try:
            assert s.recv(4096) == b""  # closed
        except ConnectionResetError:
            pass
    wait_for(lambda: rejected(ports[4 + target], "unauthenticated") == before + 1, what="the replay to be counted")
