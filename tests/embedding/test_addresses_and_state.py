"""Seeds given as host names (as ring-election users write them), the environment an embedded
node reads, warnings at start, and the state directory."""

import json
import logging
import os
import time

import pytest

from support import free_ports, wait_for

import ringfast
from ringfast import ConfigError, Node

pytestmark = pytest.mark.cluster


def ring(ports, seeds, **kw):
    return [Node(node_id=f"h{i}", port=p, seeds=seeds, monitoring_port="off", num_partitions=6,
                 heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **kw) for i, p in enumerate(ports)]


def settled(nodes):
    return sum(n.is_leader for n in nodes) == 1 and sorted(p for n in nodes for p in n.partitions()) == list(range(6))


def test_host_name_seeds_stay_names_and_match_the_nodes_addresses():
    ports = free_ports(3)
    seeds = tuple(f"localhost:{p}" for p in ports)
    nodes = ring(ports, ",".join(seeds))
    try:
        for n in nodes:
            n.start()
        assert [n.config.priority for n in nodes] == [0, 1, 2]  # their places in the seed list
        assert all(n.config.seeds == seeds for n in nodes)  # voters are names, looked up per connect
        assert [n.address for n in nodes] == list(seeds)  # each found its own entry
        wait_for(lambda: settled(nodes), what="a ring from host-name seeds")
        # Every node knows its own place, and the leader describes each with it. (Which one
        # leads is not asserted: the best placed usually asks first, but a loaded machine
        # may let another win; both are correct.)
        leader = next(n for n in nodes if n.is_leader)
        wait_for(lambda: len(leader.ring()) == 3, what="the leader's description of all three")
        assert {m["id"]: m["priority"] for m in leader.ring()} == {n.id: n.config.priority for n in nodes}
    finally:
        for n in nodes:
            n.stop(timeout=3)


def test_a_wildcard_host_is_refused_with_its_value():
    with pytest.raises(ConfigError, match="HOST='0.0.0.0'"):
        Node(host="0.0.0.0", monitoring_port="off", mode="thread").start()


