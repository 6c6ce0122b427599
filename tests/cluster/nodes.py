"""One node process, from the outside: how it is run, reached and described.

- `HOST`: loopback (ports come from `free_ports` in tests/support.py).
- `node_command()`, `node_env()`: the command prefix that runs a node and its clean environment.
  RINGFAST_CLUSTER_NODE_CMD overrides the command: a shell-quoted prefix (absolute paths: nodes
  run in the cluster's directory), or the word ``standin`` for tests/cluster/standin_node.py.
- `http_get_json(port, path)`: one GET on the monitoring API.
- `tail(path)`: the last lines of a log.
- `NodeInfo`: one configured node of a `harness.Cluster` and its processes.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

# Environment variables a node reads as configuration. They are removed from the environment
# the harness gives to its nodes, so a developer's shell cannot leak into a test cluster.
NODE_CONFIG_ENV = (
    "NODE_ID",
    "HOST",
    "PORT",
    "SEED_NODES",
    "MONITORING_PORT",
    "MONITORING_HOST",
    "NUM_PARTITIONS",
    "HEART_BEAT_FREQUENCY",
    "HEART_BEAT_CHECK_FREQUENCY",
    "TIME_TO_RECONNECT",
    "PRIORITY",
    "LOG_LEVEL",
)
NODE_CONFIG_ENV_PREFIX = "RINGFAST_"


def tail(path: Path | str, lines: int = 40) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def node_command() -> list[str]:
    """The command prefix that runs a node (see the module docstring for the override)."""
    override = os.environ.get("RINGFAST_CLUSTER_NODE_CMD")
    if override == "standin":
        return [sys.executable, str(Path(__file__).with_name("standin_node.py"))]
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "ringfast", "node"]


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a node: no inherited node configuration, unbuffered output."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NODE_CONFIG_ENV and not k.startswith(NODE_CONFIG_ENV_PREFIX)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    if extra:
        env.update(extra)
    return env


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get_json(port: int, path: str, timeout: float = 1.0) -> Any | None:
    """GET http://127.0.0.1:port/path and parse JSON; None if unreachable or not JSON."""
    try:
        with _NO_PROXY_OPENER.open(f"http://{HOST}:{port}{path}", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, http.client.HTTPException):
        # URLError/HTTPError/timeouts/resets are OSErrors; bad JSON is a ValueError.
        return None


@dataclass
class NodeInfo:
    """One configured node: its ports and settings, and every process started for it."""

    name: str
    port: int
    monitoring_port: int
    seeds: list[str]
    priority: int | None
    env: dict[str, str] = field(default_factory=dict)  # this node's own environment additions
    # this node's own extra arguments, after the cluster's (a repeated flag's last value wins:
    # ["--partitions", "11"] starts it with a partition count of its own)
    args: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    paused: bool = False
    exit_expected: bool = False  # set when the harness signals it to end; cleared on start

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.procs[-1] if self.procs else None

    @property
    def incarnation(self) -> int:
        """0 before the first start, then 1, 2, ... one per process started for this node."""
        return len(self.procs)

