"""A ring of N separate `ringfast node` processes on this machine (default 200, heartbeat 1 s).

    python benchmarks/scale_processes.py [--nodes 200] [--partitions 1000]

Five of them are the seed nodes (the voters); the others join through them. Reports the
time from the first start until every partition is owned and balanced, the leader's CPU
over 10 s of steady state, the memory per node, and the time from kill -9 of the leader
until a new leader has every partition owned again. Every process is stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from support import free_ports  # noqa: E402

VOTERS = 5


def status(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def balanced(s, members, partitions):
    if not s or s["leader"] is None or len(s["members"]) != members + 1:
        return False
    loads = [len(m["partitions"]) for m in s["members"] if m["role"] == "follower"]
    owned = sorted(p for m in s["members"] for p in m["partitions"])
    return owned == list(range(partitions)) and max(loads) - min(loads) <= 1


def leader_view(mports, members, partitions):
    """A voter's /status once the ring it shows (its own, if it leads, else as the leader
    described it) has every partition owned and balanced, else None. Only the voters serve
    /status here, and any node may win the first election: on a loaded machine the voters,
    started first, may still be blocking votes when a later node's election comes."""
    for port in mports:
        s = status(port)
        if s and s["leader"] is not None and balanced(s, members, partitions):
            return s
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def wait(cond, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v, time.monotonic() - t0
        time.sleep(0.5)
    raise SystemExit(f"scale: timed out waiting for {what}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=1000)
    args = ap.parse_args(argv)
    r = measure(args.nodes, args.partitions)
    print(f"{r['nodes']} processes: all started in {r['started_s']:.1f}s; every partition owned and balanced "
          f"{r['settle_s']:.1f}s after the first start")
    print(f"leader CPU {r['leader_cpu_percent']:.1f}% of a core; memory per node {r['rss_mib_mean']:.0f} MiB "
          f"(leader {r['rss_mib_leader']:.0f} MiB, total {r['rss_mib_total'] / 1024:.1f} GiB)")
    print(f"leader kill -9 -> new leader with every partition owned: {r['failover_s']:.1f}s")
    return 0


def measure(nodes=200, partitions=1000):
    """-> {"nodes", "partitions", "started_s", "settle_s", "leader_cpu_percent", "rss_mib_mean",
    "rss_mib_leader", "rss_mib_total", "failover_s"}."""
    ports = free_ports(nodes + VOTERS)
    cports, mports = ports[:nodes], ports[nodes:]
    seeds = ",".join(f"127.0.0.1:{p}" for p in cports[:VOTERS])
    procs = []
    ok = False
    logdir = tempfile.mkdtemp(prefix="ringfast-scale-")
    try:
        t0 = time.monotonic()
        for i, port in enumerate(cports):
            mon = str(mports[i]) if i < VOTERS else "off"
            with open(os.path.join(logdir, f"p{i:03d}.log"), "w") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "ringfast", "node", "--id", f"p{i:03d}", "--port", str(port),
                     "--seeds", seeds, "--partitions", str(partitions), "--monitoring-port", mon,
                     "--heartbeat-ms", "1000", "--check-ms", "3000", "--log-level", "warning"],
                    stdout=log, stderr=subprocess.STDOUT))
        started = time.monotonic() - t0
        view, _ = wait(lambda: leader_view(mports, nodes - 1, partitions), 600, "the ring to settle")
        settle = time.monotonic() - t0
        leader = int(view["leader"][1:])
        c0, w0 = cpu_seconds(procs[leader].pid), time.monotonic()
        time.sleep(10)
        cpu = 100 * (cpu_seconds(procs[leader].pid) - c0) / (time.monotonic() - w0)
        rss = [rss_mib(p.pid) for p in procs]
        procs[leader].kill()
        procs[leader].wait()
        others = [m for i, m in enumerate(mports) if i != leader]
        _, failover = wait(lambda: leader_view(others, nodes - 2, partitions), 600, "a new leader")
        ok = True
        return {"nodes": nodes, "partitions": partitions, "started_s": started, "settle_s": settle,
                "leader_cpu_percent": cpu, "rss_mib_mean": sum(rss) / len(rss), "rss_mib_leader": rss[leader],
                "rss_mib_total": sum(rss), "failover_s": failover}
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if ok:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"scale: the nodes' logs are in {logdir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
