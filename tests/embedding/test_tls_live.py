"""Mutual TLS on the cluster port: members hold certificates from the cluster's CA; a node
without TLS, or with a certificate from another CA, never joins."""

import shutil
import subprocess

import pytest
from support import free_ports, rejected, wait_for

from ringfast import ConfigError, Node

pytestmark = pytest.mark.cluster


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d, name):
    """A CA and one certificate it signed, in directory d (files <name>-ca.pem etc.)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem",
            "-days", "1", "-subj", f"/CN={name} test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name} node", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", cwd=d)
    return {"tls_cert": str(d / f"{name}.pem"), "tls_key": str(d / f"{name}.key"), "tls_ca": str(d / f"{name}-ca.pem")}




@pytest.fixture
def tls_ring(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    tls = make_pki(tmp_path, "cluster")
    ports = free_ports(7)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    nodes = [Node(node_id=f"t{i}", port=ports[i], seeds=seeds, monitoring_port=ports[4 + i], num_partitions=6,
                  heartbeat_interval=50, failure_timeout=400, mode="thread", **tls) for i in range(3)]
    for n in nodes:
        n.start()
    try:
        wait_for(lambda: sum(n.is_leader for n in nodes) == 1
                 and sorted(p for n in nodes for p in n.partitions()) == list(range(6)), what="a ring over TLS")
        yield nodes, ports, seeds, tmp_path
    finally:
        for n in nodes:
            n.stop(timeout=3)


@pytest.mark.parametrize("stranger_tls", ["none", "another CA"])
def test_only_holders_of_a_cluster_certificate_join(tls_ring, stranger_tls):
    nodes, ports, seeds, tmp_path = tls_ring
    leader = next(n for n in nodes if n.is_leader)
    lport = ports[4 + nodes.index(leader)]
    before = rejected(lport, "unauthenticated")
    kw = make_pki(tmp_path, "rogue") if stranger_tls == "another CA" else {}
    stranger = Node(node_id="stranger", port=ports[3], seeds=seeds, monitoring_port="off", num_partitions=6,
                    heartbeat_interval=50, failure_timeout=400, mode="thread", **kw)
    stranger.start()
    try:
        wait_for(lambda: rejected(lport, "unauthenticated") > before, what="the stranger's handshake to be refused")
        assert not stranger.wait_until_ready(1.0)
        assert stranger.ring() == [] and "stranger" not in [m["id"] for m in leader.ring()]
    finally:
        stranger.stop(timeout=2)


def test_tls_settings_go_together():
    with pytest.raises(ConfigError, match="go together"):
        Node(tls_cert="/x.pem", monitoring_port="off", mode="thread")
