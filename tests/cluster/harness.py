"""Real-process cluster test harness for ringfast.

Everything here drives real `python -m ringfast node` processes on loopback and observes them
only from the outside (signals, exit codes, logs, the HTTP monitoring API), the way an
operator would. Pieces:

- `free_ports(n)`: n distinct TCP ports picked by the OS.
- `wait_for(predicate, timeout)`: the only way tests wait (a deadline, never a bare sleep).
- `Cluster`: starts, kills, pauses, resumes, stops, restarts and adds nodes; reads /status and
  /partitions; `close()` kills every process it started.
- `OwnershipMonitor`: polls every node's /partitions in the background and *proves* double
  ownership (G1) from the samples, checks partitions are in range and fencing tokens only grow.
- `LeadershipMonitor`: polls every node's /status and checks one leader per epoch (G3).
- `settled(cluster, expect_members)`: the cluster has converged (one agreed leader, every
  partition owned by exactly one live follower, balanced within one, the leader owns none).

The command that starts a node can be overridden with the environment variable
RINGFAST_CLUSTER_NODE_CMD: a shell-quoted command prefix (use absolute paths: nodes run in
the cluster's directory), or the word ``standin`` for tests/cluster/standin_node.py. That is
how the harness and the cluster tests are exercised against a stand-in before (or besides)
the real node.
"""

from __future__ import annotations

import atexit
import bisect
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

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


