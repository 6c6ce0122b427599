"""Local engines: one etcd member, or one standalone ZooKeeper, started on 127.0.0.1 with its
own data dir, for ``ringfast dev-cluster --backend etcd|zookeeper`` (and for the tests of the
engine backends). ``start`` waits until the engine serves; ``stop`` ends it by its pid.

They are development engines, tuned to react fast on one machine (etcd elects in 200 ms,
ZooKeeper ticks every 200 ms): never a template for a production deployment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from .devnode import last_line

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"  # Debian's zookeeper package
ZOOKEEPER_CONF = "/etc/zookeeper/conf"  # its log4j settings, on the classpath
ENGINES = ("etcd", "zookeeper")


def missing(backend: str) -> str | None:
    """Why this machine cannot start a local `backend`, naming what to install; None if it can."""
    if backend == "etcd":
        return None if shutil.which("etcd") else "no etcd binary on PATH (Debian: apt-get install etcd-server)"
    if shutil.which("java") is None:
        return "no java on PATH for ZooKeeper (Debian: apt-get install openjdk-17-jre-headless)"
    if not os.path.exists(ZOOKEEPER_JAR):
        return f"no ZooKeeper at {ZOOKEEPER_JAR} (Debian: apt-get install zookeeper)"
    return None


class LocalEngine:
    """One engine process. Subclasses say how to start it and how to tell that it serves."""

    backend = ""
    name = ""

    def __init__(self, workdir: str, client_port: int, peer_port: int | None = None, preexec_fn=None):
        self.workdir = str(workdir)
        self.client_port = client_port
        self.peer_port = peer_port
        self.data = os.path.join(self.workdir, f"{self.backend}-data")
        self.log_path = os.path.join(self.workdir, f"{self.backend}.log")
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen | None = None
        self.paused = False

    # -- what a subclass says

    @property
    def endpoints(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def serving(self) -> bool:
        raise NotImplementedError

    # -- the process

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> LocalEngine:
        """Start on a fresh data dir (a dev engine keeps nothing from an earlier run) and wait
        until it serves; RuntimeError, with the end of its log, if it exits or never serves."""
        self.spawn()
        return self.wait_serving(timeout)

    def spawn(self):
        """Start the process, without waiting (the members of a larger engine serve only once a
        quorum of them runs)."""
        why = missing(self.backend)
        if why:
            raise RuntimeError(why)
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        self.prepare()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn, close_fds=True)

    def prepare(self):
        """Files the engine needs in its data dir before it starts."""

    def wait_serving(self, timeout: float = 30.0) -> LocalEngine:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serving():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it served: "
                                   f"{self.last_log_line()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not serve within {timeout:g} s (its log: {self.log_path})")

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def kill(self):
        """SIGKILL (a SIGTERMed etcd without a quorum can take seconds to exit) and reap."""
        if self.alive:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self.paused = False

    def stop(self, timeout: float = 5.0):
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if self.alive:
            if self.paused:
                self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def last_log_line(self) -> str:
        return last_line(self.log_path)


class LocalEtcd(LocalEngine):
    backend = "etcd"
    name = "etcd"
    member = "dev"
    initial_cluster: str | None = None  # "name=peer-url,...": one member of a larger etcd (tests)

    @property
    def endpoints(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def command(self) -> list[str]:
        client, peer = self.endpoints, f"http://127.0.0.1:{self.peer_port}"
        return [shutil.which("etcd"), "--data-dir", self.data, "--name", self.member,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", self.initial_cluster or f"{self.member}={peer}",
                "--heartbeat-interval", "20", "--election-timeout", "200"]

    def serving(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoints + "/health", timeout=0.5) as r:
                return b'"true"' in r.read()
        except OSError:
            return False


class LocalZookeeper(LocalEngine):
    """Standalone, tickTime 200 ms: sessions may be as short as 0.4 s."""

    backend = "zookeeper"
    name = "ZooKeeper"
    myid: int | None = None  # with `servers` ("server.1=host:quorum:election" lines): one of an ensemble (tests)
    servers: str = ""

    @property
    def endpoints(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def conf(self) -> str:
        return os.path.join(self.workdir, "zoo.cfg")

    def prepare(self):
        with open(self.conf, "w") as f:
            # the admin server would take port 8080; `srvr` is the readiness check below
            f.write(f"tickTime=200\ndataDir={self.data}\nclientPort={self.client_port}\n"
                    "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                    "4lw.commands.whitelist=srvr\nminSessionTimeout=400\nmaxSessionTimeout=60000\n")
            if self.myid is not None:
                f.write(f"initLimit=10\nsyncLimit=5\n{self.servers}")
        if self.myid is not None:
            with open(os.path.join(self.data, "myid"), "w") as f:
                f.write(f"{self.myid}\n")

    def command(self) -> list[str]:
        conf = self.conf
        return [shutil.which("java"), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", f"{ZOOKEEPER_CONF}:{ZOOKEEPER_JAR}", f"-Dzookeeper.log.dir={self.data}",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", conf]

    def serving(self) -> bool:
        return self.mode() is not None

    def mode(self) -> str | None:
        """The server's mode as `srvr` reports it ("standalone", "leader", ...); None until it
        serves (`ruok` answers before it does)."""
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


def local_engine(backend: str, workdir: str, client_port: int, peer_port: int | None = None,
                 preexec_fn=None) -> LocalEngine:
    cls = {"etcd": LocalEtcd, "zookeeper": LocalZookeeper}[backend]
    return cls(workdir, client_port, peer_port, preexec_fn=preexec_fn)
