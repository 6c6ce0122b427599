"""DevCluster: a running ``ringfast dev-cluster``. Setup, the loop that watches the journals,
the processes, the control socket and the keyboard, and the teardown; the rest of its
behaviour comes from the mixins of processes, control, keyboard and view."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque

from ..disk import forget_voters
from ..errors import ConfigError
from .control import ControlServerMixin
from .devnode import DevNode
from .keyboard import KeyboardMixin
from .processes import (
    ENGINE_OFFSET,
    HOST,
    MAX_NODES,
    MONITORING_OFFSET,
    ProcessesMixin,
    describe_exit,
    pdeathsig_preexec,
    port_free,
    state_dir_of,
)
from .view import ViewMixin

TICK = 0.1  # seconds between looks at the journals and the processes


class DevCluster(ProcessesMixin, ControlServerMixin, KeyboardMixin, ViewMixin):
    def __init__(self, args, out=None):
        self.args = args
        self.out = out or sys.stdout
        self.n = args.nodes
        self.num_partitions = args.partitions
        self.base_port = args.base_port
        self.own_dir = args.dir is None
        self.dir = None
        self.nodes: list[DevNode] = []
        self.events: deque = deque(maxlen=200)
        self.quit: str | None = None
        self.signals = 0
        self.started_at = time.monotonic()
        self.ctl: socket.socket | None = None
        self.ctl_path: str | None = None
        self.tty_out = self.out.isatty()
        self.tty_in = False
        self._saved_tty = None
        self._wake_r = self._wake_w = None
        self._dirty = True
        self._last_draw = 0.0
        self._pending: str | None = None  # a key waiting for its node number
        self._digits = ""
        self._message = ""
        self._complete = None  # last announced state of the ring (plain mode)
        self._preexec = pdeathsig_preexec(os.getpid())
        self.engine = None  # the local engine this dev-cluster started (engines.LocalEngine), if any
        # where the nodes keep the ring: None for the built-in protocol
        self.engine_endpoints: str | None = getattr(args, "engine", None)

    # -- setup

    def validate(self):
        a = self.args
        if not 1 <= a.nodes <= MAX_NODES:
            raise ConfigError(f"--nodes={a.nodes}: expected 1..{MAX_NODES}")
        if a.partitions < 1:
            raise ConfigError(f"--partitions={a.partitions}: expected at least 1")
        if a.heartbeat_ms < 1 or a.check_ms < 1:
            raise ConfigError("--heartbeat-ms and --check-ms must be positive")
        if a.stop_timeout <= 0:
            raise ConfigError(f"--stop-timeout={a.stop_timeout}: expected a positive number of seconds")
        if a.duration is not None and a.duration <= 0:
            raise ConfigError(f"--duration={a.duration}: expected a positive number of seconds")
        backend = getattr(a, "backend", "builtin")
        if self.engine_endpoints is not None and backend == "builtin":
            raise ConfigError(f"--engine={self.engine_endpoints}: only with --backend etcd or zookeeper")
        local_engine = backend != "builtin" and self.engine_endpoints is None
        top = self.base_port + (ENGINE_OFFSET + 1 if local_engine else MONITORING_OFFSET + self.n - 1)
        if not 1 <= self.base_port or top > 65535:
            raise ConfigError(f"--base-port={self.base_port}: the ports {self.base_port}..{top} must be in 1..65535")
        wanted = [(self.base_port + MONITORING_OFFSET + i, f"monitoring port of n{i + 1}") for i in range(self.n)]
        if backend == "builtin":
            wanted += [(self.base_port + i, f"cluster port of n{i + 1}") for i in range(self.n)]
        if local_engine:
            from .engines import missing

            why = missing(backend)
            if why:
                raise ConfigError(f"--backend={backend}: cannot start a local {backend}: {why}; or give a running "
                                  f"one with --engine")
            wanted += [(self.base_port + ENGINE_OFFSET, f"the local {backend}'s client port")]
            if backend == "etcd":
                wanted += [(self.base_port + ENGINE_OFFSET + 1, "the local etcd's peer port")]
        for port, what in sorted(wanted):
            if not port_free(port):
                raise ConfigError(f"port {port} ({what}) is in use on {HOST}; choose another --base-port")

    def setup_dir(self):
        if self.own_dir:
            self.dir = tempfile.mkdtemp(prefix="ringfast-dev-cluster-")
        else:
            self.dir = os.path.abspath(self.args.dir)
            try:
                os.makedirs(self.dir, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"--dir={self.args.dir}: {e.strerror}") from None
        for i in range(1, self.n + 1):
            node = DevNode(
                index=i, port=self.base_port + i - 1, monitoring_port=self.base_port + MONITORING_OFFSET + i - 1,
                journal=os.path.join(self.dir, f"n{i}.journal.jsonl"), log=os.path.join(self.dir, f"n{i}.log"),
            )
            try:
                node.journal_start = os.path.getsize(node.journal)
            except OSError:
                node.journal_start = 0
            # A --dir used before, with other --nodes or --base-port, holds state dirs that
            # remember another voter set, and a node refuses to start with a set that allows
            # a second quorum beside it. Every node of this ring is ours and its ports were
            # free, so no node of that older ring runs: forget it (the epochs stay).
            forget_voters(state_dir_of(node))
            self.nodes.append(node)

    # -- actions (from the keyboard and the control socket)

    # -- the local engine

    def start_engine(self):
        """--backend etcd|zookeeper without --engine: start one on base-port+ENGINE_OFFSET,
        its data in the dev-cluster's dir (fresh each time: a dev engine keeps nothing)."""
        from .engines import local_engine

        backend = self.args.backend
        port = self.base_port + ENGINE_OFFSET
        self.engine = local_engine(backend, self.dir, port, port + 1, preexec_fn=self._preexec)
        try:
            self.engine.start()
        except RuntimeError as e:
            raise ConfigError(f"--backend={backend}: the local {backend} did not start: {e}") from None
        self.engine_endpoints = self.engine.endpoints
        self.event(f"started {self.engine.name} (pid {self.engine.pid}) at {self.engine_endpoints}, "
                   f"data in {self.engine.data}")

    def engine_action(self, action: str) -> tuple[bool, str]:
        e = self.engine
        if e is None:
            return False, "no local engine: start with --backend etcd|zookeeper (without --engine)"
        if not e.alive:
            return False, f"{e.name} is not running"
        if action == "toggle":
            action = "resume" if e.paused else "pause"
        if action == "pause" and not e.paused:
            e.pause()
            self.event(f"paused {e.name} (SIGSTOP to pid {e.pid}): every node gives its partitions up within its lease")
        elif action == "resume" and e.paused:
            e.resume()
            self.event(f"resumed {e.name} (SIGCONT to pid {e.pid})")
        elif action not in ("pause", "resume"):
            return False, f"{action} engine: only pause and resume act on the engine"
        return True, f"{e.name} (pid {e.pid}) is {'paused' if e.paused else 'running'}"

    def poll_engine(self):
        e = self.engine
        if e is not None and e.proc is not None and e.proc.returncode is None and e.proc.poll() is not None:
            self.event(f"{e.name} (pid {e.pid}) {describe_exit(e.proc.returncode)}: {e.last_log_line()}")

    def engine_info(self) -> dict | None:
        if self.engine_endpoints is None:
            return None
        e = self.engine
        state = "external" if e is None else ("paused" if e.paused else "running" if e.alive else "dead")
        return {"backend": self.args.backend, "endpoints": self.engine_endpoints, "pid": e.pid if e else None,
                "state": state}

    def find(self, name) -> DevNode | None:
        name = str(name or "").strip().lower()
        if name.startswith("n"):
            name = name[1:]
        if name.isdigit() and 1 <= int(name) <= len(self.nodes):
            return self.nodes[int(name) - 1]
        return None

    def do(self, action: str, name) -> tuple[bool, str]:
        if action == "nodes":
            return True, ""
        if action == "quit":
            self.quit = self.quit or "quit command"
            return True, "stopping the dev-cluster"
        if str(name or "").strip().lower() in ("e", "engine"):
            return self.engine_action(action)
        node = self.find(name)
        if node is None:
            return False, f"no node {name!r}: expected n1..n{len(self.nodes)}"
        handler = {"kill": self.kill, "pause": self.pause, "resume": self.resume, "toggle": self.toggle_pause,
                   "restart": self.restart, "stop": self.stop}.get(action)
        if handler is None:
            return False, f"unknown action {action!r}"
        return handler(node)

    def info(self) -> dict:
        _, leader, owned = self.ring()
        return {
            "pid": os.getpid(), "dir": self.dir, "base_port": self.base_port, "control_socket": self.ctl_path,
            "num_partitions": self.num_partitions, "leader": leader.id if leader else None,
            "epoch": leader.epoch if leader else None, "partitions_owned": owned,
            "complete": self.complete(), "engine": self.engine_info(), "nodes": [n.info() for n in self.nodes],
        }

    # -- running

    def tick(self):
        self.poll_engine()
        exited = self.poll_processes()
        # the journals before the exits: a dead node's last records come before its exit, not into its reset view
        self.read_journals()
        for node in exited:
            self.on_exit(node)
        if not self.tty_out:
            self._announce()

    def _on_signal(self, signum, frame):
        self.signals += 1
        self.quit = self.quit or signal.Signals(signum).name
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def run(self) -> int:
        self.validate()
        self.open_control()
        old_handlers = {}
        try:
            self.setup_dir()
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            if hasattr(signal, "SIGWINCH"):
                old_handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: setattr(self, "_dirty", True))
            self._enter_tty()
            if not self.tty_out:
                self._print(f"ringfast dev-cluster: {self.n} nodes, {self.num_partitions} partitions, dir {self.dir}, "
                            f"control socket {self.ctl_path} (pid {os.getpid()})")
            if self.args.backend != "builtin" and self.engine_endpoints is None:
                self.start_engine()
            for node in self.nodes:
                self.start_node(node)
            return self._loop()
        finally:
            try:
                self.shutdown()
                if self.engine is not None:  # after the nodes: they end their leases in it as they leave
                    self.engine.stop()
            finally:
                self._leave_tty()
                for sig, h in old_handlers.items():
                    signal.signal(sig, h)
                self.close_control()
                for fd in (self._wake_r, self._wake_w):
                    if fd is not None:
                        os.close(fd)
                self._wake_r = self._wake_w = None
                for node in self.nodes:
                    node.close()
                if self.own_dir and self.dir:
                    shutil.rmtree(self.dir, ignore_errors=True)

    def _loop(self) -> int:
        a = self.args
        start = time.monotonic()
        limit = a.duration if a.duration is not None else (60.0 if a.once else None)
        stdin_fd = sys.stdin.fileno() if self.tty_in else None
        while self.quit is None:
            rlist = [self.ctl, self._wake_r] + ([stdin_fd] if stdin_fd is not None else [])
            try:
                ready, _, _ = select.select(rlist, [], [], TICK)
            except InterruptedError:
                ready = []
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 64)
                except OSError:
                    pass
            if self.ctl in ready:
                self.serve_control()
            if stdin_fd is not None and stdin_fd in ready:
                try:
                    data = os.read(stdin_fd, 64)
                except OSError:
                    data = b""
                if not data:
                    stdin_fd = None  # EOF: no more keys
                for ch in data.decode("utf-8", "replace"):
                    self.on_key(ch)
            self.tick()
            if self.tty_out and (self._dirty or time.monotonic() - self._last_draw >= 1.0):
                self.draw()
            if a.once and self.complete():
                break
            if limit is not None and time.monotonic() - start >= limit:
                break
        if a.once:
            done = self.complete()
            if self.tty_out:
                self.draw()
            else:
                self._print("\n".join(self.view(width=120, height=60, keys=False)))
            return 0 if done else 1
        return 0
