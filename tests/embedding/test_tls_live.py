"""Mutual TLS on the cluster port: members hold certificates from the cluster's CA; a node
without TLS, or with a certificate from another CA, never joins."""

import shutil
import subprocess

import pytest
from support import free_ports, refused, rejected, wait_for

from ringfast import ConfigError, Node

pytestmark = pytest.mark.cluster


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d, name, node_ids=("node",)):
    """A CA and a certificate it signed for each node id (its subject alternative name), in
    directory d; returns the settings of each node, by id."""
    if not (d / f"{name}-ca.pem").exists():
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-ca.key", "-out",
                f"{name}-ca.pem", "-days", "1", "-subj", f"/CN={name} test CA", cwd=d)
    out = {}
    for node_id in node_ids:
        stem = f"{name}-{node_id}"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{stem}.key", "-out", f"{stem}.csr",
                "-subj", f"/O={name}", "-addext", f"subjectAltName=DNS:{node_id}", cwd=d)
        openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
                "-CAcreateserial", "-copy_extensions", "copy", "-out", f"{stem}.pem", "-days", "1", cwd=d)
        out[node_id] = {"tls_cert": str(d / f"{stem}.pem"), "tls_key": str(d / f"{stem}.key"),
                        "tls_ca": str(d / f"{name}-ca.pem")}
    return out




@pytest.fixture
def tls_ring(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    tls = make_pki(tmp_path, "cluster", ["t0", "t1", "t2", "impostor"])
    ports = free_ports(7)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    nodes = [Node(node_id=f"t{i}", port=ports[i], seeds=seeds, monitoring_port=ports[4 + i], num_partitions=6,
                  heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **tls[f"t{i}"]) for i in range(3)]
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
    kw = make_pki(tmp_path, "rogue", ["stranger"])["stranger"] if stranger_tls == "another CA" else {}
    stranger = Node(node_id="stranger", port=ports[3], seeds=seeds, monitoring_port="off", num_partitions=6,
                    heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **kw)
    stranger.start()
    try:
        wait_for(lambda: rejected(lport, "unauthenticated") > before, what="the stranger's handshake to be refused")
        assert not stranger.wait_until_ready(1.0)
        assert stranger.ring() == [] and "stranger" not in [m["id"] for m in leader.ring()]
    finally:
        stranger.stop(timeout=2)


def test_a_cluster_certificate_speaks_only_for_the_id_it_names(tls_ring):
    """A certificate of the cluster's CA issued to "impostor" cannot act as member t1."""
    nodes, ports, seeds, tmp_path = tls_ring
    leader = next(n for n in nodes if n.is_leader)
    victim = next(n for n in nodes if not n.is_leader)
    held = victim.partitions()
    lport = ports[4 + nodes.index(leader)]
    before = refused(lport, "tls_identity")
    cert = make_pki(tmp_path, "cluster", ["impostor"])["impostor"]  # issued by the cluster's own CA
    fake = Node(node_id=victim.id, port=ports[3], seeds=seeds, monitoring_port="off", num_partitions=6,
                heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **cert)
    fake.start()
    try:
        wait_for(lambda: refused(lport, "tls_identity") > before, what="the impostor's frames to be refused")
        assert not fake.wait_until_ready(1.0) and fake.partitions() == []
        assert victim.partitions() == held
    finally:
        fake.stop(timeout=2)


def test_tls_settings_go_together():
    with pytest.raises(ConfigError, match="go together"):
        Node(tls_cert="/x.pem", monitoring_port="off", mode="thread")