# --------------------------------------------------------------------------------------------
# small utilities


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1, chosen by the OS.

    All n sockets stay bound until all n ports are chosen (so they are distinct), then they are
    closed and the numbers returned. Known, accepted race: between this close and the node's
    own bind, another process (or an outgoing connection of this very test run, since ports
    come from the ephemeral range) may take one of these ports. The window is milliseconds and
    the range is ~28k ports, so it is rare; if it happens the node exits with code 2 ("port in
    use") and the test fails loudly rather than silently testing the wrong thing.
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _short(value: Any, limit: int = 3000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more chars)"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> Any:
    """Poll `predicate` until it returns something truthy, and return that value.

    On timeout raise AssertionError with `message` (a string, or a callable producing one at
    failure time) and the last value the predicate returned. The predicate is always called at
    least once, and once more after the deadline passes (so a slow poll that ends after the
    deadline still counts). Exceptions from the predicate propagate: they are bugs.
    """
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            msg = message() if callable(message) else message
            raise AssertionError(
                f"{msg} (gave up after {now - started:.2f}s; last value: {_short(value)})"
            )
        time.sleep(min(interval, max(0.0, deadline - now)))


def stays(
    predicate: Callable[[], Any],
    duration: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition stopped holding",
) -> Any:
    """Poll `predicate` for `duration` seconds; it must be truthy at every poll (an observation
    window, not a sleep). Returns the last value; raises AssertionError with the first falsy
    value seen."""
    started = time.monotonic()
    end = started + duration
    while True:
        value = predicate()
        if not value:
            msg = message() if callable(message) else message
            raise AssertionError(
                f"{msg} (after {time.monotonic() - started:.2f}s of {duration}s; value: {_short(value)})"
            )
        now = time.monotonic()
        if now >= end:
            return value
        time.sleep(min(interval, end - now))


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


# --------------------------------------------------------------------------------------------
# the cluster


@dataclass
class NodeInfo:
    name: str
    port: int
    monitoring_port: int
    seeds: list[str]
    priority: int | None
    extra_args: tuple[str, ...] = ()
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
    maps ids to explicit values.
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
        self._monitors: list[_Poller] = []
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
        args += [*self.extra_args, *node.extra_args]
        return args

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
            env = node_env(self.env)
            prepared = []
            for name in names:
                node = self.nodes[name]
                argv = self.argv(name)
                log = open(self.log_path(name), "ab")
                log.write(
                    f"=== harness: starting {name} (incarnation {node.incarnation + 1}) at "
                    f"monotonic {time.monotonic():.3f}: {shlex.join(argv)}\n".encode()
                )
                log.flush()
                prepared.append((node, argv, log))
            try:
                for node, argv, log in prepared:  # the tight loop
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
                for _, _, log in prepared:
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

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
        """Send `sig` (default SIGKILL). For SIGKILL, also wait until the process is gone."""
        if sig not in (signal.SIGSTOP, signal.SIGCONT, signal.SIGTSTP):
            self.nodes[self._name(name)].exit_expected = True
        proc = self._signal(name, sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout)
            self.nodes[self._name(name)].paused = False

    def pause(self, name: str) -> None:
        """SIGSTOP: the process freezes (its sockets stay open, nothing answers)."""
        self._signal(name, signal.SIGSTOP)
        self.nodes[self._name(name)].paused = True

    def resume(self, name: str) -> None:
        """SIGCONT."""
        self._signal(name, signal.SIGCONT)
        self.nodes[self._name(name)].paused = False

    def stop(self, name: str, timeout: float = 20.0) -> float:
        """Graceful stop: SIGTERM, wait for exit, assert exit code 0. Returns the seconds from
        the signal to the exit."""
        name = self._name(name)
        if self.nodes[name].paused:
            self.resume(name)
        t0 = time.monotonic()
        self.nodes[name].exit_expected = True
        proc = self._signal(name, signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"{name} did not exit within {timeout}s of SIGTERM (killed it)\n"
                f"--- last lines of {name}.log ---\n{tail(self.log_path(name))}"
            ) from None
        elapsed = time.monotonic() - t0
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
                if proc.poll() is None:
                    for sig in (signal.SIGCONT, signal.SIGKILL):
                        try:
                            proc.send_signal(sig)
                        except ProcessLookupError:
                            pass
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:  # pragma: no cover - a D-state process
                    pass
            node.paused = False
        _ALL_CLUSTERS.discard(self)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def _register_monitor(self, mon: "_Poller") -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cluster is closed")
            self._monitors.append(mon)


# --------------------------------------------------------------------------------------------
# convergence


class Verdict:
    """A truthy/falsy answer that says why (wait_for shows the last one on timeout)."""

    def __init__(self, ok: bool, reason: str, **details: Any) -> None:
        self.ok = ok
        self.reason = reason
        self.details = details

    def __bool__(self) -> bool:
        return self.ok

    def __getattr__(self, item: str) -> Any:
        try:
            return self.__dict__["details"][item]
        except KeyError:
            raise AttributeError(item) from None

    def __repr__(self) -> str:
        return f"<{'settled' if self.ok else 'not settled'}: {self.reason}>"


def settled(
    cluster: Cluster,
    expect_members: int | Iterable[str] | None = None,
    check_leader_view: bool = True,
    fail_on_crash: bool = True,
) -> Verdict:
    """Has the cluster converged?

    True (a Verdict with .leader, .epoch, .owned {id: [partitions]}, .tokens {id: {p: token}})
    when: the live nodes are exactly `expect_members` (a count or the ids; None: whoever is
    live); every live node answers and all agree on one leader and one epoch; the leader says
    it is the leader and everyone else says follower; the leader's member list is exactly the
    live nodes; every partition in range(N) is held by exactly one live follower per
    /partitions; followers' loads differ by at most one; the leader holds none; and (with
    check_leader_view) the leader's view of each member's partitions is what that member says
    it holds.

    With fail_on_crash, a node that exited without the harness asking raises AssertionError at
    once (so wait_for fails fast with its log instead of waiting out the deadline).
    """
    if fail_on_crash:
        cluster.assert_no_crash()
    live = cluster.live()
    if expect_members is not None:
        if isinstance(expect_members, int):
            if len(live) != expect_members:
                return Verdict(False, f"{len(live)} live nodes {live}, expected {expect_members}")
        elif set(live) != set(expect_members):
            return Verdict(False, f"live nodes {live}, expected {sorted(expect_members)}")
    if not live:
        return Verdict(False, "no live nodes")
    st = cluster.statuses(live)
    missing = [n for n, s in st.items() if s is None]
    if missing:
        return Verdict(False, f"no /status from {missing}")
    leaders = {n: s.get("leader") for n, s in st.items()}
    if len(set(leaders.values())) != 1 or None in leaders.values():
        return Verdict(False, f"leader views differ or are empty: {leaders}")
    leader = next(iter(leaders.values()))
    if leader not in live:
        return Verdict(False, f"agreed leader {leader!r} is not a live node {live}")
    epochs = {n: s.get("epoch") for n, s in st.items()}
    if len(set(epochs.values())) != 1:
        return Verdict(False, f"epochs differ: {epochs}")
    roles = {n: (s.get("node") or {}).get("role") for n, s in st.items()}
    want_roles = {n: ("leader" if n == leader else "follower") for n in live}
    if roles != want_roles:
        return Verdict(False, f"roles {roles}, expected {want_roles}")
    n_parts = cluster.num_partitions
    bad_n = {n: s.get("num_partitions") for n, s in st.items() if s.get("num_partitions") != n_parts}
    if bad_n:
        return Verdict(False, f"num_partitions is not {n_parts} on {bad_n}")
    members = st[leader].get("members") or []
    member_ids = {m.get("id") for m in members}
    # Tolerate the leader listing itself or not; the followers must be exactly the live ones.
    if member_ids - {leader} != set(live) - {leader}:
        return Verdict(False, f"leader's members {sorted(member_ids)}, live {live}")

    parts = {n: cluster.partitions(n) for n in live}
    missing = [n for n, p in parts.items() if p is None]
    if missing:
        return Verdict(False, f"no /partitions from {missing}")
    owned = {n: list(p.get("partitions") or []) for n, p in parts.items()}
    tokens = {n: dict(p.get("tokens") or {}) for n, p in parts.items()}
    if owned[leader]:
        return Verdict(False, f"leader {leader} holds {owned[leader]}")
    owners: dict[int, list[str]] = defaultdict(list)
    for n, ps in owned.items():
        for p in ps:
            owners[p].append(n)
    out_of_range = sorted(p for p in owners if not (isinstance(p, int) and 0 <= p < n_parts))
    if out_of_range:
        return Verdict(False, f"partitions out of range(0, {n_parts}): {out_of_range}")
    doubled = {p: o for p, o in owners.items() if len(o) > 1}
    if doubled:
        return Verdict(False, f"partitions held by more than one node: {doubled}")
    unowned = [p for p in range(n_parts) if p not in owners]
    if unowned:
        return Verdict(False, f"unowned partitions {unowned}; held: {owned}")
    followers = [n for n in live if n != leader]
    loads = {n: len(owned[n]) for n in followers}
    if loads and max(loads.values()) - min(loads.values()) > 1:
        return Verdict(False, f"unbalanced loads {loads}")
    if check_leader_view:
        view = {m.get("id"): sorted(m.get("partitions") or []) for m in members}
        differ = {
            n: (view.get(n), sorted(owned[n]))
            for n in followers
            if view.get(n) != sorted(owned[n])
        }
        if differ:
            return Verdict(False, f"leader's view differs from /partitions (view, held): {differ}")
    epoch = next(iter(epochs.values()))
    return Verdict(
        True,
        f"leader {leader}, epoch {epoch}, loads {loads}",
        leader=leader,
        epoch=epoch,
        owned={n: sorted(v) for n, v in owned.items()},
        tokens=tokens,
    )


# --------------------------------------------------------------------------------------------
# background observers


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.detail}"


