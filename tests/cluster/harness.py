"""Real-process cluster test harness for ringfast: `Cluster`, n `ringfast node` processes.

Everything drives real `python -m ringfast node` processes on loopback and observes them only
from the outside (signals, exit codes, logs, journals, the HTTP monitoring API), the way an
operator would. The harness is split by what each file holds:

- `harness.py` (this file): `Cluster`: starts, kills, pauses, resumes, stops, restarts and
  adds nodes; reads /status and /partitions; `close()` kills every process it started.
- `nodes.py`: one node process: its command and environment, HTTP GET, log tails.
- tests/support.py (shared by every test): `free_ports`, `wait_for` (a deadline, the only way
  tests wait) and `stays` (a window).
- `polling.py`, `ownership.py`, `leadership.py`: background monitors of /partitions (G1 from
  samples, tokens only grow) and /status (G3: one leader per epoch).
- `convergence.py`: `settled(cluster, expect_members)`: one agreed leader, every partition
  owned by exactly one live follower, balanced within one, the leader owns none.
- `journal.py`: the checker of the nodes' event journals (G1/G2/G3 exactly, from monotonic
  timestamps); `faultproxy.py`: a TCP proxy between each pair of nodes (network faults).

With `journal=True` each node writes `<dir>/<id>.journal.jsonl`, and the harness adds its own
lines to it (``"event": "harness"``): before each start (so each process incarnation is told
apart), after a kill -9 (with the instant of the signal), after an exit, and at each pause and
resume.
"""

from __future__ import annotations

import atexit
import json
import shlex
import signal
import subprocess
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from nodes import HOST, NodeInfo, http_get_json, node_command, node_env, tail
from ringfast.clock import now
from support import free_ports, kill_and_wait

if TYPE_CHECKING:
    from polling import Poller

_ALL_CLUSTERS: "weakref.WeakSet[Cluster]" = weakref.WeakSet()


@atexit.register
def _close_all_clusters() -> None:  # pragma: no cover - safety net if a fixture is bypassed
    for cluster in list(_ALL_CLUSTERS):
        cluster.close()


