"""Soak: a real cluster under random faults for N minutes, its journals checked as it goes.

    python benchmarks/soak.py --minutes 30 [--nodes 5] [--seed 1] [--dir DIR]

Five `ringfast node` processes (heartbeat 100 ms, lease 500 ms) talk through the fault
proxy of the test harness. Every few seconds one fault from a seeded random schedule:
kill -9 and restart, SIGSTOP for up to 4 leases then SIGCONT, SIGTERM (half the nodes
leave, half use the restart exit mode) and start again, a network partition (one side of 1 or 2 nodes, or a one-way cut) that
heals after a while. After each fault and its repair the cluster must settle (one leader,
every partition owned once, balanced) within a deadline, and every 30 s and at the end the
journals are checked: no two processes ever held a partition at the same time, tokens only
grow, one leader per epoch. Exit status 0 only if all of that held; the summary gives the
faults injected, the settles and their slowest time, and the checks run.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests", "cluster"), os.path.join(HERE, "..", "tests")]

from convergence import settled  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from harness import Cluster  # noqa: E402
from journal import Journals  # noqa: E402

SETTLE_DEADLINE = 30.0
LEASE = 0.5


def wait_settled(cluster, members, deadline=SETTLE_DEADLINE):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline:
        if settled(cluster, members, fail_on_crash=False):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise SystemExit(f"soak: the cluster did not settle within {deadline:.0f}s (members {members}); logs in {cluster.dir}")


def check_journals(cluster, checks):
    Journals.from_cluster(cluster).assert_safe()
    checks.append(time.monotonic())


def fault(rnd, cluster, proxy, names):
    """Inject one fault and repair it; returns a label."""
    victim = rnd.choice(names)
    kind = rnd.choice(["kill", "pause", "stop", "partition", "one-way"])
    if kind == "kill":
        cluster.kill(victim, signal.SIGKILL)
        time.sleep(rnd.uniform(0.1, 1.5))  # down for a while, then back with the same id
        cluster.restart(victim)
    elif kind == "pause":
        cluster.pause(victim)
        time.sleep(rnd.uniform(0.1, 4 * LEASE))
        cluster.resume(victim)
    elif kind == "stop":  # SIGTERM: odd nodes leave, even ones restart (see main)
        cluster.stop(victim)
        time.sleep(rnd.uniform(0.1, 1.0))
        cluster.restart(victim)
    elif kind == "partition":
        side = rnd.sample(names, rnd.randint(1, len(names) // 2))
        proxy.partition(side, [n for n in names if n not in side])
        time.sleep(rnd.uniform(0.5, 3.0))
        proxy.heal()
        victim = ",".join(side)
    else:
        other = rnd.choice([n for n in names if n != victim])
        proxy.cut_one_way(victim, other)
        time.sleep(rnd.uniform(0.5, 2.0))
        proxy.heal()
        victim = f"{victim}->{other}"
    return f"{kind} {victim}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="keep logs and journals here (default: a temp dir, removed if all held)")
    args = ap.parse_args(argv)
    rnd = random.Random(args.seed)
    workdir = args.dir or tempfile.mkdtemp(prefix="ringfast-soak-")
    cluster = Cluster(workdir, n=args.nodes, partitions=12, heartbeat_ms=100, check_ms=500, journal=True)
    proxy = FaultProxy.for_cluster(cluster)
    for i, node in enumerate(cluster.nodes.values()):  # both ways of stopping get exercised
        node.env["RINGFAST_EXIT_MODE"] = "restart" if i % 2 else "leave"
    faults, settles, checks = [], [], []
    names = list(cluster.nodes)
    end = time.monotonic() + args.minutes * 60
    last_check = time.monotonic()
    try:
        cluster.start()
        settles.append(wait_settled(cluster, names))
        print(f"soak: {args.nodes} nodes settled in {settles[-1]:.2f}s; faults until {args.minutes:g} min", flush=True)
        while time.monotonic() < end:
            faults.append(fault(rnd, cluster, proxy, names))
            settles.append(wait_settled(cluster, names))
            print(f"soak: {len(faults):4d} {faults[-1]:<28} settled in {settles[-1]:.2f}s", flush=True)
            if time.monotonic() - last_check > 30:
                check_journals(cluster, checks)
                last_check = time.monotonic()
        check_journals(cluster, checks)
    finally:
        proxy.close()
        cluster.close()
    kinds = {}
    for f in faults:
        kinds[f.split()[0]] = kinds.get(f.split()[0], 0) + 1
    print(f"soak: OK: {len(faults)} faults {kinds}, {len(settles)} settles (slowest {max(settles):.2f}s), "
          f"{len(checks)} journal checks with no overlap, growing tokens, one leader per epoch")
    if not args.dir:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
