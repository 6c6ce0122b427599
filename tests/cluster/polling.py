"""Background polling of every node's monitoring API, the base of the monitors.

`Poller` runs one thread per node of a `harness.Cluster` (so a paused node's hanging request
does not delay the others); subclasses turn each answer into a sample (`ownership.py`,
`leadership.py`) and check the samples for `Violation`s.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodes import HOST
from ringfast.clock import now

if TYPE_CHECKING:
    from harness import Cluster


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.detail}"


class Poller:
    """Polls one endpoint of every running node of a cluster in the background: one thread per
    node (so a paused node's hanging request does not delay the others), each sending a
    request, waiting for the answer, recording it, and going again after `interval` seconds,
    until stop(). New nodes (add_node, restarts) are picked up automatically. Uses keep-alive
    connections to keep the load on a small CI machine low."""

    path = "/"

    def __init__(self, cluster: Cluster | None, interval: float = 0.03, timeout: float = 2.0) -> None:
        # cluster=None: offline use, samples are fed with add_sample() (unit tests of the checks)
        self.cluster = cluster
        self.interval = interval
        self.timeout = timeout
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._manager: threading.Thread | None = None
        self._lock = threading.Lock()
        self.samples: dict[str, list[Any]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def start(self) -> "Poller":
        if self.cluster is None:
            raise RuntimeError("an offline monitor (cluster=None) cannot poll")
        self.cluster._register_monitor(self)
        self._manager = threading.Thread(target=self._manage, name=f"{type(self).__name__}", daemon=True)
        self._manager.start()
        return self

    def stop(self) -> "Poller":
        self._stop.set()
        if self._manager is not None and self._manager is not threading.current_thread():
            self._manager.join(self.timeout + 5)
        for t in list(self._threads.values()):
            t.join(self.timeout + 5)
        return self

    def _manage(self) -> None:
        while not self._stop.is_set():
            for name in self.cluster.names:
                if name not in self._threads:
                    t = threading.Thread(target=self._poll, args=(name,), name=f"poll-{name}", daemon=True)
                    self._threads[name] = t
                    t.start()
            self._stop.wait(0.02)

    def _poll(self, name: str) -> None:
        node = self.cluster.nodes[name]
        conn: http.client.HTTPConnection | None = None
        conn_inc = -1
        while not self._stop.is_set():
            inc = node.incarnation
            proc = node.proc
            if proc is None or proc.poll() is not None:
                if conn is not None:
                    conn.close()
                    conn = None
                self._stop.wait(0.01)
                continue
            if conn is None or conn_inc != inc:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(HOST, node.monitoring_port, timeout=self.timeout)
                conn_inc = inc
            t_sent = now()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                t_received = now()
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                data = json.loads(body)
            except (OSError, ValueError, http.client.HTTPException):
                with self._lock:
                    self.errors[name] += 1
                conn.close()
                conn = None
                self._stop.wait(0.01)
                continue
            if node.incarnation == inc:  # else the answer may come from either process: drop it
                sample = self._make_sample(name, inc, t_sent, t_received, data)
                with self._lock:
                    self.samples[name].append(sample)
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def _make_sample(self, name: str, inc: int, t_sent: float, t_received: float, data: Any) -> Any:
        raise NotImplementedError

    def all_samples(self) -> list[Any]:
        with self._lock:
            return [s for samples in self.samples.values() for s in samples]

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.samples.values())

