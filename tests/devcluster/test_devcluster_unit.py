"""The pieces of `ringfast dev-cluster` / `ringfast status` that need no process: formatting,
URL handling, the keyboard scheme, argument checks."""

from __future__ import annotations

import argparse
import io

import pytest

from ringfast import cli
from ringfast.devcluster import DevCluster, DevNode, format_ranges, format_status
from ringfast.devcluster.status import _status_url
from ringfast.errors import ConfigError


def test_format_ranges():
    assert format_ranges([]) == "-"
    assert format_ranges([3]) == "3"
    assert format_ranges([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
    assert format_ranges({5, 4, 4, 6}) == "4-6"


@pytest.mark.parametrize("given, url", [
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000/status"),
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/status"),
    ("http://127.0.0.1:9000/status", "http://127.0.0.1:9000/status"),
    ("127.0.0.1:7101", "http://127.0.0.1:7101/status"),
    ("7101", "http://127.0.0.1:7101/status"),
    ("http://proxy.example/ringfast/", "http://proxy.example/ringfast/status"),
])
def test_status_url(given, url):
    assert _status_url(given) == url


def test_status_url_refuses_other_schemes():
    with pytest.raises(ConfigError):
        _status_url("ftp://x:1")


def test_format_status_table():
    doc = {
        "node": {"id": "n1", "address": "127.0.0.1:7000", "priority": 0, "role": "follower"},
        "leader": "n2", "epoch": 17, "num_partitions": 6,
        "members": [
            {"id": "n2", "address": "127.0.0.1:7001", "priority": 1, "role": "leader", "partitions": []},
            {"id": "n1", "address": "127.0.0.1:7000", "priority": 0, "role": "follower", "partitions": [0, 1, 2]},
            {"id": "n3", "address": "127.0.0.1:7002", "priority": 2, "role": "follower", "partitions": [3, 4]},
        ],
    }
    text = format_status(doc, "http://x/status")
    assert "leader: n2" in text and "epoch: 17" in text and "not owned: 5" in text
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("ID"))
    assert lines[header].split() == ["ID", "ADDRESS", "PRIORITY", "ROLE", "PARTITIONS"]
    rows = lines[header + 1: header + 4]
    assert rows[0].split()[:4] == ["n2", "127.0.0.1:7001", "1", "leader"]
    assert rows[1].split()[:5] == ["n1", "*", "127.0.0.1:7000", "0", "follower"] and "0-2 (3)" in rows[1]
    assert "3-4 (2)" in rows[2]


def _args(**kw):
    base = dict(nodes=3, partitions=10, base_port=7000, heartbeat_ms=1000, check_ms=3000, dir=None,
                stop_timeout=10.0, duration=None, once=False, json=False, action=None, node=None,
                backend="builtin", engine=None)
    base.update(kw)
    return argparse.Namespace(**base)


class _Recorder(DevCluster):
    """A DevCluster without processes: records the actions the keys ask for."""

    def __init__(self, n=3):
        super().__init__(_args(nodes=n), out=io.StringIO())
        self.nodes = [DevNode(index=i, port=7000 + i, monitoring_port=7100 + i, journal="", log="")
                      for i in range(1, n + 1)]
        self.done = []

    def do(self, action, name):
        self.done.append((action, name))
        return True, f"{action} {name}"


def test_keys_one_digit_nodes():
    dc = _Recorder(3)
    for ch in "k2p3p3r1s2x":
        dc.on_key(ch)
    assert dc.done == [("kill", "2"), ("toggle", "3"), ("toggle", "3"), ("restart", "1"), ("stop", "2")]
    assert "press k, p, r or s" in dc._message  # x is not a key
    dc.on_key("q")
    assert dc.quit


def test_keys_as_the_readme_writes_them_with_a_space():
    dc = _Recorder(3)
    for ch in "k 2p 3":
        dc.on_key(ch)
    assert dc.done == [("kill", "2"), ("toggle", "3")]
    dc = _Recorder(12)
    for ch in "k  1 r 12":
        dc.on_key(ch)
    assert dc.done == [("kill", "1"), ("restart", "12")]  # a space after the number ends it, as Enter


def test_keys_escape_cancels_and_enter_ends_a_number():
    dc = _Recorder(12)
    dc.on_key("k")
    dc.on_key("\x1b")
    assert dc.done == [] and dc._pending is None
    for ch in "k1":
        dc.on_key(ch)
    assert dc.done == []  # 1 could go on: 10, 11, 12
    dc.on_key("\r")
    assert dc.done == [("kill", "1")]
    for ch in "s12":
        dc.on_key(ch)
    assert dc.done[-1] == ("stop", "12")  # 12*10 > 12: complete without Enter


def test_p_e_pauses_the_engine_and_is_not_a_node_number():
    dc = _Recorder(12)
    for ch in "p e":
        dc.on_key(ch)
    assert dc.done == [("toggle", "engine")]
    for ch in "pe":
        dc.on_key(ch)
    assert dc.done[-1] == ("toggle", "engine") and dc._pending is None


def test_engine_actions_without_a_local_engine_are_refused():
    dc = DevCluster(_args(), out=io.StringIO())
    ok, text = dc.do("toggle", "engine")
    assert not ok and "no local engine" in text


def test_view_names_the_backend_and_hides_cluster_ports_with_an_engine():
    dc = _Recorder(3)
    dc.dir = "/tmp/x"
    text = "\n".join(dc.view(width=200, height=50))
    assert "backend builtin" in text
    assert "7001" in next(line for line in text.splitlines() if line.startswith("n1 "))
    dc.args.backend, dc.engine_endpoints = "etcd", "http://127.0.0.1:2379"
    text = "\n".join(dc.view(width=200, height=50))
    assert "backend etcd: http://127.0.0.1:2379 (not started by the dev-cluster)" in text
    row = next(line for line in text.splitlines() if line.startswith("n1 "))
    assert "7001" not in row and " - " in row and "7101" in row


def test_view_shows_nodes_ring_and_owners():
    dc = _Recorder(3)
    dc.dir = "/tmp/x"
    dc.nodes[0].state, dc.nodes[0].role, dc.nodes[0].epoch = "running", "leader", 5
    dc.nodes[1].state, dc.nodes[1].role, dc.nodes[1].partitions = "running", "follower", set(range(5))
    dc.nodes[2].state, dc.nodes[2].role, dc.nodes[2].partitions = "paused", "follower", set(range(5, 10))
    text = "\n".join(dc.view(width=200, height=50))
    assert "leader n1, epoch 5" in text
    assert "not owned: 5-9" in text  # held only by a paused node
    assert "0:n2" in text and "7:n3*" in text
    assert not dc.complete()
    dc.nodes[2].state = "running"
    assert dc.complete()


def test_help_documents_the_control_socket(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["dev-cluster", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "dev-cluster-<base-port>.sock" in out and "k N" in out and "ringfast dev-cluster kill n2" in out


@pytest.mark.parametrize("argv, fragment", [
    (["dev-cluster", "--nodes", "0"], "--nodes=0"),
    (["dev-cluster", "--partitions", "0"], "--partitions=0"),
    (["dev-cluster", "--base-port", "65500"], "--base-port=65500"),
    (["dev-cluster", "kill"], "which node"),
])
def test_bad_arguments_exit_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_a_dir_used_with_other_nodes_forgets_the_old_voter_set(tmp_path):
    # n1 ran in a 3-node dev-cluster in this --dir; now 5 nodes: adding two voters at once
    # would be refused at start (a second quorum is possible), but no node of the old ring
    # can run (this dev-cluster starts them all), so the dev-cluster drops what it remembers.
    import json

    from ringfast.disk import StateFile

    old = [f"127.0.0.1:{7000 + i}" for i in range(3)]
    StateFile(str(tmp_path / "n1.state"), voters=old, quorum=2).save(1700, [1700, "n2"])
    cluster = DevCluster(_args(nodes=5, dir=str(tmp_path)), out=io.StringIO())
    cluster.setup_dir()
    record = json.loads((tmp_path / "n1.state" / "ringfast-state.json").read_text())
    assert record == {"epoch": 1700, "voted": [1700, "n2"]}  # the epoch stays: tokens keep growing
    new = [f"127.0.0.1:{7000 + i}" for i in range(5)]
    assert StateFile(str(tmp_path / "n1.state"), voters=new, quorum=3).check() == 1700
