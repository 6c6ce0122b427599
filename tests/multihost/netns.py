"""Test hosts in network namespaces: one namespace per node, joined by a bridge.

Each host gets a veth pair (one end inside its namespace as eth0 with 10.213.<net>.<i>/24,
the other on a bridge in the test's own namespace, which also gets .254 so the test can
reach the nodes' monitoring ports). Each host has its own hosts file, /etc/netns/<ns>/hosts,
which `ip netns exec` mounts over /etc/hosts for what runs there: names are resolved per
host, and a record changed in place (same file, not a new one) is seen at the next lookup,
as after a DNS update. Links are cut by bringing a host's bridge port down
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

    def hosts_file(self, i: int) -> str:
        return f"/etc/netns/{self.names[i]}/hosts"

    def write_hosts(self, i: int, records: dict[str, str]) -> None:
        """Host i's name records {name: ip}. Written in place: the file mounted over /etc/hosts
        of a running process is this inode, and a new file would not be seen."""
        os.makedirs(os.path.dirname(self.hosts_file(i)), exist_ok=True)
        lines = ["127.0.0.1 localhost"] + [f"{ip} {name}" for name, ip in records.items()]
        with open(self.hosts_file(i), "w") as f:
            f.write("\n".join(lines) + "\n")

    def readdress(self, i: int, ip: str) -> None:
        """Host i comes back with a new address (its old one is gone from the network)."""
        ns = self.names[i]
        run("ip", "netns", "exec", ns, "ip", "addr", "del", f"{self.ips[i]}/24", "dev", "eth0")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        self.ips[i] = ip

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
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        run("ip", "link", "del", self.bridge, check=False)
