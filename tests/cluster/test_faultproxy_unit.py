"""The fault-injecting proxy (faultproxy.py) on plain loopback sockets: bytes pass both ways,
a one-way cut drops exactly that direction while the connection stays open, heal restores
new data, delay holds bytes back in order, reset closes the connections, and the routes a
node is given point at the right listeners."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from faultproxy import RESET, FaultProxy
from support import stays, wait_for


class Server:
    """A listening 'node': records what each accepted connection receives."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.received = bytearray()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; then the port is free
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def net():
    servers = {"a": Server(), "b": Server()}
    proxy = FaultProxy({name: s.address for name, s in servers.items()})
    clients = []

    def connect(src, dst):
        host, port = proxy.address(src, dst).rsplit(":", 1)
        c = socket.create_connection((host, int(port)), timeout=5)
        clients.append(c)
        wait_for(lambda: servers[dst].conns, 5, what="the proxy to connect upstream")
        return c

    yield proxy, servers, connect
    proxy.close()
    for c in clients:
        c.close()
    for s in servers.values():
        s.close()


def recv_exactly(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_routes_name_every_other_node():
    proxy = FaultProxy({"a": "127.0.0.1:1001", "b": "127.0.0.1:1002", "c": "127.0.0.1:1003"})
    try:
        routes = dict(item.split("=") for item in proxy.routes("a").split(","))
        assert routes == {"127.0.0.1:1002": proxy.address("a", "b"), "127.0.0.1:1003": proxy.address("a", "c")}
        assert len({proxy.address(x, y) for x in "abc" for y in "abc" if x != y}) == 6
    finally:
        proxy.close()


def test_bytes_pass_both_ways(net):
    proxy, servers, connect = net
    c = connect("a", "b")
    c.sendall(b"hello b")
    wait_for(lambda: bytes(servers["b"].received) == b"hello b", 5)
    servers["b"].conns[0].sendall(b"hello a")
    assert recv_exactly(c, 7) == b"hello a"
    assert proxy.passed[("a", "b")] == 7 and proxy.passed[("b", "a")] == 7


def test_cut_one_way_drops_that_direction_only_and_heal_restores_new_data(net):
    proxy, servers, connect = net
    c = connect("a", "b")
    proxy.cut_one_way("a", "b")
    c.sendall(b"lost")
    wait_for(lambda: proxy.dropped[("a", "b")] == 4, 5, what="the bytes to be read and dropped")
    assert servers["b"].received == b""
    servers["b"].conns[0].sendall(b"reply")  # b -> a still passes, on the same connection
    assert recv_exactly(c, 5) == b"reply"
    proxy.heal()
    c.sendall(b"new")
    wait_for(lambda: bytes(servers["b"].received) == b"new", 5, what="heal to restore a -> b")
    assert proxy.connections() == 1  # the connection stayed open throughout


def test_partition_cuts_both_ways_between_sides(net):
    proxy, servers, connect = net
    c = connect("a", "b")
    proxy.partition(["a"], ["b"])
    c.sendall(b"x")
    servers["b"].conns[0].sendall(b"y")
    wait_for(lambda: proxy.dropped[("a", "b")] == 1 and proxy.dropped[("b", "a")] == 1, 5)
    c.settimeout(0.2)
    with pytest.raises(TimeoutError):
        c.recv(1)
    assert servers["b"].received == b""


def test_delay_holds_bytes_back_in_order(net):
    proxy, servers, connect = net
    c = connect("a", "b")
    proxy.delay("a", "b", 300)
    t0 = time.monotonic()
    c.sendall(b"one ")
    c.sendall(b"two")
    stays(lambda: servers["b"].received == b"", 0.15, interval=0.01)
    wait_for(lambda: bytes(servers["b"].received) == b"one two", 5)
    assert time.monotonic() - t0 >= 0.3


def test_reset_closes_existing_and_new_connections(net):
    proxy, servers, connect = net
    c = connect("a", "b")
    proxy.set("a", "b", RESET)
    c.settimeout(5)
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        assert c.recv(1) == b""  # an RST, not an orderly close
    host, port = proxy.address("b", "a").rsplit(":", 1)  # the other way round is reset too
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        with socket.create_connection((host, int(port)), timeout=5) as d:
            d.settimeout(5)
            d.recv(1)
    proxy.heal()
    c2 = connect("a", "b")
    c2.sendall(b"ok")
    wait_for(lambda: bytes(servers["b"].received).endswith(b"ok"), 5)


def test_a_dead_target_refuses(net):
    proxy, servers, connect = net
    servers["b"].close()
    host, port = proxy.address("a", "b").rsplit(":", 1)
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):  # at connect or at the read
        with socket.create_connection((host, int(port)), timeout=5) as d:
            d.settimeout(5)
            d.recv(1)
