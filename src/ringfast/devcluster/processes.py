"""The node processes: where they listen, and how the dev-cluster starts, signals, stops and
reaps them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from .devnode import DevNode

HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 7000
DEFAULT_STATUS_URL = "http://127.0.0.1:9000"  # `ringfast status`: a node's default monitoring port
MONITORING_OFFSET = 100
MAX_NODES = MONITORING_OFFSET - 1
ENGINE_OFFSET = 2 * MONITORING_OFFSET  # a local engine's client port (and its peer port, etcd, one above)


def port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the nodes bind: TIME_WAIT is fine
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pdeathsig_preexec(parent_pid: int):
    """A preexec_fn: new session, and (Linux) SIGKILL when the dev-cluster dies."""
    libc = None
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            libc = None

    def setup():
        os.setsid()
        if libc is not None:
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            if os.getppid() != parent_pid:  # the dev-cluster died before prctl
                os._exit(1)

    return setup


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def state_dir_of(node: DevNode) -> str:
    return node.journal.replace(".journal.jsonl", ".state")


class ProcessesMixin:
    """DevCluster's node processes (uses its args, nodes, num_partitions, signals, tty_out,
    _preexec, event() and _print())."""

    @property
    def seeds(self) -> str:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def start_node(self, node: DevNode):
        a = self.args
        if self.engine_endpoints is None:
            ring = ["--port", str(node.port), "--seeds", self.seeds]
        else:  # nodes talk only to the engine: no cluster port, no seeds
            ring = ["--backend", a.backend, "--engine", self.engine_endpoints]
        cmd = [
            sys.executable, "-m", "ringfast", "node", "--id", node.id, "--host", HOST, *ring,
            "--partitions", str(self.num_partitions),
            "--monitoring-port", str(node.monitoring_port), "--monitoring-host", HOST,
            "--heartbeat-ms", str(a.heartbeat_ms), "--check-ms", str(a.check_ms),
            "--journal", node.journal, "--log-level", "info",
            # a state dir per node: a new dev-cluster starts on empty ones, so it owns every
            # partition within a second (see docs/operations.md, "The cold-start wait")
            "--state-dir", state_dir_of(node),
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(node.log, "ab") as log:
            log.write(f"---- ringfast dev-cluster (pid {os.getpid()}) starts {node.id} at "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')} ----\n".encode())
            log.flush()
            node.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, preexec_fn=self._preexec, close_fds=True)
        node.pids.append(node.proc.pid)
        node.state, node.exit_status, node.after_exit, node.kill_at = "running", None, None, None
        node.reset_view()
        port = f"port {node.port}, " if self.engine_endpoints is None else ""
        self.event(f"started {node.id} (pid {node.proc.pid}, {port}http://{HOST}:{node.monitoring_port}/status)")

    def _signal(self, node: DevNode, sig) -> bool:
        try:
            node.proc.send_signal(sig)  # Popen refuses once it has reaped the pid
            return True
        except ProcessLookupError:
            return False

    def kill(self, node: DevNode) -> tuple[bool, str]:
        if not node.alive:
            return False, f"{node.id} is not running"
        self._signal(node, signal.SIGKILL)
        node.after_exit = None
        self.event(f"kill -9 {node.id} (pid {node.pid})")
        return True, f"killed {node.id} (pid {node.pid})"

    def pause(self, node: DevNode) -> tuple[bool, str]:
        if node.state == "paused":
            return True, f"{node.id} is already paused"
        if node.state != "running":
            return False, f"{node.id} is not running ({node.state})"
        self._signal(node, signal.SIGSTOP)
        node.state = "paused"
        self.event(f"paused {node.id} (SIGSTOP to pid {node.pid})")
        return True, f"paused {node.id} (pid {node.pid})"

    def resume(self, node: DevNode) -> tuple[bool, str]:
        if node.state != "paused":
            return (True, f"{node.id} is not paused") if node.alive else (False, f"{node.id} is not running")
        self._signal(node, signal.SIGCONT)
        node.state = "running"
        self.event(f"resumed {node.id} (SIGCONT to pid {node.pid})")
        return True, f"resumed {node.id} (pid {node.pid})"

    def toggle_pause(self, node: DevNode) -> tuple[bool, str]:
        return self.resume(node) if node.state == "paused" else self.pause(node)

    def stop(self, node: DevNode, then: str | None = None) -> tuple[bool, str]:
        if not node.alive:
            return False, f"{node.id} is not running"
        if node.state == "paused":
            self._signal(node, signal.SIGCONT)
        if node.state != "stopping":
            self._signal(node, signal.SIGTERM)
            node.kill_at = time.monotonic() + self.args.stop_timeout
            node.state = "stopping"
            self.event(f"stopping {node.id} (SIGTERM to pid {node.pid})")
        node.after_exit = then
        return True, f"stopping {node.id} (pid {node.pid})"

    def restart(self, node: DevNode) -> tuple[bool, str]:
        if node.alive:
            self.stop(node, then="restart")
            return True, f"restarting {node.id}: stopping pid {node.pid} first"
        self.start_node(node)
        return True, f"restarted {node.id} (pid {node.pid})"

    def poll_processes(self) -> list[DevNode]:
        """The nodes whose process has exited (not yet reaped into their state); SIGKILL for
        graceful stops past their deadline."""
        now = time.monotonic()
        exited = []
        for node in self.nodes:
            if node.proc is not None and node.alive and node.proc.poll() is not None:
                exited.append(node)
            elif node.state == "stopping" and node.kill_at is not None and now >= node.kill_at:
                self._signal(node, signal.SIGKILL)
                node.kill_at = None
                self.event(f"{node.id} did not stop within {self.args.stop_timeout:g}s: SIGKILL")
        return exited

    def on_exit(self, node: DevNode):
        """A node's process has exited: record it, say why, and start it again if asked to."""
        code = node.proc.returncode
        node.exit_status = describe_exit(code)
        was = node.state
        node.state, node.kill_at = "dead", None
        node.reset_view()
        text = f"{node.id} (pid {node.pid}) {node.exit_status}"
        if code > 0 or (code != 0 and was != "stopping" and code != -signal.SIGKILL):
            last = node.last_log_line()
            if last:
                text += f": {last}"
        self.event(text)
        if node.after_exit == "restart":
            self.start_node(node)

    def shutdown(self):
        alive = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        if not alive:
            return
        if self.tty_out:
            self._print("\x1b[?25h\r")
        self._print(f"stopping {len(alive)} node(s): " + ", ".join(f"{n.id} (pid {n.pid})" for n in alive))
        signals_before = self.signals
        for n in alive:
            n.after_exit = None
            if n.state == "paused":
                self._signal(n, signal.SIGCONT)
                n.state = "running"
            self._signal(n, signal.SIGTERM)
        deadline = time.monotonic() + self.args.stop_timeout
        while time.monotonic() < deadline and self.signals == signals_before:
            if all(n.proc.poll() is not None for n in alive):
                break
            time.sleep(0.05)
        if self.signals > signals_before:
            self._print("second signal: SIGKILL")
        for n in alive:
            if n.proc.poll() is None:
                if self.signals <= signals_before:
                    self._print(f"{n.id} (pid {n.pid}) did not stop within {self.args.stop_timeout:g}s: SIGKILL")
                self._signal(n, signal.SIGKILL)
        for n in alive:
            try:
                n.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
                pass
            n.state, n.exit_status = "dead", describe_exit(n.proc.returncode)
        self._print("stopped: " + ", ".join(f"{n.id} (pid {n.pid}) {n.exit_status}" for n in alive))
