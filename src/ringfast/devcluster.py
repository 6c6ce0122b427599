"""``ringfast dev-cluster`` and ``ringfast status``: a local cluster to watch, and one
node's view of the ring as a table.

``ringfast dev-cluster`` starts N real ``ringfast node`` processes on 127.0.0.1 (cluster
ports ``base-port + i``, monitoring ports ``base-port + 100 + i``, ids ``n1..nN``), follows
their journals and shows the ring: a view redrawn in place when stdout is a terminal, plain
event lines otherwise. Nodes are driven from the keyboard (``k 2`` kills n2, ...) or from
another terminal (``ringfast dev-cluster kill n2``) through a Unix socket, the *control
socket*, at ``$XDG_RUNTIME_DIR/ringfast/dev-cluster-<base-port>.sock`` (without
``XDG_RUNTIME_DIR``: ``/tmp/ringfast-dev-cluster-<uid>/``). The protocol on it is one JSON
line each way: ``{"cmd": "kill", "node": "n2"}`` -> ``{"ok", "message", "cluster"}``, where
``cluster`` describes the dev-cluster and every node (pid, state, role, epoch, partitions).

Every node process runs in its own session (so the terminal's Ctrl-C reaches only the
dev-cluster, which then stops the nodes in order) and, on Linux, is killed by the kernel if
the dev-cluster itself dies (``PR_SET_PDEATHSIG``), so no node outlives it.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field

from .errors import ConfigError

HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 7000
MONITORING_OFFSET = 100
MAX_NODES = MONITORING_OFFSET - 1
DEFAULT_STATUS_URL = "http://127.0.0.1:9000"
ACTIONS = ("kill", "pause", "resume", "restart", "stop", "nodes", "quit")
NODE_ACTIONS = ("kill", "pause", "resume", "restart", "stop")
EVENTS_SHOWN = 10
TICK = 0.1  # seconds between looks at the journals and the processes

DEV_CLUSTER_HELP = """\
Keyboard (when stdin is a terminal): press a key, then the node's number:
  k N   kill -9 node nN          p N   pause (SIGSTOP) / resume (SIGCONT) nN
  r N   restart nN (same id and ports; a graceful stop first if it runs)
  s N   stop nN gracefully (SIGTERM: it hands its partitions off)
  q     quit (stops every node)        Esc   cancel a pending key
With 10 or more nodes, end a number that could go on (1 of 12) with Enter.

From another terminal, while it runs:
  ringfast dev-cluster kill n2          (also: pause, resume, restart, stop)
  ringfast dev-cluster nodes [--json]   (every node: pid, state, role, epoch, partitions)
  ringfast dev-cluster quit             (as Ctrl-C)
These talk to the running dev-cluster through its control socket,
$XDG_RUNTIME_DIR/ringfast/dev-cluster-<base-port>.sock (or
/tmp/ringfast-dev-cluster-<uid>/dev-cluster-<base-port>.sock without XDG_RUNTIME_DIR).
With several dev-clusters running, pick one with --base-port.

