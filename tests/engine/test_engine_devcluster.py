"""`ringfast dev-cluster --backend etcd|zookeeper`: the dev-cluster starts a local engine,
runs its nodes on it, lets the engine be paused and resumed, and stops it (by its pid) at
exit. Real processes; every pid the dev-cluster reports is killed at teardown."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from support import ephemeral_low, wait_for

from ringfast.devcluster.control import _request
from ringfast.devcluster.engines import missing
from ringfast.devcluster.processes import ENGINE_OFFSET, MONITORING_OFFSET, port_free

pytestmark = pytest.mark.cluster

RINGFAST = [sys.executable, "-m", "ringfast"]
NODES, PARTITIONS = 3, 10


def need(backend: str):
    why = missing(backend)
    if why:
        if os.environ.get("RINGFAST_REQUIRE_ENGINES"):
            pytest.fail(f"{why} and RINGFAST_REQUIRE_ENGINES is set")
        pytest.skip(why)


def base_port() -> int:
    """A base port whose monitoring ports and engine ports are free, below the ephemeral range."""
    rng = random.Random()
    top = min(ephemeral_low(), 65536) - ENGINE_OFFSET - 2
    for _ in range(200):
        base = rng.randrange(10000, top)
        ports = [base + MONITORING_OFFSET + i for i in range(NODES)] + [base + ENGINE_OFFSET, base + ENGINE_OFFSET + 1]
        if all(port_free(p) for p in ports):
            return base
    raise AssertionError("no free base port")


@pytest.fixture
def env(tmp_path):
    runtime = tempfile.mkdtemp(prefix="rfde-")  # short: the control socket's path must fit
    e = {k: v for k, v in os.environ.items() if not k.startswith("RINGFAST_")}
    e.update(XDG_RUNTIME_DIR=runtime, PYTHONUNBUFFERED="1")
    yield e
    import shutil

    shutil.rmtree(runtime, ignore_errors=True)


def pids_in(text: str) -> set[int]:
    return {int(p) for p in re.findall(r"started \S+ \(pid (\d+)", text)}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie not yet reaped by init counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def kill_all(pids):
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


# the ZooKeeper run in the long run (the README's test command stays under 5 minutes)
@pytest.mark.parametrize("backend", ["etcd", pytest.param("zookeeper", marks=pytest.mark.long)])
def test_once_on_a_local_engine(backend, env, tmp_path):
    need(backend)
    workdir = tmp_path / "kept"
    base = base_port()
    cp = subprocess.run([*RINGFAST, "dev-cluster", "--backend", backend, "--nodes", str(NODES),
                         "--partitions", str(PARTITIONS), "--check-ms", "2000", "--heartbeat-ms", "500",
                         "--base-port", str(base), "--dir", str(workdir), "--once", "--duration", "60"],
                        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    pids = pids_in(cp.stdout)
    try:
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert "ring complete: leader n" in cp.stdout, cp.stdout
        engine_pid = re.search(r"started (?:etcd|ZooKeeper) \(pid (\d+)\) at (\S+),", cp.stdout)
        assert engine_pid, cp.stdout
        endpoints = engine_pid.group(2)
        assert str(base + ENGINE_OFFSET) in endpoints
        assert f"backend {backend}: {endpoints}" in cp.stdout
        # the nodes ran on that engine, not on the built-in protocol
        for i in range(1, NODES + 1):
            log = (workdir / f"n{i}.log").read_text()
            assert f"in {backend} at" in log, log
            assert "SEED_NODES is ignored" not in log, log
        assert len(pids) == NODES + 1
        wait_for(lambda: all(gone(p) for p in pids), 15, what=f"every pid gone: {sorted(pids)}")
        assert (workdir / f"{backend}-data").is_dir()
    finally:
        kill_all(pids)


def _ask(path: str, cmd: str, node: str | None = None) -> dict:
    return _request(path, {"cmd": cmd, "node": node})  # the control socket's own client


@pytest.mark.long  # about 5 s
def test_pausing_the_engine_fences_every_node_and_resuming_heals(env, tmp_path):
    """`ringfast dev-cluster pause engine`: every node gives its partitions up within its
    lease (nobody holds anything while the engine is frozen); `resume engine`: the ring forms
    again. `kill engine` is refused, naming what the engine takes."""
    need("etcd")
    base = base_port()
    out = open(tmp_path / "dc.out", "wb")
    proc = subprocess.Popen([*RINGFAST, "dev-cluster", "--backend", "etcd", "--nodes", str(NODES),
                             "--partitions", str(PARTITIONS), "--check-ms", "2000", "--heartbeat-ms", "500",
                             "--base-port", str(base)], stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    sock = os.path.join(env["XDG_RUNTIME_DIR"], "ringfast", f"dev-cluster-{base}.sock")
    text = lambda: (tmp_path / "dc.out").read_text(errors="replace")
    seen: set[int] = set()

    def cluster() -> dict:
        info = _ask(sock, "nodes")["cluster"]
        for n in info["nodes"]:
            seen.update(n["pids"])
        if info["engine"] and info["engine"]["pid"]:
            seen.add(info["engine"]["pid"])
        return info

    try:
        wait_for(lambda: os.path.exists(sock) and cluster()["complete"], 60,
                 what=f"a complete ring on etcd (output:\n{text()[-3000:]})")
        info = cluster()
        assert info["engine"]["backend"] == "etcd" and info["engine"]["state"] == "running"
        engine_pid = info["engine"]["pid"]

        cp = subprocess.run([*RINGFAST, "dev-cluster", "pause", "engine", "--base-port", str(base)],
                            capture_output=True, text=True, timeout=30, env=env)
        assert cp.returncode == 0, cp.stderr
        assert "paused" in cp.stdout
        with open(f"/proc/{engine_pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "T"
        assert cluster()["engine"]["state"] == "paused"
        paused_at = time.monotonic()
        wait_for(lambda: all(not n["partitions"] for n in cluster()["nodes"]), 15,
                 what=f"every node gives its partitions up (output:\n{text()[-3000:]})")
        # within the lease (2 s, less the margin), with room for the journal being read
        assert time.monotonic() - paused_at < 6

        cp = subprocess.run([*RINGFAST, "dev-cluster", "kill", "engine", "--base-port", str(base)],
                            capture_output=True, text=True, timeout=30, env=env)
        assert cp.returncode == 1 and "only pause and resume" in cp.stderr, cp.stderr

        assert _ask(sock, "resume", "engine")["ok"]
        wait_for(lambda: cluster()["complete"], 60, what=f"the ring again after resume (output:\n{text()[-3000:]})")
        assert all(n["state"] == "running" for n in cluster()["nodes"])

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        wait_for(lambda: all(gone(p) for p in seen), 15, what=f"every pid gone (engine {engine_pid})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        out.close()
        kill_all(seen | pids_in(text()))


def test_refusals_name_the_setting(env, tmp_path):
    """Without an engine binary, with --engine but no engine backend, and with the engine's
    port taken: exit 2, one line naming what is wrong. Needs no engine."""
    base = base_port()
    bare = dict(env, PATH=os.path.dirname(sys.executable))  # no etcd, no java
    cp = subprocess.run([*RINGFAST, "dev-cluster", "--backend", "etcd", "--base-port", str(base), "--once"],
                        capture_output=True, text=True, timeout=30, env=bare, cwd=tmp_path)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "--backend=etcd: cannot start a local etcd: no etcd binary on PATH" in cp.stderr
    assert "apt-get install etcd-server" in cp.stderr and "--engine" in cp.stderr
    cp = subprocess.run([*RINGFAST, "dev-cluster", "--backend", "zookeeper", "--base-port", str(base), "--once"],
                        capture_output=True, text=True, timeout=30, env=bare, cwd=tmp_path)
    assert cp.returncode == 2 and "no java on PATH" in cp.stderr, cp.stderr

    cp = subprocess.run([*RINGFAST, "dev-cluster", "--engine", "http://127.0.0.1:2379", "--once"],
                        capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
    assert cp.returncode == 2
    assert "--engine=http://127.0.0.1:2379: only with --backend etcd or zookeeper" in cp.stderr

    if missing("etcd") is None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", base + ENGINE_OFFSET))
            taken.listen()
            cp = subprocess.run([*RINGFAST, "dev-cluster", "--backend", "etcd", "--base-port", str(base), "--once"],
                                capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)
        assert cp.returncode == 2, cp.stdout + cp.stderr
        assert f"port {base + ENGINE_OFFSET} (the local etcd's client port) is in use" in cp.stderr