class Cluster:
    """n real node processes on loopback, ids "n1".."nN", seeds = all n cluster addresses.

    Each node's stdout and stderr go to `<dir>/<id>.log` (appended across restarts, with a
    harness line before each start). Nodes run with `<dir>` as their working directory.
    Priorities are left to the node's default (position in the seed list) unless `priorities`
    maps ids to explicit values. `env` is added to every node's environment, and
    `nodes[id].env` to that node's only (e.g. RINGFAST_ROUTES, set by faultproxy);
    `nodes[id].args` are added to that node's command line after everything else (a flag
    given again there wins), and `nodes[id].seeds` is its own seed list.
    """

    def __init__(
        self,
        tmp_path: Path | str,
        n: int = 3,
        partitions: int = 10,
        heartbeat_ms: int = 100,
        check_ms: int = 500,
        extra_args: Sequence[str] = (),
        *,
        priorities: dict[str, int] | None = None,
        journal: bool = False,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.dir = Path(tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.num_partitions = partitions
        self.heartbeat_ms = heartbeat_ms
        self.check_ms = check_ms
        self.extra_args = tuple(extra_args)
        self.journal = journal
        self.env = dict(env or {})
        self.command = list(command) if command is not None else node_command()
        self.nodes: dict[str, NodeInfo] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._monitors: list[Poller] = []
        ports = free_ports(2 * n)
        self.seeds = [f"{HOST}:{ports[2 * i]}" for i in range(n)]
        priorities = priorities or {}
        for i in range(n):
            name = f"n{i + 1}"
            self.nodes[name] = NodeInfo(
                name=name,
                port=ports[2 * i],
                monitoring_port=ports[2 * i + 1],
                seeds=list(self.seeds),
                priority=priorities.get(name),
            )
        _ALL_CLUSTERS.add(self)

    # ---- naming

    @property
    def names(self) -> list[str]:
        """All node ids ever configured in this cluster, in creation order."""
        return list(self.nodes)

    def _name(self, which: str | int) -> str:
        if isinstance(which, int):
            return self.names[which]
        if which not in self.nodes:
            raise KeyError(f"no node {which!r} in this cluster (have {self.names})")
        return which

    def log_path(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def journal_path(self, name: str) -> Path:
        return self.dir / f"{name}.journal.jsonl"

    def pid(self, name: str) -> int | None:
        proc = self.nodes[self._name(name)].proc
        return proc.pid if proc else None

    # ---- process control

    def argv(self, name: str) -> list[str]:
        node = self.nodes[name]
        args = [
            *self.command,
            "--id", node.name,
            "--host", HOST,
            "--port", str(node.port),
            "--seeds", ",".join(node.seeds),
            "--monitoring-port", str(node.monitoring_port),
            "--partitions", str(self.num_partitions),
            "--heartbeat-ms", str(self.heartbeat_ms),
            "--check-ms", str(self.check_ms),
        ]  # fmt: skip
        if node.priority is not None:
            args += ["--priority", str(node.priority)]
        if self.journal:
            args += ["--journal", str(self.journal_path(name))]
        args += self.extra_args
        args += node.args
        return args

    def _mark(self, name: str, action: str, t: float, **extra) -> None:
        """Append a harness line to the node's journal (see the module docstring)."""
        if not self.journal:
            return
        node = self.nodes[name]
        rec = {"t": t, "node": name, "event": "harness", "action": action, "incarnation": node.incarnation, **extra}
        with open(self.journal_path(name), "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def start(self, which: str | int | None = None) -> list[str]:
        """Start one node (by id or 0-based index) or, with no argument, every node that is not
        running. When starting several, all argv/env/log files are prepared first and the
        processes are spawned in a tight loop, so they start at nearly the same instant.
        Returns the ids started."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cluster is closed")
            names = [self._name(which)] if which is not None else [
                n for n in self.names if not self.running(n)
            ]
            for name in names:
                if self.running(name):
                    raise RuntimeError(f"{name} is already running (pid {self.pid(name)})")
            prepared = []
            for name in names:
                node = self.nodes[name]
                argv = self.argv(name)
                log = open(self.log_path(name), "ab")
                log.write(
                    f"=== harness: starting {name} (incarnation {node.incarnation + 1}) at "
                    f"monotonic {now():.3f}: {shlex.join(argv)}\n".encode()
                )
                log.flush()
                prepared.append((node, argv, node_env({**self.env, **node.env}), log))
            try:
                for node, argv, env, log in prepared:  # the tight loop
                    # (incarnation counts the processes started, so the new one is +1)
                    self._mark(node.name, "start", now(), incarnation=node.incarnation + 1)
                    node.procs.append(
                        subprocess.Popen(
                            argv,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            cwd=self.dir,
                            env=env,
                        )
                    )
                    node.paused = False
                    node.exit_expected = False
            finally:
                for *_, log in prepared:
                    log.close()  # the child has its own copy of the descriptor
            return names

    def running(self, name: str) -> bool:
        """The node's current process exists and has not exited (it may be paused)."""
        proc = self.nodes[self._name(name)].proc
        return proc is not None and proc.poll() is None

    def live(self) -> list[str]:
        """Ids of nodes whose process is running and not paused, in creation order."""
        return [n for n in self.names if self.running(n) and not self.nodes[n].paused]

    def _signal(self, name: str, sig: int) -> subprocess.Popen:
        name = self._name(name)
        proc = self.nodes[name].proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"{name} is not running")
        proc.send_signal(sig)
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 10.0) -> float:
        """Send `sig` (default SIGKILL). For SIGKILL, also wait until the process is gone and
        journal the instant of the signal. Returns that instant (now())."""
        name = self._name(name)
        if sig not in (signal.SIGSTOP, signal.SIGCONT, signal.SIGTSTP):
            self.nodes[name].exit_expected = True
        t = now()
        proc = self._signal(name, sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout)
            self.nodes[name].paused = False
            self._mark(name, "kill", t)
        return t

    def pause(self, name: str) -> float:
        """SIGSTOP: the process freezes (its sockets stay open, nothing answers). Returns the
        instant of the signal."""
        name = self._name(name)
        t = now()
        self._signal(name, signal.SIGSTOP)
        self.nodes[name].paused = True
        self._mark(name, "pause", t)
        return t

    def resume(self, name: str) -> float:
        """SIGCONT. Returns the instant of the signal."""
        name = self._name(name)
        t = now()
        self._mark(name, "resume", t)  # written while the process is still frozen
        self._signal(name, signal.SIGCONT)
        self.nodes[name].paused = False
        return t

    def stop(self, name: str, timeout: float = 20.0) -> float:
        """Graceful stop: SIGTERM, wait for exit, assert exit code 0. Returns the seconds from
        the signal to the exit."""
        name = self._name(name)
        if self.nodes[name].paused:
            self.resume(name)
        t0 = now()
        self.nodes[name].exit_expected = True
        proc = self._signal(name, signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            t = now()
            proc.kill()
            proc.wait()
            self._mark(name, "kill", t)
            raise AssertionError(
                f"{name} did not exit within {timeout}s of SIGTERM (killed it)\n"
                f"--- last lines of {name}.log ---\n{tail(self.log_path(name))}"
            ) from None
        elapsed = now() - t0
        self._mark(name, "exit", t0 + elapsed, code=rc)
        assert rc == 0, (
            f"{name} exited with {rc} after SIGTERM, expected 0\n"
            f"--- last lines of {name}.log ---\n{tail(self.log_path(name))}"
        )
        return elapsed

    def restart(self, name: str) -> None:
        """Start the node again with the same id and ports (gracefully stopping it first if it
        is still running)."""
        name = self._name(name)
        if self.running(name):
            self.stop(name)
        self.start(name)

    def add_node(self, start: bool = True, priority: int | None = None) -> str:
        """Configure (and by default start) a new node n<N+1> on new ports. Its seed list is the
        cluster's original one: it joins through the seeds, its own address is not in it."""
        with self._lock:
            name = f"n{len(self.nodes) + 1}"
            port, mport = free_ports(2)
            self.nodes[name] = NodeInfo(
                name=name, port=port, monitoring_port=mport, seeds=list(self.seeds), priority=priority
            )
        if start:
            self.start(name)
        return name

    def crashed(self) -> dict[str, int]:
        """{id: exit code} of nodes whose current process exited without the harness asking."""
        out = {}
        for name, node in self.nodes.items():
            proc = node.proc
            if proc is not None and not node.exit_expected and proc.poll() is not None:
                out[name] = proc.returncode
        return out

    def assert_no_crash(self) -> None:
        """Raise AssertionError (with log tails) if a node exited on its own."""
        crashed = self.crashed()
        if crashed:
            logs = "\n".join(
                f"--- last lines of {name}.log ---\n{tail(self.log_path(name))}" for name in crashed
            )
            raise AssertionError(f"node(s) exited without being asked to (id: exit code): {crashed}\n{logs}")

    def exit_code(self, name: str) -> int | None:
        proc = self.nodes[self._name(name)].proc
        return None if proc is None else proc.poll()

    def close(self) -> None:
        """Stop the monitors, then kill every process this cluster started, by pid: SIGCONT (in
        case it is paused), SIGKILL, wait. Idempotent."""
        with self._lock:
            self._closed = True
            monitors, self._monitors = self._monitors, []
        for mon in monitors:
            mon.stop()
        for node in self.nodes.values():
            node.exit_expected = True
            for proc in node.procs:
                kill_and_wait(proc)
            node.paused = False
        _ALL_CLUSTERS.discard(self)

    # ---- observation

    def status(self, name: str, timeout: float = 1.0) -> dict | None:
        """GET /status of a node (parsed JSON), or None if it is not running or unreachable."""
        name = self._name(name)
        if not self.running(name):
            return None
        return http_get_json(self.nodes[name].monitoring_port, "/status", timeout)

    def partitions(self, name: str, timeout: float = 1.0) -> dict | None:
        """GET /partitions of a node (parsed JSON), or None if not running or unreachable."""
        name = self._name(name)
        if not self.running(name):
            return None
        return http_get_json(self.nodes[name].monitoring_port, "/partitions", timeout)

    def statuses(self, names: Iterable[str] | None = None) -> dict[str, dict | None]:
        return {n: self.status(n) for n in (self.live() if names is None else names)}

    def leader(self) -> str | None:
        """The id every live node names as leader (and which itself says it is the leader),
        or None if there is no such agreement."""
        live = self.live()
        if not live:
            return None
        views = self.statuses(live)
        if any(v is None for v in views.values()):
            return None
        leaders = {v.get("leader") for v in views.values()}
        if len(leaders) != 1:
            return None
        (leader,) = leaders
        if leader not in views or (views[leader].get("node") or {}).get("role") != "leader":
            return None
        return leader

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for name in self.names:
            parts.append(f"--- {self.log_path(name)} (last {lines} lines) ---")
            parts.append(tail(self.log_path(name), lines) or "(empty)")
        return "\n".join(parts)

    def _register_monitor(self, mon: "Poller") -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cluster is closed")
            self._monitors.append(mon)

