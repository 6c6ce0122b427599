"""Fixtures for the engine backend's tests against a real etcd: `etcd` starts the binary
(Debian's etcd-server) on free loopback ports with a temporary data dir, waits until it
serves, and kills it (by its pid) afterwards. Without the binary the tests are skipped
here; CI installs it (.ci/run) and sets RINGFAST_REQUIRE_ENGINES=1, which turns the skip
into a failure."""

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


@pytest.fixture
def etcd(tmp_path):
    if shutil.which("etcd") is None:
        if os.environ.get("RINGFAST_REQUIRE_ENGINES"):
            pytest.fail("etcd is not installed (apt-get install etcd-server) and RINGFAST_REQUIRE_ENGINES is set")
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    server = Etcd(tmp_path)
    try:
        yield server.start()
    finally:
        server.kill()
