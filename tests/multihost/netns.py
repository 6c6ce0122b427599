"""Test hosts in network namespaces: one namespace per node, joined by a bridge.

Each host gets a veth pair (one end inside its namespace as eth0 with 10.213.<net>.<i>/24,
the other on a bridge in the test's own namespace, which also gets .254 so the test can
reach the nodes' monitoring ports). Links are cut by bringing a host's bridge port down
(both ways), or one way by blackhole routes in the host towards the other hosts (what it
sends is lost, what it is sent arrives; no tc or netfilter modules needed). Everything is
created by the test and deleted at teardown; nothing leaves this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"rfprobe{uuid.uuid4().hex[:6]}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


class Hosts:
    def __init__(self, n: int, net: int = 0):
        tag = uuid.uuid4().hex[:5]
        self.bridge = f"rfbr{tag}"
        self.names = [f"rf{tag}h{i}" for i in range(n)]
        self.ports = [f"rf{tag}p{i}" for i in range(n)]
        self.ips = [f"10.213.{net}.{i + 1}" for i in range(n)]
        self.gateway = f"10.213.{net}.254"
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for ns, port, ip in zip(self.names, self.ports, self.ips):
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "link", "set", port, "master", self.bridge)
            run("ip", "link", "set", port, "up")
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[i]]

    def isolate(self, i: int) -> None:
        """Cut host i off, both ways (its cable pulled)."""
        run("ip", "link", "set", self.ports[i], "down")

    def drop_outgoing(self, i: int) -> None:
        """Host i can hear but not be heard: everything it sends to the other hosts is lost."""
        for j, ip in enumerate(self.ips):
            if j != i:
                run("ip", "netns", "exec", self.names[i], "ip", "route", "add", "blackhole", f"{ip}/32")

    def heal(self) -> None:
        for i, port in enumerate(self.ports):
            run("ip", "link", "set", port, "up")
            for j, ip in enumerate(self.ips):
                if j != i:
                    run("ip", "netns", "exec", self.names[i], "ip", "route", "del", "blackhole", f"{ip}/32", check=False)

    def close(self) -> None:
        for ns, port in zip(self.names, self.ports):
            run("ip", "link", "del", port, check=False)
            run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", self.bridge, check=False)