Ctrl-C or SIGTERM stops every node (SIGCONT for paused ones, SIGTERM, then SIGKILL after
--stop-timeout) and exits 0. When stdout is not a terminal, plain event lines are printed
instead of the live view. Nodes inherit the environment, so RINGFAST_* settings without a
dev-cluster flag (RINGFAST_QUORUM, RINGFAST_LEADER_OWNS_PARTITIONS, ...) apply to all nodes.
"""


def add_commands(sub) -> None:
    """Register this module's subcommands; each sets ``run`` to its entry point."""
    p = sub.add_parser(
        "dev-cluster",
        help="run a local N-node cluster with a live view; or drive a running one",
        description="Start N `ringfast node` processes on 127.0.0.1 and watch the ring, or "
        "(with an ACTION) drive a dev-cluster running in another terminal.",
        epilog=DEV_CLUSTER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=ACTIONS, metavar="ACTION",
                   help="omit to start a dev-cluster; else one of: " + ", ".join(ACTIONS))
    p.add_argument("node", nargs="?", metavar="NODE", help="node id (n2) or number (2), for the node actions")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    p.add_argument("--partitions", type=int, default=10, help="number of partitions (default 10)")
    p.add_argument("--base-port", type=int, default=None,
                   help=f"cluster ports base-port+i, monitoring ports base-port+{MONITORING_OFFSET}+i "
                   f"(default {DEFAULT_BASE_PORT}); with an ACTION: which dev-cluster (default: the only one running)")
    p.add_argument("--heartbeat-ms", type=int, default=1000, help="follower heartbeat period (default 1000)")
    p.add_argument("--check-ms", type=int, default=3000, help="failure timeout and lease (default 3000)")
    p.add_argument("--dir", default=None,
                   help="journals and logs go here (kept); default: a temporary directory removed at exit")
    p.add_argument("--stop-timeout", type=float, default=10.0,
                   help="seconds a node gets to stop after SIGTERM before SIGKILL (default 10)")
    p.add_argument("--duration", type=float, default=None, help="stop everything after this many seconds")
    p.add_argument("--once", action="store_true",
                   help="wait until the ring is complete (a leader, every partition owned; at most --duration, "
                   "default 60 s), print the view, stop; exit 1 if it never completed")
    p.add_argument("--json", action="store_true", help="with ACTION nodes: print JSON")
    p.set_defaults(run=run_dev_cluster)

    s = sub.add_parser(
        "status",
        help="print one node's view of the ring as a table",
        description="GET URL/status of a node's monitoring port and print the members as a table. "
        "Exit 1 if it cannot be reached.",
    )
    s.add_argument("url", nargs="?", default=DEFAULT_STATUS_URL, metavar="URL",
                   help=f"monitoring URL of a node (default {DEFAULT_STATUS_URL}); host:port or a port alone also work")
    s.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)")
    s.add_argument("--json", action="store_true", help="print the /status JSON as it came")
    s.set_defaults(run=run_status)


# ---------------------------------------------------------------------------- helpers


def format_ranges(parts) -> str:
    """[0, 1, 2, 3, 7, 9, 10] -> '0-3,7,9-10'; [] -> '-'."""
    ps = sorted(set(parts))
    if not ps:
        return "-"
    out = []
    start = prev = ps[0]
    for p in ps[1:] + [None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ",".join(out)


def _no_proxy_open(url: str, timeout: float):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=timeout)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _visible_len(s: str) -> int:
    return len(_ANSI.sub("", s))


def _truncate(s: str, width: int) -> str:
    """Cut s to `width` visible characters, keeping (and closing) ANSI colour codes."""
    if _visible_len(s) <= width:
        return s
    out, n, i = [], 0, 0
    while i < len(s) and n < width:
        m = _ANSI.match(s, i)
        if m:
            out.append(m.group())
            i = m.end()
            continue
        out.append(s[i])
        n += 1
        i += 1
    return "".join(out) + ("\x1b[0m" if "\x1b[" in s else "")


