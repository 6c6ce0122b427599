"""docs/three-hosts.md, run as written: its ```sh blocks in three network namespaces standing
in for node-a, node-b and node-c (each with its own /etc/hosts, which `ip netns exec` mounts
from /etc/netns/<ns>/hosts), 10.0.0.x replaced by the namespaces' addresses. The install step
is the only one not run (the test's own environment has ringfast). The error line the doc
quotes is compared with what the node prints.

Slow (real processes with the default timings): RINGFAST_MULTIHOST_NAMES=1, as the other
multi-host tests with names.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "multihost"))

from netns import Hosts, available  # noqa: E402
from support import wait_for  # noqa: E402

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("RINGFAST_MULTIHOST_NAMES"), reason="slow: set RINGFAST_MULTIHOST_NAMES=1"),
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "three-hosts.md"
HOSTS = ["node-a", "node-b", "node-c"]


def blocks(fence="sh"):
    """[(section title, first line, body)] of the doc's ```<fence> blocks, in order."""
    out, section = [], ""
    for part in re.split(r"(^## .*$)", DOC.read_text(), flags=re.M):
        if part.startswith("## "):
            section = part[3:].strip()
            continue
        for body in re.findall(rf"^```{fence}\n(.*?)^```", part, re.S | re.M):
            out.append((section, body.splitlines()[0], body))
    return out


def block(section_start, first_line):
    found = [b for s, f, b in blocks() if s.startswith(section_start) and f == first_line]
    assert len(found) == 1, f"{section_start!r} {first_line!r}: {len(found)} blocks"
    return found[0]


class Machines:
    def __init__(self, tmp_path):
        self.h = Hosts(3, net=os.getpid() % 200)
        self.dir = tmp_path
        self.procs = []
        for i in range(3):
            self.h.write_hosts(i, {})  # a fresh machine: localhost only
        self.env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}

    def text(self, body):
        for i in range(3):
            body = body.replace(f"10.0.0.{i + 1}", self.h.ips[i])
        return body

    def run(self, host, body, timeout=60):
        i = HOSTS.index(host)
        return subprocess.run(self.h.exec_prefix(i) + ["bash", "-euc", self.text(body)], capture_output=True,
                              text=True, timeout=timeout, env=self.env)

    def start(self, host, body):
        i = HOSTS.index(host)
        log = open(self.dir / f"{host}.log", "a")
        # its own process group: bash and the node it starts are stopped together, by that id
        p = subprocess.Popen(self.h.exec_prefix(i) + ["bash", "-euc", self.text(body)], stdout=log,
                             stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.procs.remove(p)

    def close(self):
        for p in list(self.procs):
            self.stop(p, signal.SIGKILL)
        self.h.close()


@pytest.fixture
def machines(tmp_path):
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"multi-host tests need network namespaces: {why}")
        pytest.skip(f"multi-host tests need network namespaces: {why}")
    m = Machines(tmp_path)
    try:
        yield m
    finally:
        m.close()


def ring_as_seen(m, status_block):
    done = m.run("node-b", status_block, timeout=30)
    out = done.stdout
    if done.returncode != 0 or "(all owned)" not in out:
        return None
    if not all(f"{h}:7001" in out for h in HOSTS) or "leader: node-" not in out:
        return None
    return out


def test_the_three_host_walkthrough_runs_as_written(machines):
    m = machines
    assert [f for _, f, _ in blocks()][0].startswith("# install")  # the one block not run here
    unset = block("5.", "# on node-c, instead of the command of step 3")

    # step 5's failure first, on a machine whose names do not resolve yet
    failed = m.run("node-c", unset)
    quoted = [b for s, _, b in blocks("text") if s.startswith("5.")]
    assert failed.returncode == 2 and quoted and failed.stderr.strip().splitlines()[-1] == quoted[0].strip(), failed.stderr

    for host in HOSTS:  # step 2
        done = m.run(host, block("2.", "# on every host"))
        assert done.returncode == 0, done.stderr
    nodes = {host: m.start(host, block("3.", f"# on {host}")) for host in HOSTS}  # step 3
    status = block("4.", "# on node-b")
    wait_for(lambda: ring_as_seen(m, status), 60, what="the ring as `ringfast status` shows it")
    for host in HOSTS:
        log = (m.dir / f"{host}.log").read_text()
        assert f"as {host}:7001" in log and "is not among the seed nodes" not in log, log

    # step 5: node-c again, without HOST
    m.stop(nodes["node-c"])
    m.start("node-c", unset)
    wait_for(lambda: ring_as_seen(m, status), 60, what="node-c back without HOST")
    assert f"listening on {m.h.ips[2]}:7001 as node-c:7001" in (m.dir / "node-c.log").read_text()
