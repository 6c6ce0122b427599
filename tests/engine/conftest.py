"""Fixtures for the engine backends' tests against real engines: `etcd` starts the binary
(Debian's etcd-server), `zookeeper` a standalone ZooKeeper (Debian's zookeeper, on its Java
runtime), each on free loopback ports with a temporary data dir; they wait until it serves,
and kill it (by its pid) afterwards. `engine` is either, one test per backend. Without the
engine the tests are skipped here; CI installs both (.ci/run) and sets
RINGFAST_REQUIRE_ENGINES=1, which turns the skip into a failure."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    backend = "etcd"

    def __init__(self, tmp_path):
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.data = tmp_path / "etcd-data"
        self.log = open(tmp_path / "etcd.log", "wb")
        self.proc: subprocess.Popen | None = None

    def start(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            [shutil.which("etcd"), "--data-dir", str(self.data), "--name", "e1",
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"e1={peer}", "--heartbeat-interval", "20", "--election-timeout", "200"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=0.5) as r:
                    if b'"true"' in r.read():
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("etcd did not become healthy within 20 s")

    @property
    def endpoints(self) -> str:
        return self.url

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


ZK_JARS = "/usr/share/java/zookeeper.jar"


class Zookeeper(Etcd):
    """A standalone ZooKeeper: tickTime 200 ms, so sessions may be as short as 0.4 s."""

    backend = "zookeeper"

    def __init__(self, tmp_path):
        self.client_port = free_port()
        self.url = f"127.0.0.1:{self.client_port}"
        self.data = tmp_path / "zk-data"
        self.data.mkdir()
        self.conf = tmp_path / "zoo.cfg"
        self.conf.write_text(f"tickTime=200\ndataDir={self.data}\nclientPort={self.client_port}\n"
                             "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                             "4lw.commands.whitelist=srvr\nminSessionTimeout=400\nmaxSessionTimeout=60000\n")
        self.log = open(tmp_path / "zookeeper.log", "wb")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [shutil.which("java"), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-cp", f"/etc/zookeeper/conf:{ZK_JARS}", f"-Dzookeeper.log.dir={self.data}",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.conf)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.mode():  # readiness: `srvr` reports a mode (`ruok` answers before it serves)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("ZooKeeper did not serve within 30 s")

    def mode(self) -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.5) as s:
                s.sendall(b"srvr")
                out = b""
                while chunk := s.recv(4096):
                    out += chunk
        except OSError:
            return None
        for line in out.decode("ascii", "replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None


def _missing(backend: str) -> str | None:
    if backend == "etcd":
        return None if shutil.which("etcd") else "etcd is not installed (apt-get install etcd-server)"
    if shutil.which("java") is None or not os.path.exists(ZK_JARS):
        return "ZooKeeper is not installed (apt-get install zookeeper openjdk-17-jre-headless)"
    return None


def _serve(cls, tmp_path):
    why = _missing(cls.backend)
    if why:
        if os.environ.get("RINGFAST_REQUIRE_ENGINES"):
            pytest.fail(f"{why} and RINGFAST_REQUIRE_ENGINES is set")
        pytest.skip(why)
    server = cls(tmp_path)
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture
def etcd(tmp_path):
    yield from _serve(Etcd, tmp_path)


@pytest.fixture
def zookeeper(tmp_path):
    yield from _serve(Zookeeper, tmp_path)


@pytest.fixture(params=["etcd", "zookeeper"])
def engine(request, tmp_path):
    """Each engine backend in turn (the test reads `engine.backend` and `engine.endpoints`)."""
    yield from _serve(Etcd if request.param == "etcd" else Zookeeper, tmp_path)
