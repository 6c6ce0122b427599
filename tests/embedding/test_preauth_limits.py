"""Before a peer has proven it knows the secret it gets little: frames no bigger than the
handshake needs, one handshake per connection, a wrong proof of any shape is a counted
rejection, and TLS handshakes in progress count against the cap on waiting connections."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest
from support import free_ports, rejected, wait_for

import ringfast.connections
from ringfast import ConfigError, Node, protocol

pytestmark = pytest.mark.cluster
# Real processes (seconds each): opt-in, run by .ci/hardening.sh after the main test command
heavy = pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1")


def frame(kind, body, cluster=b"ringfast"):
    payload = json.dumps({"from": "intruder", "epoch": 0, **body}).encode()
    rest = b"RF" + bytes([protocol.VERSION, protocol.TYPE_OF[kind], len(cluster)]) + cluster + payload
    return struct.pack(">I", len(rest)) + rest


def read_frame(sock):
    sock.settimeout(5)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = sock.recv(65536)
        assert chunk, "closed before a whole frame"
        data += chunk
    return protocol.decode_payload(data[4:], b"ringfast")


def closed_by_peer(sock, timeout=3.0):
    sock.settimeout(timeout)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def secret_file(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"correct horse battery staple 42\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    port, mport = free_ports(2)
    node = Node(node_id="s0", port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=50,
                failure_timeout_ms=2000, secret_file=secret_file(tmp_path_factory.mktemp("s")))
    node.start()
    try:
        yield port, mport
    finally:
        node.stop(timeout=3)


def test_a_frame_bigger_than_the_handshake_is_refused_before_authentication(secured):
    port, mport = secured
    before = rejected(mport, "oversized")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(struct.pack(">I", protocol.PREAUTH_MAX_FRAME + 1))  # well under the 4 MiB limit
        assert closed_by_peer(s, timeout=1.5)  # at once, not after the idle timeout (2 s)
    wait_for(lambda: rejected(mport, "oversized") == before + 1, what="the oversized frame to be counted")


def test_the_largest_legal_handshake_frame_fits_the_pre_auth_limit():
    ident = "\U0001f600" * protocol.MAX_ID  # escaped by JSON as 12 bytes each
    body = {"from": ident, "epoch": 0, "nonce": "ab" * 16, "proof": "cd" * 32}
    assert len(protocol.encode("auth_challenge", body, "c" * 255)) <= protocol.PREAUTH_MAX_FRAME


def test_a_second_auth_hello_closes_the_connection(secured):
    port, mport = secured
    before = rejected(mport, "unauthenticated")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(frame("auth_hello", {"nonce": "00" * 16}))
        assert read_frame(s)[0] == "auth_challenge"
        s.sendall(frame("auth_hello", {"nonce": "11" * 16}))  # asking to have a second nonce signed
        assert closed_by_peer(s)
    wait_for(lambda: rejected(mport, "unauthenticated") > before, what="the second hello to be counted")


@pytest.mark.parametrize("proof", ["é" * 64, "\U0001f600", "zz" * 32])
def test_a_proof_of_any_shape_is_a_counted_rejection(secured, proof):
    port, mport = secured
    before = rejected(mport, "unauthenticated")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(frame("auth_hello", {"nonce": "00" * 16}))
        assert read_frame(s)[0] == "auth_challenge"
        s.sendall(frame("auth_proof", {"proof": proof}))
        assert closed_by_peer(s)
    wait_for(lambda: rejected(mport, "unauthenticated") > before, what="the wrong proof to be counted")


def test_a_secret_file_others_can_read_is_refused(tmp_path):
    path = secret_file(tmp_path)
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=r"RINGFAST_SECRET_FILE=.*permissions 0640 are too open.*chmod 600"):
        Node(port=free_ports(1)[0], monitoring_port="off", secret_file=path, mode="thread").start()


@heavy
def test_ringfast_node_exits_2_on_a_secret_file_others_can_read(tmp_path):
    path = secret_file(tmp_path)
    os.chmod(path, 0o604)
    cp = subprocess.run([sys.executable, "-m", "ringfast", "node", "--port", str(free_ports(1)[0]),
                         "--monitoring-port", "off", "--secret-file", path], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 2 and "too open" in cp.stderr and "Traceback" not in cp.stderr


@heavy  # making certificates takes a second or two
def test_tls_handshakes_count_against_the_pending_cap(tmp_path, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    from test_tls_live import make_pki

    monkeypatch.setattr(ringfast.connections, "MAX_SILENT", 4)
    port, mport = free_ports(2)
    node = Node(node_id="t0", port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=100,
                failure_timeout_ms=5000, **make_pki(tmp_path, "c", ["t0"])["t0"])
    node.start()
    socks = []
    try:
        before = rejected(mport, "too_many_pending")
        for _ in range(10):  # TCP connected, then silent: each one would sit in its TLS handshake
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        wait_for(lambda: rejected(mport, "too_many_pending") >= before + 6, timeout=4,
                 what="handshakes beyond the cap to be refused")
        assert sum(closed_by_peer(s, timeout=0.2) for s in socks) >= 6
    finally:
        for s in socks:
            s.close()
        node.stop(timeout=3)
