"""An id no log line or JSON answer can carry (a lone surrogate, a newline) is refused on
the wire and counted: it never becomes a member, so /status keeps answering on every node."""

import json
import socket
import struct
import urllib.request

import pytest
from support import free_ports, rejected, wait_for

from ringfast import Node, protocol

pytestmark = pytest.mark.cluster


def heartbeat(sender):
    # every field a heartbeat needs, so that the id is the only thing the wire can refuse
    body = {"from": sender, "epoch": 1, "cfg": "10/1/0123456789abcdef", "inc": 1, "addr": "127.0.0.1:1",
            "priority": 0, "seq": 1, "acked": 0, "holdings": [], "seen": 0, "mv": 0}
    rest = b"RF" + bytes([protocol.VERSION, protocol.TYPE_OF["heartbeat"], 8]) + b"ringfast" + json.dumps(body).encode()
    return struct.pack(">I", len(rest)) + rest


@pytest.fixture(scope="module")
def lone():
    port, mport = free_ports(2)
    node = Node(node_id="h0", port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=50,
                failure_timeout_ms=400)
    node.start()
    try:
        yield node, port, mport
    finally:
        node.stop(timeout=3)


def test_the_heartbeat_here_is_whole():
    [(kind, body)] = protocol.Decoder("ringfast", 1 << 16).feed(heartbeat("n9"))
    assert kind == "heartbeat" and body["from"] == "n9"


@pytest.mark.parametrize("sender", ["\udc80evil", "n9\n2026-01-01 INFO forged line"])
def test_an_unloggable_id_never_becomes_a_member(lone, sender):
    node, port, mport = lone
    wait_for(lambda: node.is_leader, what="the lone node to lead")
    before = rejected(mport, "field")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(heartbeat(sender))
        s.settimeout(3)
        while s.recv(65536):  # answered or not, the node closes the connection
            pass
    wait_for(lambda: rejected(mport, "field") == before + 1, what="the frame to be refused and counted")
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/status", timeout=2) as r:
        assert r.status == 200
        assert [m["id"] for m in json.load(r)["members"]] == ["h0"]