def _port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the nodes bind: TIME_WAIT is fine
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def control_dir(create: bool = True) -> str:
    """The directory of the control sockets: $XDG_RUNTIME_DIR/ringfast, else
    /tmp/ringfast-dev-cluster-<uid>; private to this user (checked)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        d = os.path.join(runtime, "ringfast")
    else:
        d = os.path.join(tempfile.gettempdir(), f"ringfast-dev-cluster-{os.getuid()}")
    if create:
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise ConfigError(f"cannot create the control directory {d}: {e.strerror}") from None
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        return d
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise ConfigError(f"control directory {d} is not a private directory of this user; remove it")
    return d


def control_socket_path(base_port: int) -> str:
    return os.path.join(control_dir(), f"dev-cluster-{base_port}.sock")


def _request(path: str, msg: dict, timeout: float = 10.0) -> dict:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps(msg).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return json.loads(data)


def _live_sockets() -> list[tuple[int, str]]:
    found = []
    for path in sorted(glob.glob(os.path.join(control_dir(create=False), "dev-cluster-*.sock"))):
        m = re.search(r"dev-cluster-(\d+)\.sock$", path)
        if not m:
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(path)
            found.append((int(m.group(1)), path))
        except OSError:
            pass
        finally:
            s.close()
    return found


# ---------------------------------------------------------------------------- the nodes


@dataclass
class DevNode:
    index: int  # 1-based
    port: int
    monitoring_port: int
    journal: str
    log: str
    proc: subprocess.Popen | None = None
    state: str = "dead"  # running | paused | stopping | dead
    pids: list[int] = field(default_factory=list)  # every process started for this node
    exit_status: str | None = None
    after_exit: str | None = None  # "restart": start again once the process has exited
    kill_at: float | None = None  # SIGKILL at this monotonic time if still alive (graceful stop)
    role: str | None = None
    leader: str | None = None
    epoch: int | None = None
    partitions: set = field(default_factory=set)
    journal_start: int = 0  # what the journal held before this dev-cluster (a kept --dir): not replayed
    _jf: object = None
    _partial: bytes = b""

    @property
    def id(self) -> str:
        return f"n{self.index}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused", "stopping")

    def reset_view(self):
        self.role = self.leader = self.epoch = None
        self.partitions = set()

    def read_journal(self) -> list[dict]:
        if self._jf is None:
            try:
                self._jf = open(self.journal, "rb")
            except FileNotFoundError:
                return []
            self._jf.seek(self.journal_start)
        data = self._jf.read()
        if not data:
            return []
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def close(self):
        if self._jf is not None:
            self._jf.close()
            self._jf = None

    def last_log_line(self) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4096))
                lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def info(self) -> dict:
        return {
            "id": self.id, "pid": self.pid, "pids": list(self.pids), "state": self.state,
            "port": self.port, "monitoring_port": self.monitoring_port,
            "role": self.role, "leader": self.leader, "epoch": self.epoch,
            "partitions": sorted(self.partitions), "exit": self.exit_status,
        }


def _pdeathsig_preexec(parent_pid: int):
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


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# ---------------------------------------------------------------------------- dev-cluster


class DevCluster:
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
        self._preexec = _pdeathsig_preexec(os.getpid())

    # -- setup / teardown

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
        if not 1 <= self.base_port or self.base_port + MONITORING_OFFSET + self.n - 1 > 65535:
            raise ConfigError(f"--base-port={self.base_port}: the ports {self.base_port}.."
                              f"{self.base_port + MONITORING_OFFSET + self.n - 1} must be in 1..65535")
        for i in range(self.n):
            for port, what in ((self.base_port + i, "cluster"), (self.base_port + MONITORING_OFFSET + i, "monitoring")):
                if not _port_free(port):
                    raise ConfigError(f"port {port} ({what} port of n{i + 1}) is in use on {HOST}; "
                                      f"choose another --base-port")

    def open_control(self):
        path = control_socket_path(self.base_port)
        if len(path.encode()) > 100:
            raise ConfigError(f"control socket path too long: {path} (set XDG_RUNTIME_DIR to a shorter directory)")
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(path)
            except OSError:
                os.unlink(path)  # stale: its dev-cluster is gone
            else:
                raise ConfigError(f"a dev-cluster with --base-port {self.base_port} is already running "
                                  f"(control socket {path})")
            finally:
                s.close()
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.bind(path)
        os.chmod(path, 0o600)
        ctl.listen(16)
        ctl.setblocking(False)
        self.ctl, self.ctl_path = ctl, path

    def close_control(self):
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
            try:
                os.unlink(self.ctl_path)
            except OSError:
                pass

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
            self.nodes.append(node)

    @property
    def seeds(self) -> str:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    # -- events and output

    def event(self, text: str):
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        self.events.append(f"{stamp} {text}")
        self._dirty = True
        if not self.tty_out:
            self._print(f"{stamp} {text}")

    def _print(self, text: str):
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):  # a closed pipe or terminal: keep stopping the nodes
            pass

    def apply(self, node: DevNode, rec: dict):
        ev = rec.get("event")
        epoch = rec.get("epoch")
        parts = rec.get("partitions") or []
        if isinstance(epoch, int) and epoch:
            node.epoch = epoch
        if ev in ("leader", "follower", "candidate"):
            node.role, node.leader = ev, rec.get("leader")
            if ev == "leader":
                self.event(f"{node.id} became leader (epoch {epoch})")
            elif ev == "candidate":
                self.event(f"{node.id} is a candidate")
            elif node.leader:
                self.event(f"{node.id} following leader {node.leader} (epoch {epoch})")
            else:
                self.event(f"{node.id} lost its leader (epoch {epoch})")
        elif ev == "assigned":
            node.partitions |= set(parts)
            self.event(f"{node.id} assigned [{format_ranges(parts)}] (epoch {epoch})")
        elif ev == "revoked":
            node.partitions -= set(parts)
            self.event(f"{node.id} revoked [{format_ranges(parts)}] ({rec.get('reason')}, epoch {epoch})")

    # -- process control

    def start_node(self, node: DevNode):
        a = self.args
        cmd = [
            sys.executable, "-m", "ringfast", "node", "--id", node.id, "--host", HOST, "--port", str(node.port),
            "--seeds", self.seeds, "--partitions", str(self.num_partitions),
            "--monitoring-port", str(node.monitoring_port), "--monitoring-host", HOST,
            "--heartbeat-ms", str(a.heartbeat_ms), "--check-ms", str(a.check_ms),
            "--journal", node.journal, "--log-level", "info",
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
        self.event(f"started {node.id} (pid {node.proc.pid}, port {node.port}, "
                   f"http://{HOST}:{node.monitoring_port}/status)")

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
        node = self.find(name)
        if node is None:
            return False, f"no node {name!r}: expected n1..n{len(self.nodes)}"
        handler = {"kill": self.kill, "pause": self.pause, "resume": self.resume, "toggle": self.toggle_pause,
                   "restart": self.restart, "stop": self.stop}.get(action)
        if handler is None:
            return False, f"unknown action {action!r}"
        return handler(node)

    # -- the loop

    def tick(self):
        now = time.monotonic()
        exited = []
        for node in self.nodes:
            if node.proc is not None and node.alive and node.proc.poll() is not None:
                exited.append(node)
            elif node.state == "stopping" and node.kill_at is not None and now >= node.kill_at:
                self._signal(node, signal.SIGKILL)
                node.kill_at = None
                self.event(f"{node.id} did not stop within {self.args.stop_timeout:g}s: SIGKILL")
        records = []
        for node in self.nodes:
            for rec in node.read_journal():
                records.append((rec.get("t") if isinstance(rec.get("t"), (int, float)) else 0, node, rec))
        records.sort(key=lambda r: r[0])
        for _, node, rec in records:
            self.apply(node, rec)
        for node in exited:
            code = node.proc.returncode
            node.exit_status = _describe_exit(code)
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
        if not self.tty_out:
            self._announce()

    def ring(self):
        """(owner label per partition, leader node or None, number owned by a running node)."""
        owners = []
        for p in range(self.num_partitions):
            running = [n for n in self.nodes if n.state in ("running", "stopping") and p in n.partitions]
            paused = [n for n in self.nodes if n.state == "paused" and p in n.partitions]
            if running:
                owners.append(running[0])
            elif paused:
                owners.append(paused[0])
            else:
                owners.append(None)
        leaders = [n for n in self.nodes if n.alive and n.role == "leader"]
        leader = max(leaders, key=lambda n: n.epoch or 0) if leaders else None
        owned = sum(1 for o in owners if o is not None and o.state != "paused")
        return owners, leader, owned

    def complete(self) -> bool:
        _, leader, owned = self.ring()
        return leader is not None and leader.state != "paused" and owned == self.num_partitions

    def _announce(self):
        """Plain mode: one line each time the ring becomes complete (or its owners change while
        complete), and one when it stops being complete."""
        owners, leader, owned = self.ring()
        done = leader is not None and leader.state != "paused" and owned == self.num_partitions
        key = (leader.id, tuple(o.id for o in owners)) if done else None
        if key == self._complete:
            return
        was, self._complete = self._complete, key
        if done:
            by: dict = {}
            for p, o in enumerate(owners):
                by.setdefault(o.id, []).append(p)
            shares = " ".join(f"{nid}[{format_ranges(ps)}]" for nid, ps in sorted(by.items()))
            self._print(f"ring complete: leader {leader.id} (epoch {leader.epoch}), "
                        f"all {self.num_partitions} partitions owned: {shares}")
        elif was is not None:
            missing = [p for p, o in enumerate(owners) if o is None or o.state == "paused"]
            why = "no leader" if leader is None or leader.state == "paused" else f"not owned: [{format_ranges(missing)}]"
            self._print(f"ring incomplete: {why}")

    def info(self) -> dict:
        _, leader, owned = self.ring()
        return {
            "pid": os.getpid(), "dir": self.dir, "base_port": self.base_port, "control_socket": self.ctl_path,
            "num_partitions": self.num_partitions, "leader": leader.id if leader else None,
            "epoch": leader.epoch if leader else None, "partitions_owned": owned,
            "complete": self.complete(), "nodes": [n.info() for n in self.nodes],
        }

    def serve_control(self):
        while True:
            try:
                conn, _ = self.ctl.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                conn.setblocking(True)
                conn.settimeout(2.0)
                data = b""
                while b"\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    msg = json.loads(data)
                    action, name = msg.get("cmd"), msg.get("node")
                except (ValueError, AttributeError):
                    ok, text = False, "bad request: expected one JSON line"
                else:
                    if action not in ACTIONS:
                        ok, text = False, f"unknown command {action!r}: expected one of {', '.join(ACTIONS)}"
                    else:
                        ok, text = self.do(action, name)
                        if text and action != "nodes":
                            self._message = f"(control) {text}"
                conn.sendall(json.dumps({"ok": ok, "message": text, "cluster": self.info()}).encode() + b"\n")
            except OSError:
                pass
            finally:
                conn.close()

    # -- keyboard

    def on_key(self, ch: str):
        self._dirty = True
        if self._pending is not None:
            if ch.isdigit():
                self._digits += ch
                if int(self._digits) * 10 > len(self.nodes):
                    self._run_pending()
                return
            if ch in ("\r", "\n"):
                if self._digits:
                    self._run_pending()
                else:
                    self._pending = None
                return
            if ch in ("\x7f", "\b"):
                self._digits = self._digits[:-1]
                return
            self._pending, self._digits = None, ""
            if ch == "\x1b":
                self._message = "cancelled"
                return
        if ch in ("k", "p", "r", "s"):
            self._pending, self._digits = ch, ""
            if len(self.nodes) == 1:
                self._digits = "1"
                self._run_pending()
        elif ch == "q":
            self.quit = "q pressed"
        elif ch in ("\x1b", "\r", "\n", " "):
            pass
        else:
            self._message = f"key {ch!r}: press k, p, r or s then a node number, or q to quit"

    def _run_pending(self):
        action = {"k": "kill", "p": "toggle", "r": "restart", "s": "stop"}[self._pending]
        name = self._digits
        self._pending, self._digits = None, ""
        ok, text = self.do(action, name)
        self._message = text

    # -- drawing

    def _color(self, node: DevNode | None, text: str) -> str:
        if node is None:
            return f"\x1b[2m{text}\x1b[0m"
        codes = ["32", "33", "34", "35", "36", "31", "92", "93", "94", "95", "96", "91"]
        return f"\x1b[{codes[(node.index - 1) % len(codes)]}m{text}\x1b[0m"

    def view(self, width: int = 100, height: int = 40, color: bool = False, keys: bool = True) -> list[str]:
        a = self.args
        c = (lambda n, t: self._color(n, t)) if color else (lambda n, t: t)
        up = int(time.monotonic() - self.started_at)
        lines = [
            f"ringfast dev-cluster: {self.n} nodes, {self.num_partitions} partitions, "
            f"heartbeat {a.heartbeat_ms} ms, check {a.check_ms} ms, up {up // 60}:{up % 60:02d}",
            f"dir {self.dir}   elsewhere: ringfast dev-cluster kill n2 | ringfast status {HOST}:{self.base_port + MONITORING_OFFSET}",
            "",
            f"{'NODE':<5} {'PID':>7}  {'STATE':<8} {'ROLE':<9} {'EPOCH':<11} {'PORT':>5} {'HTTP':>5}  PARTITIONS",
        ]
        for n in self.nodes:
            row = (f"{n.id:<5} {n.pid or '-':>7}  {n.state:<8} {n.role or '-':<9} {n.epoch or '-':<11} "
                   f"{n.port:>5} {n.monitoring_port:>5}  ")
            parts = format_ranges(n.partitions) if n.alive else "-"
            if n.state == "dead" and n.exit_status:
                parts += f"   ({n.exit_status})"
            lines.append(c(n, row) + parts)
        owners, leader, owned = self.ring()
        lines.append("")
        if leader is None:
            summary = "no leader"
        else:
            summary = f"leader {leader.id}, epoch {leader.epoch}" + (" (paused)" if leader.state == "paused" else "")
        missing = [p for p, o in enumerate(owners) if o is None or o.state == "paused"]
        if missing:
            summary += f"; {owned}/{self.num_partitions} partitions owned, not owned: {format_ranges(missing)}"
        else:
            summary += f"; all {self.num_partitions} partitions owned"
        lines.append(summary)
        cells = []
        for p, o in enumerate(owners):
            label = "--" if o is None else o.id + ("*" if o.state == "paused" else "")
            cells.append((f"{p}:{label}", o))
        row, row_len, first = "ring  ", 6, True
        for text, o in cells:
            if row_len + len(text) + 1 > width - 1 and not first:
                lines.append(row)
                row, row_len = "      ", 6
            row += c(o, text) + " "
            row_len += len(text) + 1
            first = False
        lines.append(row)
        if any(o is not None and o.state == "paused" for o in owners):
            lines.append("      (* held by a paused node)")
        footer = [
            "",
            "keys: k N kill -9 | p N pause/resume | r N restart | s N stop | q quit   (N: node number, e.g. k 2)",
        ]
        if self._pending:
            verb = {"k": "kill -9", "p": "pause/resume", "r": "restart", "s": "stop"}[self._pending]
            footer.append(f"> {verb} node number: {self._digits}_   (Enter: go, Esc: cancel)")
        else:
            footer.append(f"> {self._message}" if self._message else "")
        if not keys:
            footer = []
        room = max(3, min(EVENTS_SHOWN, height - len(lines) - len(footer) - 3))
        lines += ["", "events"] + list(self.events)[-room:]
        return [_truncate(ln, width - 1) for ln in lines + footer]

    def draw(self):
        size = shutil.get_terminal_size((100, 40))
        lines = self.view(size.columns, size.lines, color=True)
        buf = "\x1b[H" + "".join(ln + "\x1b[K\n" for ln in lines[: max(1, size.lines - 1)]) + "\x1b[J"
        try:
            self.out.write(buf)
            self.out.flush()
        except (OSError, ValueError):  # a closed pipe or terminal: keep stopping the nodes
            pass
        self._dirty = False
        self._last_draw = time.monotonic()

    # -- running

    def _on_signal(self, signum, frame):
        self.signals += 1
        self.quit = self.quit or signal.Signals(signum).name
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def _enter_tty(self):
        try:
            fd = sys.stdin.fileno()
            self.tty_in = os.isatty(fd)
        except (AttributeError, ValueError, OSError):
            self.tty_in = False
        if self.tty_in:
            # keys only in the foreground: a background job touching the tty would be stopped (SIGTTOU)
            try:
                self.tty_in = os.tcgetpgrp(fd) == os.getpgrp()
            except OSError:  # a terminal but not our controlling one: no job control to fear
                pass
        if self.tty_in:
            import termios
            import tty

            self._saved_tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)  # keys one at a time, no echo; Ctrl-C still sends SIGINT
        if self.tty_out:
            self.out.write("\x1b[?25l\x1b[H\x1b[2J")  # hide the cursor, clear
            self.out.flush()

    def _leave_tty(self):
        if self._saved_tty is not None:
            import termios

            try:
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved_tty)
            except (OSError, termios.error):
                pass
            self._saved_tty = None
        if self.tty_out:
            try:
                self.out.write("\x1b[0m\x1b[?25h")
                self.out.flush()
            except (OSError, ValueError):
                pass

    def run(self) -> int:
        a = self.args
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
            for node in self.nodes:
                self.start_node(node)
            return self._loop()
        finally:
            try:
                self.shutdown()
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
            n.state, n.exit_status = "dead", _describe_exit(n.proc.returncode)
        self._print("stopped: " + ", ".join(f"{n.id} (pid {n.pid}) {n.exit_status}" for n in alive))


# ---------------------------------------------------------------------------- entry points


def _node_table(info: dict) -> str:
    rows = [("NODE", "PID", "STATE", "ROLE", "EPOCH", "PORT", "HTTP", "PARTITIONS")]
    for n in info["nodes"]:
        rows.append((n["id"], str(n["pid"] or "-"), n["state"], n["role"] or "-", str(n["epoch"] or "-"),
                     str(n["port"]), str(n["monitoring_port"]), format_ranges(n["partitions"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"dev-cluster pid {info['pid']}, dir {info['dir']}; leader {info['leader'] or '-'}, "
             f"epoch {info['epoch'] or '-'}, {info['partitions_owned']}/{info['num_partitions']} partitions owned"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _control(args) -> int:
    if args.action in NODE_ACTIONS and not args.node:
        raise ConfigError(f"dev-cluster {args.action}: which node? (e.g. ringfast dev-cluster {args.action} n2)")
    if args.action not in NODE_ACTIONS and args.node:
        raise ConfigError(f"dev-cluster {args.action} takes no node")
    if args.base_port is not None:
        path = control_socket_path(args.base_port)
        if not os.path.exists(path):
            print(f"ringfast: no dev-cluster with --base-port {args.base_port} is running (no {path})", file=sys.stderr)
            return 1
    else:
        live = _live_sockets()
        if not live:
            print(f"ringfast: no dev-cluster is running (no control socket in {control_dir(create=False)})",
                  file=sys.stderr)
            return 1
        if len(live) > 1:
            ports = ", ".join(str(p) for p, _ in live)
            print(f"ringfast: several dev-clusters are running (base ports {ports}): choose one with --base-port",
                  file=sys.stderr)
            return 1
        path = live[0][1]
    try:
        reply = _request(path, {"cmd": args.action, "node": args.node})
    except (ConnectionRefusedError, FileNotFoundError):
        print(f"ringfast: no dev-cluster with --base-port {args.base_port} is running (stale {path})", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"ringfast: cannot talk to the dev-cluster at {path}: {e}", file=sys.stderr)
        return 1
    if args.action == "nodes":
        print(json.dumps(reply["cluster"], indent=2) if args.json else _node_table(reply["cluster"]))
        return 0
    if args.json:
        print(json.dumps(reply, indent=2))
    if not reply.get("ok"):
        print(f"ringfast: {reply.get('message')}", file=sys.stderr)
        return 1
    if not args.json:
        print(reply.get("message"))
    return 0


def run_dev_cluster(args) -> int:
    if args.action is not None:
        return _control(args)
    if args.node is not None:
        raise ConfigError(f"unexpected argument {args.node!r}")
    if args.base_port is None:
        args.base_port = DEFAULT_BASE_PORT
    return DevCluster(args).run()


def _status_url(url: str) -> str:
    url = url.strip()
    if url.isdigit():
        url = f"{HOST}:{url}"
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"URL={url!r}: expected http://host:port")
    path = parts.path.rstrip("/")
    if not path.endswith("/status"):
        path += "/status"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def format_status(doc: dict, url: str) -> str:
    me = doc.get("node") or {}
    members = doc.get("members") or []
    total = doc.get("num_partitions")
    owned = set()
    for m in members:
        owned |= set(m.get("partitions") or [])
    lines = [f"{url}: node {me.get('id')} ({me.get('address')}), {me.get('role')}"]
    summary = f"leader: {doc.get('leader') or '-'}   epoch: {doc.get('epoch')}   partitions: {total}"
    if isinstance(total, int):
        missing = sorted(set(range(total)) - owned)
        summary += " (all owned)" if not missing else f" (not owned: {format_ranges(missing)})"
    lines += [summary, ""]
    rows = [("ID", "ADDRESS", "PRIORITY", "ROLE", "PARTITIONS")]
    for m in members:
        ps = m.get("partitions") or []
        rows.append((str(m.get("id")) + (" *" if m.get("id") == me.get("id") else ""), str(m.get("address")),
                     str(m.get("priority")), str(m.get("role")),
                     f"{format_ranges(ps)} ({len(ps)})" if ps else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if not members:
        lines.append("(no members known to this node)")
    lines.append("(* the node that answered)")
    return "\n".join(lines)


def run_status(args) -> int:
    url = _status_url(args.url)
    try:
        with _no_proxy_open(url, args.timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        print(f"ringfast: {url} answered {e.code} {e.reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        print(f"ringfast: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("members", []), list):
            raise ValueError("not a /status document")
    except ValueError as e:
        print(f"ringfast: {url} did not answer a ringfast /status document ({e})", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2) if args.json else format_status(doc, url))
    return 0