class _Poller:
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

    def start(self) -> "_Poller":
        if self.cluster is None:
            raise RuntimeError("an offline monitor (cluster=None) cannot poll")
        self.cluster._register_monitor(self)
        self._manager = threading.Thread(target=self._manage, name=f"{type(self).__name__}", daemon=True)
        self._manager.start()
        return self

    def stop(self) -> "_Poller":
        self._stop.set()
        if self._manager is not None and self._manager is not threading.current_thread():
            self._manager.join(self.timeout + 5)
        for t in list(self._threads.values()):
            t.join(self.timeout + 5)
        return self

    def __enter__(self) -> "_Poller":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
            t_sent = time.monotonic()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                t_received = time.monotonic()
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


@dataclass(frozen=True)
class PartitionSample:
    """One /partitions answer. The node's state was read at some instant in
    [t_sent, t_received] (time.monotonic() of the test process)."""

    node: str
    incarnation: int
    t_sent: float
    t_received: float
    partitions: tuple
    tokens: dict  # {partition: token or None}
    epoch: Any = None
    problems: tuple = ()  # malformed-answer notes found while parsing


def parse_partitions_answer(data: Any) -> tuple[tuple, dict, Any, tuple]:
    """(partitions, {partition: token}, epoch, problems) from a /partitions JSON answer."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return (), {}, None, (f"answer is not an object: {_short(data, 200)}",)
    raw_parts = data.get("partitions")
    if not isinstance(raw_parts, list):
        problems.append(f"'partitions' is not a list: {_short(raw_parts, 200)}")
        raw_parts = []
    raw_tokens = data.get("tokens")
    if not isinstance(raw_tokens, dict):
        problems.append(f"'tokens' is not an object: {_short(raw_tokens, 200)}")
        raw_tokens = {}
    tokens: dict[Any, Any] = {}
    for p in raw_parts:
        tok = raw_tokens.get(str(p))
        if tok is None and isinstance(p, int):
            tok = raw_tokens.get(p)
        if not isinstance(tok, int) or isinstance(tok, bool):
            problems.append(f"partition {p!r} has no integer token ({tok!r})")
            tok = None
        tokens[p] = tok
    if len(set(map(repr, raw_parts))) != len(raw_parts):
        problems.append(f"duplicate partitions in {raw_parts}")
    return tuple(raw_parts), tokens, data.get("epoch"), tuple(problems)


class OwnershipMonitor(_Poller):
    """Polls /partitions of every running node, round after round, until stop().

    `violations()` proves double ownership (G1) from the samples alone. Reasoning: a node's
    answer reflects its state at some instant inside [t_sent, t_received]. If node A reports
    partition p with the SAME token in samples a1 and a2 (of one process, with no sample in
    between where p is missing or has another token), A held p continuously from
    a1.t_received to a2.t_sent, because a re-assignment always carries a new, larger token.
    Then any sample b of another node B with p and a1.t_received <= b.t_sent and
    b.t_received <= a2.t_sent proves both held p at one instant; so does any overlap of two
    such certain-hold intervals of different nodes. Nothing is ever inferred from a single
    sample's timing alone, so a legal handoff (revoke, ack, assign) is never flagged however
    the polls interleave with it.
    """

    path = "/partitions"

    def __init__(
        self,
        cluster: Cluster | None,
        interval: float = 0.03,
        timeout: float = 2.0,
        num_partitions: int | None = None,
    ) -> None:
        super().__init__(cluster, interval, timeout)
        if num_partitions is None:
            if cluster is None:
                raise ValueError("without a cluster, give num_partitions")
            num_partitions = cluster.num_partitions
        self.num_partitions = num_partitions

    def _make_sample(self, name: str, inc: int, t_sent: float, t_received: float, data: Any) -> PartitionSample:
        parts, tokens, epoch, problems = parse_partitions_answer(data)
        return PartitionSample(name, inc, t_sent, t_received, parts, tokens, epoch, problems)

    def add_sample(
        self,
        node: str,
        t_sent: float,
        t_received: float,
        partitions: Iterable[int] | dict[int, int],
        tokens: dict[int, int] | None = None,
        incarnation: int = 1,
    ) -> PartitionSample:
        """Record a synthetic sample (unit tests of the checker). `partitions` may be a
        {partition: token} dict instead of a list plus `tokens`."""
        if isinstance(partitions, dict):
            tokens, partitions = dict(partitions), list(partitions)
        data = {"partitions": list(partitions), "tokens": {str(k): v for k, v in (tokens or {}).items()}}
        sample = self._make_sample(node, incarnation, t_sent, t_received, data)
        with self._lock:
            self.samples[node].append(sample)
        return sample

    # ---- analysis

    def _by_holder(self) -> dict[tuple[str, int], list[PartitionSample]]:
        holders: dict[tuple[str, int], list[PartitionSample]] = defaultdict(list)
        for s in self.all_samples():
            holders[(s.node, s.incarnation)].append(s)
        for v in holders.values():
            v.sort(key=lambda s: s.t_sent)
        return holders

    def hold_runs(self) -> dict[Any, list[tuple[tuple[str, int], Any, PartitionSample, PartitionSample]]]:
        """{partition: [(holder, token, first sample, last sample)]}: maximal runs of
        consecutive samples of one process holding the partition with one token."""
        runs: dict[Any, list] = defaultdict(list)
        for holder, samples in self._by_holder().items():
            open_runs: dict[Any, list] = {}  # p -> [token, first, last]
            for s in samples:
                for p in list(open_runs):
                    if p not in s.tokens or s.tokens[p] is None or s.tokens[p] != open_runs[p][0]:
                        tok, first, last = open_runs.pop(p)
                        runs[p].append((holder, tok, first, last))
                for p, tok in s.tokens.items():
                    if tok is not None and p not in open_runs:
                        open_runs[p] = [tok, s, s]
                    elif tok is not None:
                        open_runs[p][2] = s
            for p, (tok, first, last) in open_runs.items():
                runs[p].append((holder, tok, first, last))
        return runs

    def violations(self) -> list[Violation]:
        out: list[Violation] = []
        n = self.num_partitions
        samples = self.all_samples()
        for s in samples:
            for problem in s.problems:
                out.append(Violation("malformed", f"{s.node}#{s.incarnation} at {s.t_sent:.3f}: {problem}"))
            bad = [p for p in s.partitions if not (isinstance(p, int) and not isinstance(p, bool) and 0 <= p < n)]
            if bad:
                out.append(Violation(
                    "out-of-range",
                    f"{s.node}#{s.incarnation} reported {bad} (not in range(0, {n})) "
                    f"in [{s.t_sent:.3f}, {s.t_received:.3f}]",
                ))

        runs = self.hold_runs()
        # A process re-acquiring a partition with a token it already had breaks the contract
        # the proof relies on (a re-assignment always gets a new, larger token).
        for p, rs in runs.items():
            seen: dict[tuple, tuple] = {}
            for holder, tok, first, last in sorted(rs, key=lambda r: r[2].t_sent):
                key = (holder, tok)
                if key in seen:
                    out.append(Violation(
                        "token-reuse",
                        f"{holder[0]}#{holder[1]} held partition {p} with token {tok} until "
                        f"{seen[key][3].t_received:.3f}, lost it, and held it again with the same "
                        f"token from {first.t_sent:.3f}",
                    ))
                seen[key] = (holder, tok, first, last)

        # Certain-hold intervals [first.t_received, last.t_sent] (non-empty only).
        certain: dict[Any, list] = defaultdict(list)
        for p, rs in runs.items():
            for holder, tok, first, last in rs:
                if first.t_received <= last.t_sent and first is not last:
                    certain[p].append((first.t_received, last.t_sent, holder, tok, first, last))
        reported: set = set()
        by_p: dict[Any, list[PartitionSample]] = defaultdict(list)
        for s in samples:
            for p in s.partitions:
                by_p[p].append(s)
        for p, intervals in certain.items():
            for start, end, holder, tok, a1, a2 in intervals:
                for b in by_p.get(p, ()):
                    if (b.node, b.incarnation) == holder:
                        continue
                    if start <= b.t_sent and b.t_received <= end:
                        key = (p, holder, (b.node, b.incarnation))
                        if key in reported:
                            continue
                        reported.add(key)
                        out.append(Violation(
                            "double-ownership",
                            f"partition {p}: {holder[0]}#{holder[1]} held it with token {tok} "
                            f"throughout [{start:.3f}, {end:.3f}] (samples sent {a1.t_sent:.3f} and "
                            f"{a2.t_sent:.3f}) while {b.node}#{b.incarnation} reported it "
                            f"(token {b.tokens.get(p)}) in [{b.t_sent:.3f}, {b.t_received:.3f}]",
                        ))
            ivs = sorted(intervals, key=lambda x: x[0])
            for i, (s1, e1, h1, t1, _, _) in enumerate(ivs):
                for s2, e2, h2, t2, _, _ in ivs[i + 1:]:
                    if s2 >= e1:
                        break
                    if h1 == h2:
                        continue
                    key = (p, h1, h2)
                    if key in reported or (p, h2, h1) in reported:
                        continue
                    reported.add(key)
                    out.append(Violation(
                        "double-ownership",
                        f"partition {p}: {h1[0]}#{h1[1]} held it (token {t1}) throughout "
                        f"[{s1:.3f}, {e1:.3f}] and {h2[0]}#{h2[1]} (token {t2}) throughout "
                        f"[{s2:.3f}, {e2:.3f}]",
                    ))
        return out

    def assert_no_double_ownership(self) -> None:
        found = self.violations()
        assert self.count() > 0, f"the monitor recorded no samples (errors: {dict(self.errors)})"
        assert not found, (
            f"{len(found)} ownership violation(s) in {self.count()} samples:\n"
            + "\n".join(str(v) for v in found[:30])
        )

    def token_regressions(self) -> list[Violation]:
        """For each partition, a token observed must be >= every token for that partition seen
        in samples received strictly before this one was sent (on any node)."""
        out: list[Violation] = []
        obs: dict[Any, list[tuple[float, float, str, int]]] = defaultdict(list)
        for s in self.all_samples():
            for p, tok in s.tokens.items():
                if tok is not None:
                    obs[p].append((s.t_sent, s.t_received, f"{s.node}#{s.incarnation}", tok))
        for p, items in obs.items():
            by_recv = sorted(items, key=lambda o: o[1])
            recv_times = [o[1] for o in by_recv]
            best: list[tuple[int, tuple]] = []  # prefix max (token, observation)
            for o in by_recv:
                if not best or o[3] > best[-1][0]:
                    best.append((o[3], o))
                else:
                    best.append(best[-1])
            for o in sorted(items):
                idx = bisect.bisect_left(recv_times, o[0])  # received strictly before o was sent
                if idx and best[idx - 1][0] > o[3]:
                    prev = best[idx - 1][1]
                    out.append(Violation(
                        "token-regression",
                        f"partition {p}: {o[2]} reported token {o[3]} in [{o[0]:.3f}, {o[1]:.3f}] "
                        f"after {prev[2]} reported token {prev[3]} (received {prev[1]:.3f})",
                    ))
                    break  # one report per partition is enough
        return out

    def tokens_only_grow(self) -> bool:
        return not self.token_regressions()

    def assert_tokens_only_grow(self) -> None:
        found = self.token_regressions()
        assert not found, "fencing tokens went backwards:\n" + "\n".join(str(v) for v in found[:30])


@dataclass(frozen=True)
class StatusSample:
    node: str
    incarnation: int
    t_sent: float
    t_received: float
    epoch: Any
    role: Any
    leader: Any


class LeadershipMonitor(_Poller):
    """Polls /status of every running node and checks G3 from the answers: in any one epoch at
    most one node says it is the leader and all nodes that name a leader name the same one; a
    node that says it is the leader names itself; one process's epoch never decreases."""

    path = "/status"

    def __init__(self, cluster: Cluster | None, interval: float = 0.05, timeout: float = 2.0) -> None:
        super().__init__(cluster, interval, timeout)

    def _make_sample(self, name: str, inc: int, t_sent: float, t_received: float, data: Any) -> StatusSample:
        data = data if isinstance(data, dict) else {}
        node = data.get("node") if isinstance(data.get("node"), dict) else {}
        return StatusSample(name, inc, t_sent, t_received, data.get("epoch"), node.get("role"), data.get("leader"))

    def add_sample(self, node: str, t_sent: float, t_received: float, epoch: int, role: str,
                   leader: str | None, incarnation: int = 1) -> StatusSample:
        s = StatusSample(node, incarnation, t_sent, t_received, epoch, role, leader)
        with self._lock:
            self.samples[node].append(s)
        return s

    def claims(self) -> dict[Any, dict[str, set]]:
        """{epoch: {"leaders": {ids saying they lead}, "named": {leader ids named}}}"""
        out: dict[Any, dict[str, set]] = defaultdict(lambda: {"leaders": set(), "named": set()})
        for s in self.all_samples():
            if s.role == "leader":
                out[s.epoch]["leaders"].add(s.node)
            if s.leader is not None:
                out[s.epoch]["named"].add(s.leader)
        return dict(out)

    def violations(self) -> list[Violation]:
        out: list[Violation] = []
        for epoch, c in sorted(self.claims().items(), key=lambda kv: repr(kv[0])):
            if len(c["leaders"]) > 1:
                out.append(Violation("two-leaders", f"epoch {epoch}: {sorted(c['leaders'])} all said role=leader"))
            if len(c["named"]) > 1:
                out.append(Violation("conflicting-leaders", f"epoch {epoch}: nodes named {sorted(c['named'])} as leader"))
        samples = self.all_samples()
        for s in samples:
            if s.role == "leader" and s.leader != s.node:
                out.append(Violation("inconsistent", f"{s.node} says role=leader but leader={s.leader!r} (epoch {s.epoch})"))
            if s.role not in ("leader", "follower", "candidate"):
                out.append(Violation("malformed", f"{s.node}: role {s.role!r}"))
            if not isinstance(s.epoch, int) or isinstance(s.epoch, bool):
                out.append(Violation("malformed", f"{s.node}: epoch {s.epoch!r}"))
        by_proc: dict[tuple, list[StatusSample]] = defaultdict(list)
        for s in samples:
            by_proc[(s.node, s.incarnation)].append(s)
        for (node, inc), ss in by_proc.items():
            ss.sort(key=lambda s: s.t_sent)
            for a, b in zip(ss, ss[1:]):
                if isinstance(a.epoch, int) and isinstance(b.epoch, int) and b.epoch < a.epoch:
                    out.append(Violation("epoch-regression", f"{node}#{inc}: epoch {a.epoch} then {b.epoch}"))
                    break
        # De-duplicate repeated malformed notes.
        return list(dict.fromkeys(out))

    def assert_one_leader_per_epoch(self) -> None:
        found = self.violations()
        assert self.count() > 0, f"the monitor recorded no samples (errors: {dict(self.errors)})"
        assert not found, f"{len(found)} leadership violation(s):\n" + "\n".join(str(v) for v in found[:30])
