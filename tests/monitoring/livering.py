"""A live ring of real `python -m ringfast node` processes on loopback, for the monitoring tests.

Deliberately small and independent of tests/cluster's harness: start n nodes, read their
monitoring endpoints, kill one by pid, wait (always with a deadline) until the ring has
settled, and kill every process it started at close().
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringfast.config import ENV_NAMES
from support import free_ports, wait_for

HOST = "127.0.0.1"


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveNode:
    id: str
    port: int
    monitoring_port: int
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.monitoring_port}{path}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class LiveRing:
    def __init__(self, directory: Path, n: int = 3, partitions: int = 10, heartbeat_ms: int = 100, check_ms: int = 500):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.num_partitions = partitions
        self.heartbeat_ms, self.check_ms = heartbeat_ms, check_ms
        ports = free_ports(2 * n)
        self.nodes = {f"n{i + 1}": LiveNode(f"n{i + 1}", ports[2 * i], ports[2 * i + 1]) for i in range(n)}
        self.seeds = ",".join(node.address for node in self.nodes.values())

    # ---------------------------------------------------------------- processes

    def _env(self, node: LiveNode) -> dict[str, str]:
        config_vars = set(ENV_NAMES.values())
        env = {k: v for k, v in os.environ.items() if k not in config_vars and not k.startswith("RINGFAST_")}
        env.pop("PYTHONPATH", None)
        env.update({
            "PYTHONUNBUFFERED": "1",
            "NODE_ID": node.id,
            "HOST": HOST,
            "PORT": str(node.port),
            "SEED_NODES": self.seeds,
            "MONITORING_HOST": HOST,
            "MONITORING_PORT": str(node.monitoring_port),
            "NUM_PARTITIONS": str(self.num_partitions),
            "HEART_BEAT_FREQUENCY": str(self.heartbeat_ms),
            "HEART_BEAT_CHECK_FREQUENCY": str(self.check_ms),
            "LOG_LEVEL": "info",
        })
        return env

    def start(self) -> LiveRing:
        for node in self.nodes.values():
            with open(self.dir / f"{node.id}.log", "ab") as log:
                node.proc = subprocess.Popen(
                    [sys.executable, "-m", "ringfast", "node"], env=self._env(node), cwd=self.dir,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
        return self

    def kill(self, node_id: str) -> None:
        """SIGKILL: a crash, no goodbye to the ring."""
        node = self.nodes[node_id]
        if node.alive:
            node.proc.send_signal(signal.SIGKILL)
        if node.proc is not None:
            node.proc.wait(timeout=30)

    def close(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGKILL)
        for node in self.nodes.values():
            if node.proc is not None:
                node.proc.wait(timeout=30)

    def live(self) -> list[LiveNode]:
        return [node for node in self.nodes.values() if node.alive]

    def log_tails(self, lines: int = 30) -> str:
        out = []
        for node in self.nodes.values():
            path = self.dir / f"{node.id}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"--- {node.id} (pid {node.proc.pid if node.proc else '-'}) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    # ---------------------------------------------------------------- HTTP

    def request(self, node_id: str, path: str, method: str = "GET", timeout: float = 5.0) -> Response:
        node = self.nodes[node_id]
        conn = http.client.HTTPConnection(HOST, node.monitoring_port, timeout=timeout)
        try:
            conn.request(method, path, headers={"Connection": "close"})
            resp = conn.getresponse()
            return Response(resp.status, resp.getheader("Content-Type", ""), resp.read())
        finally:
            conn.close()

    def get_json(self, node_id: str, path: str) -> Any:
        return self.request(node_id, path).json()

    # ---------------------------------------------------------------- settling

    def settled(self) -> tuple[str, dict] | None:
        """(leader id, leader's /status) once every live node agrees on one leader and epoch,
        every live node is a member, each partition is owned by exactly one live follower, the
        leader owns none, every node reports the same ownership, and every /health is 200;
        else None."""
        live = self.live()
        views = {node.id: self.get_json(node.id, "/status") for node in live}
        leaders = {(v["leader"], v["epoch"]) for v in views.values()}
        if len(leaders) != 1:
            return None
        (leader, _epoch), = leaders
        if leader not in views:
            return None
        status = views[leader]
        members = {m["id"]: m for m in status["members"]}
        if set(members) != set(views) or members[leader]["role"] != "leader" or members[leader]["partitions"]:
            return None
        owned = sorted(p for m in status["members"] for p in m["partitions"])
        if owned != list(range(self.num_partitions)):
            return None
        ownership = {m["id"]: m["partitions"] for m in status["members"]}
        if any({m["id"]: m["partitions"] for m in v["members"]} != ownership for v in views.values()):
            return None
        if any(self.request(node.id, "/health").status != 200 for node in live):
            return None
        return leader, status

    def wait_settled(self, timeout: float = 60.0) -> tuple[str, dict]:
        # (a node not listening yet, or being killed, raises: that is a poll that failed)
        return wait_for(self.settled, timeout, "the ring to settle", interval=0.1, retry_on=(Exception,))
