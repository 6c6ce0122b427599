"""The monitoring port is bounded: a Host header check against DNS rebinding, a deadline per
request, a cap on connections (the oldest waiting one makes room); and a node whose
monitoring port is flooded with half-sent requests stays in the ring, even with few file
descriptors, while /health keeps answering."""

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest
from support import free_ports, wait_for

import ringfast.monitoring as monitoring
from ringfast import Node

pytestmark = pytest.mark.cluster
# Real processes (seconds each): opt-in, run by .ci/hardening.sh after the main test command
heavy = pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1")


def get(port, path="/health", host=None, timeout=3.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def refused(port, reason):
    body = get(port, "/metrics")[1].decode()
    for line in body.splitlines():
        if line.startswith(f'ringfast_monitoring_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no monitoring_refused counter for {reason!r}")


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.fixture(scope="module")
def lone():
    with pytest.MonkeyPatch.context() as mp:  # read when the server starts
        mp.setattr(monitoring, "MAX_CONNECTIONS", 8)
        mp.setattr(monitoring, "REQUEST_TIMEOUT", 0.5)
        port, mport = free_ports(2)
        node = Node(node_id="m0", port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=50,
                    failure_timeout_ms=400, monitoring_hosts="ring.example.org")
        node.start()
    try:
        yield node, mport
    finally:
        node.stop(timeout=3)


@pytest.mark.parametrize("host, status", [
    ("evil.example", 403),  # a name the attacker controls, pointed at this machine
    ("evil.example:9000", 403),
    ("localhost", 200),
    ("localhost:9000", 200),
    ("127.0.0.1:9000", 200),
    ("[::1]:9000", 200),
    ("ring.example.org", 200),  # RINGFAST_MONITORING_HOSTS
    ("RING.example.org.:80", 200),
    (socket.gethostname(), 200),
])
def test_host_header_check(lone, host, status):
    node, mport = lone
    got, body = get(mport, "/status", host=host)
    assert got == status, body
    if status == 403:
        assert "RINGFAST_MONITORING_HOSTS" in json.loads(body)["description"]


def test_a_half_sent_request_is_closed_after_the_deadline(lone):
    node, mport = lone
    with socket.create_connection(("127.0.0.1", mport), timeout=2) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")  # never the blank line
        start = time.monotonic()
        assert closed_by_peer(s, timeout=3)
        assert time.monotonic() - start < 2.5
    wait_for(lambda: refused(mport, "timeout") >= 1, timeout=3, what="the timeout to be counted")


def test_an_idle_connection_is_closed_without_counting_a_timeout(lone):
    node, mport = lone
    before = refused(mport, "timeout"), refused(mport, "idle")
    with socket.create_connection(("127.0.0.1", mport), timeout=2) as s:
        assert closed_by_peer(s, timeout=3)
    wait_for(lambda: refused(mport, "idle") == before[1] + 1, timeout=3, what="the idle close to be counted")
    assert refused(mport, "timeout") == before[0]


def test_a_full_server_makes_room_for_a_whole_request(lone):
    node, mport = lone
    socks = [socket.create_connection(("127.0.0.1", mport), timeout=2) for _ in range(20)]
    try:
        for s in socks:
            s.sendall(b"GET /health HTTP/1.1\r\n")
        assert get(mport)[0] == 200  # answered at once, not after the others time out
        # beyond the cap, the longest-waiting ones were closed
        closed = sum(closed_by_peer(s, timeout=0.05) for s in socks)
        assert closed >= 20 - 8
    finally:
        for s in socks:
            s.close()


@heavy
def test_a_flooded_monitoring_port_does_not_take_the_node_out_of_the_ring(tmp_path):
    """Three `ringfast node` processes; b may open only 160 files. With 400 half-sent HTTP
    connections held open on b's monitoring port, b must still make new cluster connections:
    the leader is killed (b votes and may lead), or, if b leads, a follower is killed and
    restarted (b accepts it). Then every partition has an owner, b is in the ring, and b's
    /health answers at once."""
    ports = free_ports(6)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    names = ["a", "b", "c"]

    def start(i):
        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))

        return subprocess.Popen(
            [sys.executable, "-m", "ringfast", "node", "--id", names[i], "--port", str(ports[i]), "--seeds", seeds,
             "--monitoring-port", str(ports[3 + i]), "--heartbeat-ms", "100", "--check-ms", "600",
             "--partitions", "6", "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{names[i]}.log", "a"),
            preexec_fn=low_fd_limit if i == 1 else None)

    def status(i):
        try:
            return json.loads(get(ports[3 + i], "/status", timeout=1)[1])
        except (OSError, ValueError):
            return None

    def settled(i, members):
        s = status(i)
        return (s and s["leader"] == names[i] and {m["id"] for m in s["members"]} == members
                and sorted(p for m in s["members"] for p in m["partitions"]) == list(range(6)))

    procs = [start(i) for i in range(3)]
    flood = []
    try:
        wait_for(lambda: any(settled(i, set(names)) for i in range(3)), timeout=30, what="a settled ring")
        leader = next(i for i in range(3) if settled(i, set(names)))
        for _ in range(400):
            s = socket.create_connection(("127.0.0.1", ports[4]), timeout=2)
            s.sendall(b"GET /status HTTP/1.1\r\nHost: loc")
            flood.append(s)
        victim = leader if leader != 1 else 2
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(10)
        if leader == 1:  # b leads: the restarted c must get in through b's cluster port
            procs[2] = start(2)
            wait_for(lambda: settled(1, set(names)), timeout=20, what="c back in b's ring")
        else:  # b votes (and, best placed, likely leads): new connections both ways
            rest = {"b", "c"} if victim == 0 else {"a", "b"}
            wait_for(lambda: any(settled(i, rest) for i in range(3) if i != victim), timeout=20,
                     what="the survivors to elect a leader and share the partitions")
        start_health = time.monotonic()
        assert get(ports[4], "/health", timeout=3)[0] == 200
        assert time.monotonic() - start_health < 2
    finally:
        for s in flood:
            s.close()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
    assert "Too many open files" not in (tmp_path / "b.log").read_text()


def test_a_monitoring_api_that_cannot_load_closes_its_port_and_the_ring_runs_on(monkeypatch, caplog):
    """The API (Falcon) is imported after the ring starts. If that import fails, the port
    was bound but nothing served it: clients hung in the backlog with no word in the log.
    Now the failure is logged, the port is closed (connections refused) and the node leads."""
    monkeypatch.setitem(sys.modules, "ringfast.monitoring_api", None)  # import_module raises ImportError
    port, mport = free_ports(2)
    node = Node(node_id="m1", port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=50,
                failure_timeout_ms=400)
    with caplog.at_level("ERROR", logger="ringfast.monitoring"):
        node.start()
        try:
            def port_refuses():
                try:
                    socket.create_connection(("127.0.0.1", mport), timeout=0.5).close()
                    return False
                except ConnectionRefusedError:
                    return True

            wait_for(port_refuses, timeout=10, what="the monitoring port to refuse connections")
            assert node.monitoring_address is None
            wait_for(lambda: node.role == "leader", timeout=10, what="the node to lead")
            assert any("could not be loaded" in r.getMessage() and "falcon" in r.getMessage() for r in caplog.records)
        finally:
            node.stop(timeout=3)
