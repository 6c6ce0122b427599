"""Live nodes on a failing disk: a journal that takes no writes (/dev/full, a real ENOSPC
from the kernel) never stops a state change half way, and a state dir that takes no writes
keeps the node from running for leader (counted, no traceback) until it takes them again."""

import logging
import os
import subprocess
import sys

import pytest

from support import free_ports, wait_for

from ringfast import Node
from ringfast.errors import ConfigError
from ringfast.events import PARTITIONS_ASSIGNED

pytestmark = pytest.mark.cluster
# Real processes (seconds each): opt-in, run by .ci/hardening.sh after the main test command
heavy = pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1")
P = 8


def metric(node, name):
    for line in node.metrics.render().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no metric {name}")


def ring(n, **kw):
    ports = free_ports(n)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports)
    return [Node(node_id=f"d{i}", port=p, seeds=seeds, monitoring_port="off", num_partitions=P,
                 heartbeat_interval_ms=50, failure_timeout_ms=400, mode="thread", **kw) for i, p in enumerate(ports)]


def test_partitions_assigned_fires_although_the_journal_line_fails():
    nodes = ring(2, journal="/dev/full")
    got = []
    nodes[1].on(PARTITIONS_ASSIGNED, lambda change: got.extend(change.partitions))
    try:
        for n in nodes:
            n.start()
        wait_for(lambda: nodes[1].partitions() == list(range(P)), what="the follower to hold every partition")
        wait_for(lambda: sorted(got) == list(range(P)), timeout=5, what="PARTITIONS_ASSIGNED for every partition")
        assert metric(nodes[1], "ringfast_journal_write_failures_total") > 0
    finally:
        for n in nodes:
            n.stop(timeout=3)


def test_a_new_leader_with_a_failing_journal_still_gives_up_its_follower_partitions():
    nodes = ring(3, journal="/dev/full")
    try:
        for n in nodes:
            n.start()
        # (which node wins the first election is not fixed: priority orders re-elections)
        wait_for(lambda: sum(n.is_leader for n in nodes) == 1
                 and sorted(p for n in nodes if not n.is_leader for p in n.partitions()) == list(range(P)),
                 what="a settled ring")
        first = next(n for n in nodes if n.is_leader)
        rest = [n for n in nodes if n is not first]
        assert all(n.partitions() for n in rest)  # whichever leads next holds some as a follower...
        first.stop(timeout=3)
        wait_for(lambda: any(n.is_leader for n in rest), what="a new leader")
        new, other = sorted(rest, key=lambda n: not n.is_leader)
        # ...and, leading now, none: they all end up on the other one, never on both
        wait_for(lambda: new.partitions() == [] and other.partitions() == list(range(P)),
                 what=f"{new.id}'s partitions to move to {other.id}")
        assert metric(new, "ringfast_journal_write_failures_total") > 0
    finally:
        for n in nodes:
            n.stop(timeout=3)


def test_a_state_dir_that_stops_taking_writes_keeps_the_node_from_leading(tmp_path, caplog):
    state = tmp_path / "state"
    [node] = ring(1, state_dir=str(state))
    node.start()  # checked writable at start
    try:
        wait_for(lambda: node.is_leader, what="the lone node to lead")
        first = node.epoch
        node.stop(timeout=3)
        (state / "ringfast-state.json.tmp").mkdir()  # from now on no state write can happen
        [node] = [Node(node.config, mode="thread")]
        with caplog.at_level(logging.INFO):
            node.start()
            wait_for(lambda: metric(node, "ringfast_state_write_failures_total") >= 2, timeout=5,
                     what="failed attempts to record a candidacy")
            assert not node.is_leader
            assert not any(r.exc_info for r in caplog.records), "a traceback instead of a refusal"
            assert len([r for r in caplog.records if r.name == "ringfast.disk" and r.levelno == logging.ERROR]) == 1
            (state / "ringfast-state.json.tmp").rmdir()  # the disk is fixed: it leads again
            wait_for(lambda: node.is_leader, what="a leader once the state dir takes writes")
        assert node.epoch > first
    finally:
        node.stop(timeout=3)


def test_unwritable_state_dir_or_journal_refused_at_start(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="RINGFAST_STATE_DIR"):
        Node(port=free_ports(1)[0], monitoring_port="off", state_dir=str(tmp_path / "file"), mode="thread").start()
    with pytest.raises(ConfigError, match="RINGFAST_JOURNAL"):
        Node(port=free_ports(1)[0], monitoring_port="off", journal=str(tmp_path / "no" / "j"), mode="thread").start()


def test_a_node_refuses_to_start_with_a_voter_set_its_state_dir_does_not_allow(tmp_path):
    ports = free_ports(5)
    old = [f"127.0.0.1:{p}" for p in ports[:3]]
    node = Node(node_id="n1", port=ports[0], seeds=",".join(old), monitoring_port="off",
                state_dir=str(tmp_path), mode="thread").start()
    node.stop()  # it recorded its epoch and its voter set
    botched = [old[0], f"127.0.0.1:{ports[3]}", f"127.0.0.1:{ports[4]}"]  # two voters swapped at once
    with pytest.raises(ConfigError, match=r"SEED_NODES changed .*removed .*added .*RINGFAST_STATE_DIR"):
        Node(node_id="n1", port=ports[0], seeds=",".join(botched), monitoring_port="off",
             state_dir=str(tmp_path), mode="thread").start()
    one_step = old + [f"127.0.0.1:{ports[3]}"]
    Node(node_id="n1", port=ports[0], seeds=",".join(one_step), monitoring_port="off",
         state_dir=str(tmp_path), mode="thread").start().stop()


@pytest.mark.parametrize("flag, setting", [("--state-dir", "RINGFAST_STATE_DIR"),
                                           pytest.param("--journal", "RINGFAST_JOURNAL", marks=heavy)])
def test_ringfast_node_exits_2_naming_the_setting(tmp_path, flag, setting):
    (tmp_path / "file").write_text("x")
    path = str(tmp_path / "file") if flag == "--state-dir" else str(tmp_path / "no" / "j")
    cp = subprocess.run([sys.executable, "-m", "ringfast", "node", "--port", str(free_ports(1)[0]),
                         "--monitoring-port", "off", flag, path], capture_output=True, text=True, timeout=60,
                        env={**os.environ, "LOG_LEVEL": "error"})
    assert cp.returncode == 2, cp.stderr
    assert setting in cp.stderr and "Traceback" not in cp.stderr
