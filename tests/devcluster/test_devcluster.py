"""`ringfast dev-cluster` and `ringfast status` from the outside: real processes.

- driven from "another terminal": `ringfast dev-cluster kill|pause|resume|restart|stop nX` and
  `nodes --json` through the control socket, effects checked over HTTP and by pid;
- driven from the keyboard: dev-cluster on a pseudo-terminal (its controlling tty), keys written
  to the master side, Ctrl-C as the tty's interrupt character;
- `ringfast status URL` on the live cluster and on a dead port; a busy port; `--once`.

Every process started is stopped by pid at teardown, pass or fail (the dev-cluster by SIGTERM, then SIGKILL,
then every node pid it ever reported). Waiting is deadline-based polling, never a bare sleep.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import urllib.request
from pathlib import Path

import pytest

from ringfast.devcluster.processes import port_free
from support import ephemeral_low, wait_for

pytestmark = pytest.mark.cluster

HOST = "127.0.0.1"
NODES = 3
PARTITIONS = 10
MON = 100  # monitoring port offset
TIMEOUT = 45.0  # generous: other test suites may load the machine
NODE_ENV = ("NODE_ID", "HOST", "PORT", "SEED_NODES", "MONITORING_PORT", "MONITORING_HOST", "NUM_PARTITIONS",
            "HEART_BEAT_FREQUENCY", "HEART_BEAT_CHECK_FREQUENCY", "TIME_TO_RECONNECT", "PRIORITY", "LOG_LEVEL")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RINGFAST = [sys.executable, "-m", "ringfast"]


# ---------------------------------------------------------------------------- helpers


def pick_base_port(n: int = NODES) -> int:
    """A base port such that base..base+n-1 and base+100..base+100+n-1 are free.

    Candidates come from below the ephemeral range when there is room (the nodes' own outgoing
    connections, and everyone else's, take ports from that range, so a port picked there can be
    taken again before the node binds it), else from bind(0). Each candidate is checked by binding
    every port; callers still retry when the dev-cluster reports a port in use."""
    low = ephemeral_low()
    rng = random.Random()
    for attempt in range(200):
        if low - 1 - MON - n > 10000 and attempt < 150:
            base = rng.randrange(10000, low - MON - n)
        else:
            s = socket.socket()
            s.bind((HOST, 0))
            base = s.getsockname()[1]
            s.close()
        if base + MON + n - 1 > 65535:
            continue
        if all(port_free(base + i) and port_free(base + MON + i) for i in range(n)):
            return base
    raise AssertionError("no free base port found")


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def proc_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat (R, S, T for stopped, Z...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_status(port: int) -> dict | None:
    try:
        with _OPENER.open(f"http://{HOST}:{port}/status", timeout=2) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def clean_env(runtime_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in NODE_ENV and not k.startswith("RINGFAST_")}
    env.pop("PYTHONPATH", None)
    env.update(XDG_RUNTIME_DIR=runtime_dir, PYTHONUNBUFFERED="1")
    return env


class DevCluster:
    """One `ringfast dev-cluster` process started by a test, and what it reported."""

    def __init__(self, base: int, env: dict, cwd: Path, tty: bool):
        self.base, self.env, self.cwd, self.tty = base, env, cwd, tty
        self.proc: subprocess.Popen | None = None
        self.pids: set[int] = set()  # every node pid ever seen
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = None
        self.master = self.slave = None
        self.out_path = cwd / f"dev-cluster-{base}.out"

    def args(self, extra=()):
        return [*RINGFAST, "dev-cluster", "--nodes", str(NODES), "--partitions", str(PARTITIONS),
                "--heartbeat-ms", "100", "--check-ms", "500", "--base-port", str(self.base),
                "--stop-timeout", "10", *extra]

    def start(self, extra=()):
        if not self.tty:
            self._out = open(self.out_path, "wb")
            self.proc = subprocess.Popen(self.args(extra), stdin=subprocess.DEVNULL, stdout=self._out,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                         start_new_session=True)
            return self
        self.master, self.slave = os.openpty()
        import fcntl

        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 130, 0, 0))
        self.saved_attrs = termios.tcgetattr(self.slave)
        # a new session whose controlling terminal is the pty, then exec the dev-cluster (same pid)
        boot = ("import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")
        self.proc = subprocess.Popen([sys.executable, "-c", boot, *self.args(extra)[1:]],
                                     stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     env=self.env, cwd=self.cwd, close_fds=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._buf += data

    def output(self) -> str:
        if self.tty:
            with self._lock:
                return bytes(self._buf).decode("utf-8", "replace")
        return self.out_path.read_bytes().decode("utf-8", "replace") if self.out_path.exists() else ""

    def text(self) -> str:
        return ANSI.sub("", self.output())

    def press(self, keys: str):
        os.write(self.master, keys.encode())

    def control(self, *args, check=True) -> subprocess.CompletedProcess:
        cp = subprocess.run([*RINGFAST, "dev-cluster", *args, "--base-port", str(self.base)],
                            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=30)
        if check:
            assert cp.returncode == 0, f"dev-cluster {args}: exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
        return cp

    @property
    def socket_path(self) -> str:
        return os.path.join(self.env["XDG_RUNTIME_DIR"], "ringfast", f"dev-cluster-{self.base}.sock")

    def ask(self, cmd: str, node: str | None = None) -> dict:
        """One request on the control socket, speaking its documented protocol directly (cheaper
        than a `ringfast dev-cluster nodes` process for polling)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(self.socket_path)
            s.sendall(json.dumps({"cmd": cmd, "node": node}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        reply = json.loads(data)
        for n in reply["cluster"]["nodes"]:
            self.pids.update(n["pids"])
        return reply

    def nodes(self, cli: bool = False) -> dict:
        if cli:
            info = json.loads(self.control("nodes", "--json").stdout)
            for n in info["nodes"]:
                self.pids.update(n["pids"])
            return info
        return self.ask("nodes")["cluster"]

    def node(self, node_id: str) -> dict:
        return next(n for n in self.nodes()["nodes"] if n["id"] == node_id)

    def mport(self, node_id: str) -> int:
        return self.base + MON + int(node_id[1:]) - 1

    def ring(self, expect_members: set[str]):
        """The leader's /status if it lists exactly expect_members and every partition is owned
        exactly once by a follower; else None."""
        for nid in sorted(expect_members):
            doc = get_status(self.mport(nid))
            if not doc or doc["node"]["role"] != "leader" or doc["leader"] != nid:
                continue
            members = {m["id"] for m in doc["members"]}
            owned = sorted(p for m in doc["members"] for p in m["partitions"])
            if members == expect_members and owned == list(range(PARTITIONS)):
                return doc
        return None

    def wait_ring(self, expect_members: set[str], timeout=TIMEOUT) -> dict:
        return wait_for(lambda: self.ring(expect_members), timeout,
                        what=f"a leader listing {sorted(expect_members)} with all {PARTITIONS} partitions owned "
                        f"(output so far:\n{self.text()[-3000:]})")

    def close(self):
        """Teardown: stop everything by pid, whatever state the test left."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.nodes()
                except Exception:
                    pass
                self.proc.terminate()  # lets it stop its nodes and remove its files
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for pid in re.findall(r"started n\d+ \(pid (\d+)", self.text()):
                self.pids.add(int(pid))
            for pid in self.pids:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
            self._stop.set()
            if self._reader is not None:
                self._reader.join(timeout=5)
            for fd in (self.master, self.slave):
                if fd is not None:
                    os.close(fd)
            if not self.tty and hasattr(self, "_out"):
                self._out.close()


@pytest.fixture
def runtime_dir():
    d = tempfile.mkdtemp(prefix="rfdc-")  # short: a Unix socket path must fit in ~100 bytes
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def launch(tmp_path, runtime_dir):
    started: list[DevCluster] = []

    def start(tty=False, extra=()) -> DevCluster:
        for _ in range(5):  # a port taken between our check and its check: pick another base
            dc = DevCluster(pick_base_port(), clean_env(runtime_dir), tmp_path, tty)
            started.append(dc)
            dc.start(extra)
            # up when its control socket answers (or it exited: port busy -> exit 2)
            wait_for(lambda: dc.proc.poll() is not None or _answers(dc), 30, what="the control socket")
            if dc.proc.poll() == 2 and "in use" in dc.text():
                continue
            assert dc.proc.poll() is None, f"dev-cluster exited {dc.proc.returncode}:\n{dc.text()}"
            # every node up (its /status answers), or one died: a port taken after the dev-cluster's check
            wait_for(lambda: any(n["state"] == "dead" for n in dc.nodes()["nodes"])
                     or all(get_status(dc.mport(f"n{i}")) for i in range(1, NODES + 1)), TIMEOUT, what="every node up")
            if any(n["state"] == "dead" for n in dc.nodes()["nodes"]) and "in use" in dc.text():
                dc.close()
                continue
            return dc
        raise AssertionError("could not start a dev-cluster on free ports")

    try:
        yield start
    finally:
        for dc in started:
            dc.close()


def _answers(dc: DevCluster) -> bool:
    try:
        return bool(dc.ask("nodes"))
    except (OSError, ValueError):
        return False


def assert_all_gone(pids, timeout=15):
    wait_for(lambda: all(pid_gone(p) for p in pids), timeout,
             what=f"every node pid gone: {sorted(p for p in pids if not pid_gone(p))} still there")


# ---------------------------------------------------------------------------- tests


def test_driven_from_another_terminal(launch):
    dc = launch()
    everyone = {f"n{i}" for i in range(1, NODES + 1)}
    doc = dc.wait_ring(everyone)
    leader = doc["leader"]
    info = dc.nodes(cli=True)  # `ringfast dev-cluster nodes --json`
    assert [n["state"] for n in info["nodes"]] == ["running"] * NODES, info
    pids = {n["id"]: n["pid"] for n in info["nodes"]}
    assert all(not pid_gone(p) for p in pids.values())

    # ringfast status against the live cluster: the leader and every member
    cp = subprocess.run([*RINGFAST, "status", f"http://{HOST}:{dc.mport('n1')}"], capture_output=True,
                        text=True, timeout=30, env=dc.env)
    assert cp.returncode == 0, cp.stderr
    assert f"leader: {leader}" in cp.stdout, cp.stdout
    for nid in everyone:
        assert re.search(rf"^{nid}\b.*127\.0\.0\.1:{dc.base + int(nid[1:]) - 1}", cp.stdout, re.M), cp.stdout

    followers = sorted(everyone - {leader})
    victim, other = followers[0], followers[1]

    # pause / resume: the process is stopped (T) and continued, and the dev-cluster says so
    dc.control("pause", victim)
    wait_for(lambda: proc_state(pids[victim]) == "T", 10, what=f"{victim} stopped")
    assert dc.node(victim)["state"] == "paused"
    dc.control("resume", victim)
    wait_for(lambda: proc_state(pids[victim]) not in ("T", None), 10, what=f"{victim} continued")
    assert dc.node(victim)["state"] == "running"
    dc.wait_ring(everyone)

    # kill -9: the pid is gone, the leader drops it and its partitions move to the others
    cp = dc.control("kill", victim)
    assert victim in cp.stdout
    wait_for(lambda: pid_gone(pids[victim]), 15, what=f"{victim} pid {pids[victim]} gone")
    doc = dc.wait_ring(everyone - {victim})
    assert {m["id"] for m in doc["members"]} == everyone - {victim}
    assert get_status(dc.mport(victim)) is None
    wait_for(lambda: dc.node(victim)["state"] == "dead", 10, what="dev-cluster reports it dead")

    # restart: same id and ports, a new pid, back in the ring with partitions
    dc.control("restart", victim)
    new = wait_for(lambda: (n := dc.node(victim))["state"] == "running" and n["pid"] != pids[victim] and n, 15,
                   what=f"{victim} restarted")
    # (a rejoining member is listed before the others have handed partitions over: wait for them)
    wait_for(lambda: (d := dc.ring(everyone)) and next(m for m in d["members"] if m["id"] == victim)["partitions"],
             TIMEOUT, what=f"{victim} back with partitions")
    assert get_status(dc.mport(victim))["node"]["id"] == victim
    assert not pid_gone(new["pid"])

    # graceful stop: exit code 0
    dc.control("stop", other)
    wait_for(lambda: dc.node(other)["exit"] == "exited with code 0", 20, what=f"{other} exited 0")
    dc.wait_ring(everyone - {other})

    # an unknown node is refused
    bad = dc.control("kill", "n9", check=False)
    assert bad.returncode == 1 and "n9" in bad.stderr

    info = dc.nodes()
    all_pids = set(dc.pids)
    assert len(all_pids) == NODES + 1
    sock = info["control_socket"]
    workdir = info["dir"]

    # Ctrl-C: every node stopped, waited for by pid, exit 0, socket and temporary dir removed
    dc.proc.send_signal(signal.SIGINT)
    assert dc.proc.wait(timeout=30) == 0, dc.text()
    assert_all_gone(all_pids)
    assert "stopped:" in dc.text()
    assert not os.path.exists(sock)
    assert not os.path.exists(workdir)


def test_keyboard_on_a_terminal(launch):
    dc = launch(tty=True)
    everyone = {f"n{i}" for i in range(1, NODES + 1)}
    doc = dc.wait_ring(everyone)
    pids = {n["id"]: n["pid"] for n in dc.nodes()["nodes"]}
    victim, other = sorted(everyone - {doc["leader"]})

    # the live view is drawn in place (cursor home), with the nodes and the ring
    wait_for(lambda: "\x1b[H" in dc.output() and "ring " in dc.text() and f"{pids['n1']}" in dc.text(), 20,
             what="the live view")

    # k N: kill -9 node N
    dc.press("k" + victim[1:])
    wait_for(lambda: f"kill -9 {victim} (pid {pids[victim]})" in dc.text(), 15, what="the kill on screen")
    wait_for(lambda: pid_gone(pids[victim]), 15, what=f"{victim} pid gone")
    wait_for(lambda: f"{victim} (pid {pids[victim]}) killed by SIGKILL" in dc.text(), 15, what="its death on screen")
    dc.wait_ring(everyone - {victim})

    # p N twice: pause, then resume
    dc.press("p" + other[1:])
    wait_for(lambda: proc_state(pids[other]) == "T", 10, what=f"{other} stopped")
    wait_for(lambda: f"paused {other}" in dc.text(), 10, what="the pause on screen")
    dc.press("p" + other[1:])
    wait_for(lambda: proc_state(pids[other]) not in ("T", None), 10, what=f"{other} continued")
    wait_for(lambda: f"resumed {other}" in dc.text(), 10, what="the resume on screen")

    # r N: restart the killed node
    dc.press("r" + victim[1:])
    new_pid = wait_for(lambda: (n := dc.node(victim))["state"] == "running" and n["pid"], 15, what="restart")
    assert new_pid != pids[victim]
    dc.wait_ring(everyone)

    all_pids = set(dc.pids)
    # Ctrl-C typed on the terminal: SIGINT from the tty driver; exit 0, nothing left, tty restored
    dc.press("\x03")
    assert dc.proc.wait(timeout=30) == 0, dc.text()[-3000:]
    assert_all_gone(all_pids)
    attrs = termios.tcgetattr(dc.slave)
    assert attrs[3] & (termios.ICANON | termios.ECHO) == dc.saved_attrs[3] & (termios.ICANON | termios.ECHO)
    assert "\x1b[?25h" in dc.output()  # cursor shown again


def test_once_with_dir(tmp_path, runtime_dir):
    workdir = tmp_path / "kept"
    workdir.mkdir()
    # a journal left by an earlier run in the same --dir: kept, but not replayed into the view
    stale = [{"t": 0, "node": "n1", "event": "leader", "leader": "n1", "epoch": 12345},
             {"t": 0, "node": "n1", "event": "assigned", "partitions": list(range(PARTITIONS)), "epoch": 12345}]
    (workdir / "n1.journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    for _ in range(5):  # retried only when a port was taken between our check and its own
        cp = subprocess.run([*RINGFAST, "dev-cluster", "--nodes", "3", "--heartbeat-ms", "100", "--check-ms", "500",
                             "--base-port", str(pick_base_port()), "--dir", str(workdir), "--once", "--duration", "40"],
                            capture_output=True, text=True, timeout=90, env=clean_env(runtime_dir), cwd=tmp_path)
        if not (cp.returncode == 2 and "in use" in cp.stderr):
            break
    pids = {int(p) for p in re.findall(r"started n\d \(pid (\d+)", cp.stdout)}
    try:
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert "ring complete: leader n" in cp.stdout
        assert re.search(r"^n1\s+\d+\s+running", cp.stdout, re.M), cp.stdout
        assert len(pids) == 3
        assert_all_gone(pids, timeout=5)
        journals = sorted(p.name for p in workdir.iterdir())
        assert journals == [f"n{i}.{kind}" for i in (1, 2, 3) for kind in ("journal.jsonl", "log", "state")]
        events = [json.loads(line)["event"] for i in (1, 2, 3) for line in (workdir / f"n{i}.journal.jsonl").open()]
        assert "leader" in events[2:] and "assigned" in events[2:]
        assert "12345" not in cp.stdout, cp.stdout
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_busy_port_is_named(tmp_path, runtime_dir):
    for _ in range(10):  # the picked range may be taken by someone else before we hold it
        base = pick_base_port()
        busy = base + MON + 1  # n2's monitoring port
        s = socket.socket()
        try:
            s.bind((HOST, busy))
            break
        except OSError:
            s.close()
    s.listen(1)
    try:
        cp = subprocess.run([*RINGFAST, "dev-cluster", "--base-port", str(base)], capture_output=True, text=True,
                            timeout=30, env=clean_env(runtime_dir), cwd=tmp_path)
    finally:
        s.close()
    assert cp.returncode == 2, cp.stdout + cp.stderr
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and str(busy) in lines[0] and "n2" in lines[0], cp.stderr
    assert "started" not in cp.stdout
    assert not [f for _, _, files in os.walk(runtime_dir) for f in files], "no control socket left"


def test_status_unreachable_exits_1(runtime_dir):
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()  # bound then closed: nothing listens there
    cp = subprocess.run([*RINGFAST, "status", f"http://{HOST}:{port}"], capture_output=True, text=True, timeout=30,
                        env=clean_env(runtime_dir))
    assert cp.returncode == 1
    assert len(cp.stderr.strip().splitlines()) == 1 and str(port) in cp.stderr, cp.stderr
    assert cp.stdout == ""


def test_control_without_a_running_dev_cluster(runtime_dir, tmp_path):
    cp = subprocess.run([*RINGFAST, "dev-cluster", "kill", "n2"], capture_output=True, text=True, timeout=30,
                        env=clean_env(runtime_dir), cwd=tmp_path)
    assert cp.returncode == 1 and "no dev-cluster is running" in cp.stderr, cp.stderr
