"""CPU of a leader with many followers heartbeating at 1 Hz (goal: under 10% of a core).

    python benchmarks/leader_cpu.py [--followers 200] [--seconds 10]

The leader is a real `ringfast node` process (best priority, so it wins the election);
the followers all run in one separate process (one gevent hub, real loopback sockets)
to keep the machine's two cores for measuring. The leader's CPU time is read from
/proc/<pid>/stat before and after a steady-state window.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from support import free_ports  # noqa: E402

FOLLOWERS = r"""
import sys, time, gevent
from ringfast import Node
seeds, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
nodes = [Node(node_id=f"f{i:03d}", port=p, seeds=seeds, monitoring_port="off", num_partitions=1000,
              heartbeat_interval_ms=1000, failure_timeout_ms=3000, priority=10 + i, mode="gevent").start()
         for i, p in enumerate(ports)]
print("started", flush=True)
while True:
    gevent.sleep(1)
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def measure(followers=200, seconds=10.0):
    """-> {"followers", "seconds", "cpu_percent" (of one core), "rss_mib" (the leader's)}."""
    ports = free_ports(followers + 2)
    leader_port, mon_port, fports = ports[0], ports[1], ports[2:]
    seeds = f"127.0.0.1:{leader_port}"  # one voter: the leader; followers join through it
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with open(os.path.join(tmp, "leader.log"), "w") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "ringfast", "node", "--id", "leader", "--port", str(leader_port),
                     "--seeds", seeds, "--monitoring-port", str(mon_port), "--partitions", "1000", "--priority", "0",
                     "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT))
            leader = procs[0]
            with open(os.path.join(tmp, "followers.log"), "w") as log:
                procs.append(subprocess.Popen([sys.executable, "-c", FOLLOWERS, seeds, ",".join(map(str, fports))],
                                              stdout=subprocess.DEVNULL, stderr=log))
            deadline = time.monotonic() + 120
            while True:
                s = status(mon_port)
                if s and s["leader"] == "leader" and len(s["members"]) == followers + 1 and all(
                        m["partitions"] for m in s["members"] if m["role"] == "follower"):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"cluster did not form: {s and len(s['members'])} members")
                time.sleep(0.5)
            time.sleep(2)  # let the last rebalances finish before the window
            c0, t0 = cpu_seconds(leader.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(leader.pid), time.monotonic()
            with open(f"/proc/{leader.pid}/status") as f:
                rss = int(f.read().split("VmRSS:")[1].split()[0]) / 1024
            return {"followers": followers, "seconds": seconds, "cpu_percent": 100 * (c1 - c0) / (t1 - t0),
                    "rss_mib": rss}
        finally:
            for p in procs:  # by pid: kill -9 and wait
                p.kill()
                p.wait()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args(argv)
    r = measure(args.followers, args.seconds)
    print(f"leader with {r['followers']} followers at 1 Hz: {r['cpu_percent']:.1f}% of a core, "
          f"RSS {r['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
