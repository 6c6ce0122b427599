"""An outbound connection follows its peer's name: when the name points elsewhere (the pod or
VM behind it moved), the connection to the old address is closed and the next one goes to the
new address; and a connection to an address that vanished fails within the failure timeout
instead of queueing for minutes (TCP_USER_TIMEOUT). Name lookups are replaced by a table here
(the machine's /etc/hosts is shared); tests/multihost does it with real hosts files."""

import socket

import pytest

from support import free_ports, wait_for

import ringfast.connections
import ringfast.transport
from ringfast import Node

pytestmark = pytest.mark.cluster


@pytest.fixture
def names(monkeypatch):
    table = {}
    real = ringfast.transport.resolve

    def resolve(host, port):
        if host in table:
            return [table[host]]
        return real(host, port)

    monkeypatch.setattr(ringfast.transport, "resolve", resolve)
    monkeypatch.setattr(ringfast.connections, "resolve", resolve)
    return table


def test_a_connection_follows_its_peers_name_to_a_new_address(names):
    pa, pb = free_ports(2)
    names["a.test"] = "127.0.0.1"
    # a listens on every loopback address, so it is there at 127.0.0.1 and at 127.0.0.2
    a = Node(node_id="a", host="0.0.0.0", advertise="a.test", port=pa, seeds=f"a.test:{pa}", monitoring_port="off",
             heartbeat_interval_ms=50, failure_timeout_ms=400, reconnect_time_ms=200, num_partitions=4, mode="thread")
    b = Node(node_id="b", host="127.0.0.1", port=pb, seeds=f"a.test:{pa}", monitoring_port="off",
             heartbeat_interval_ms=50, failure_timeout_ms=400, reconnect_time_ms=200, num_partitions=4, mode="thread")
    try:
        a.start()
        b.start()
        wait_for(lambda: a.is_leader and b.partitions() == [0, 1, 2, 3], what="b to follow a")
        peer = b._conns.peers[f"a.test:{pa}"]
        assert peer.conn.remote_ip == "127.0.0.1"
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            assert peer.conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 400
        names["a.test"] = "127.0.0.2"  # the record changes
        wait_for(lambda: peer.conn is not None and peer.conn.remote_ip == "127.0.0.2", 10,
                 what="b's connection to move to a's new address")
        wait_for(lambda: b.leader == "a" and b.partitions() == [0, 1, 2, 3], what="b to keep following a")
    finally:
        b.stop(timeout=3)
        a.stop(timeout=3)