def test_a_seed_name_that_does_not_resolve_is_retried_counted_and_said_once(caplog):
    ports = free_ports(2)
    missing = "not-yet.invalid:7001"  # .invalid never resolves (RFC 2606)
    seeds = f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]},{missing}"
    nodes = [Node(node_id=f"u{i}", port=p, seeds=seeds, monitoring_port="off", num_partitions=6,
                  heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread") for i, p in enumerate(ports)]
    with caplog.at_level(logging.WARNING, logger="ringfast"):
        try:
            for n in nodes:
                n.start()  # not fatal
            wait_for(lambda: settled(nodes), what="two of three voters to form a ring")

            def failures(n):
                return n.metrics.unresolved.labels(peer=missing).value

            wait_for(lambda: all(failures(n) >= 3 for n in nodes), what="several failed lookups on each node")
        finally:
            for n in nodes:
                n.stop(timeout=3)
    said = [r for r in caplog.records if "cannot resolve 'not-yet.invalid'" in r.getMessage()]
    assert len(said) == 2 and all(r.levelno == logging.WARNING for r in said)  # once per node, not per attempt


def test_a_node_not_among_the_seeds_says_it_will_not_vote_once(caplog):
    ports = free_ports(2)
    node = Node(port=ports[0], seeds=f"127.0.0.1:{ports[1]}", monitoring_port="off", mode="thread",
                heartbeat_interval_ms=50, failure_timeout_ms=400)
    with caplog.at_level(logging.WARNING, logger="ringfast"):
        node.start()
        node.stop(timeout=3)
    said = [r for r in caplog.records if "is not among the seed nodes" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert f"127.0.0.1:{ports[0]}" in said[0].getMessage() and "it will not vote" in said[0].getMessage()


def test_an_embedded_node_leaves_the_platforms_port_alone(monkeypatch):
    ports = free_ports(2)
    for name, value in {"PORT": str(ports[0]), "NODE_ID": "web", "HOST": "127.0.0.9", "MONITORING_PORT": str(ports[1]),
                        "SEED_NODES": "10.1.1.1:1"}.items():
        monkeypatch.setenv(name, value)
    node = Node(mode="thread", heartbeat_interval_ms=50, failure_timeout_ms=400).start()
    try:
        assert node.config.port != ports[0] and node.id != "web" and node.config.host == "127.0.0.1"
        assert node.monitoring_address is None and node.config.seeds == ()  # monitoring only when asked for
        wait_for(lambda: node.is_leader, what="a one-node ring")
    finally:
        node.stop(timeout=3)
    monkeypatch.setenv("RINGFAST_PORT", str(ports[0]))
    monkeypatch.setenv("RINGFAST_MONITORING_PORT", str(ports[1]))
    node = Node(mode="thread", heartbeat_interval_ms=50, failure_timeout_ms=400).start()
    try:
        assert node.config.port == ports[0] and node.monitoring_address == ("127.0.0.1", ports[1])
    finally:
        node.stop(timeout=3)


def test_node_from_env_reads_ring_election_names_and_warns_about_ignored_ones(monkeypatch, caplog):
    port, mport = free_ports(2)
    for name, value in {"PORT": str(port), "NODE_ID": "re-1", "HOST": "127.0.0.1", "MONITORING_PORT": str(mport),
                        "HEART_BEAT_FREQUENCY": "50", "HEART_BEAT_CHECK_FREQUENCY": "400", "LEADER_MODE": "1"}.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger="ringfast"):
        node = ringfast.Node.from_env(mode="thread").start()
        try:
            assert (node.config.port, node.id, node.monitoring_address) == (port, "re-1", ("127.0.0.1", mport))
        finally:
            node.stop(timeout=3)
    said = [r for r in caplog.records if "LEADER_MODE='1' is ignored" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_every_node_keeps_the_highest_epoch_in_its_state_dir(tmp_path):
    ports = free_ports(3)
    nodes = [Node(node_id=f"s{i}", port=p, seeds=",".join(f"127.0.0.1:{q}" for q in ports), monitoring_port="off",
                  num_partitions=6, heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread",
                  state_dir=str(tmp_path / f"s{i}")) for i, p in enumerate(ports)]
    try:
        for n in nodes:
            n.start()
        wait_for(lambda: settled(nodes), what="a settled ring")
        epoch = nodes[0].epoch
        for i in range(3):
            with open(tmp_path / f"s{i}" / "ringfast-state.json") as f:
                assert json.load(f)["epoch"] >= epoch  # followers too, not only voters
    finally:
        for n in nodes:
            n.stop(timeout=3)
    # a node restarted with its state dir never starts below what it saw
    state = tmp_path / "s0" / "ringfast-state.json"
    high = int(time.time()) + 50_000  # ahead of the wall clock (many elections), within what it allows
    with open(state, "w") as f:
        json.dump({"epoch": high, "voted": None}, f)
    again = Node(node_id="s0", port=ports[0], seeds=f"127.0.0.1:{ports[0]}", monitoring_port="off",
                 heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", state_dir=str(tmp_path / "s0"))
    again.start()
    try:
        wait_for(lambda: again.is_leader, what="a one-node ring")
        assert again.epoch > high
    finally:
        again.stop(timeout=3)
    assert os.path.exists(state)


def test_a_state_file_with_an_epoch_beyond_what_the_clock_allows_is_refused(tmp_path):
    (tmp_path / "ringfast-state.json").write_text(json.dumps({"epoch": 2**33, "voted": None}))
    node = Node(node_id="s0", port=free_ports(1)[0], monitoring_port="off", mode="thread", state_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"holds epoch 8589934592, above the highest this clock allows"):
        node.start()


def test_a_node_without_a_state_dir_says_what_it_risks(caplog):
    node = Node(port=free_ports(1)[0], monitoring_port="off", mode="thread")
    with caplog.at_level(logging.WARNING, logger="ringfast"):
        node.start()
        try:
            warned = [r for r in caplog.records if "no state dir" in r.getMessage()]
            assert len(warned) == 1 and "go backwards" in warned[0].getMessage()
        finally:
            node.stop(timeout=3)


def test_a_node_with_an_unsafe_quorum_says_so_when_it_starts(caplog):
    ports = free_ports(3)
    node = Node(port=ports[0], seeds=",".join(f"127.0.0.1:{p}" for p in ports), quorum=1,
                monitoring_port="off", mode="thread")
    with caplog.at_level(logging.WARNING, logger="ringfast"):
        node.start()
        try:
            warned = [r for r in caplog.records if "RINGFAST_QUORUM=1" in r.getMessage()]
            assert len(warned) == 1 and warned[0].levelno == logging.WARNING
            assert "of the 3 seed nodes" in warned[0].getMessage()
        finally:
            node.stop(timeout=3)
