"""docs/migrating-from-ring-election.md says what the code does: the warnings it quotes are the
ones a node prints, the defaults in its table are Config's, and a ring-election client is
refused as it says."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from support import free_ports, wait_for

from ringfast import Node
from ringfast.config import IGNORED_RING_ELECTION, Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-ring-election.md"


def test_the_quoted_warnings_are_the_ones_printed():
    quoted = re.search(r"^```text\n(.*?)^```", DOC.read_text(), re.S | re.M).group(1).strip().splitlines()
    env = {"NODE_ID": "node-a", "LEADER_MODE": "1", "TIME_TO_BECOME_SEED": "1000", "MAX_INACTIVE_TIME": "10000"}
    cfg = Config.from_env(env)
    assert quoted == [f"node {cfg.node_id}: {w}" for w in cfg.ignored_variables()]  # node.py's format
    assert len(quoted) == len(IGNORED_RING_ELECTION)


def test_the_table_defaults_are_configs():
    text = DOC.read_text()
    cli, embedded = Config.from_env({}), Config.load({})
    assert cli.port == 0 and "| `PORT` | 3000 | any free port |" in text
    assert cli.monitoring_port == 9000 and embedded.monitoring_port is None
    assert "| `MONITORING_PORT` | 9000 | 9000 (`ringfast node`), off for `Node(...)` |" in text
    assert (cli.num_partitions, cli.heartbeat_interval, cli.failure_timeout, cli.reconnect_time) == (10, 1.0, 3.0, 3.0)
    for level in ("verbose", "silly", "http"):
        try:
            Config.from_env({"LOG_LEVEL": level})
        except ValueError as e:
            assert f"LOG_LEVEL='{level}'" in str(e)
        else:
            raise AssertionError(f"LOG_LEVEL={level} was accepted")


def test_a_ring_election_client_is_refused_and_counted():
    port, mport = free_ports(2)
    node = Node(port=port, monitoring_port=mport, mode="thread", heartbeat_interval_ms=50, failure_timeout_ms=400).start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b'{"type":"hello","id":"follower-1","priority":1}\n')  # ring-election writes JSON
            s.settimeout(2)
            assert s.recv(100) == b""  # closed
        from ringfast.metrics import REJECT_REASONS
        from support import rejected

        # its JSON read as a frame header: a length far over the limit ("oversized")
        wait_for(lambda: sum(rejected(mport, r) for r in REJECT_REASONS) == 1, what="the refusal to be counted")
        assert node.ring() == [] or all(m["id"] != "follower-1" for m in node.ring())
    finally:
        node.stop(timeout=3)
