"""Failover figures with real `ringfast node` processes on loopback (median of N runs).

    python benchmarks/failover.py [--runs 5] [--nodes 5] [--timings default,fast]

For each timing profile (default: heartbeat 1 s, check 3 s; fast: 100 ms / 500 ms) it
measures, per run on a fresh cluster:

- start: start of the last node -> every partition owned, balanced, one leader;
- leader kill -9 -> every partition owned again by live followers, one new leader;
- follower kill -9 -> its partitions owned again by the others.

"Owned again" is observed by polling every node's /partitions (via the test harness), so
figures include up to one polling interval (~50 ms).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
sys.path[:0] = [os.path.join(TESTS, "cluster"), TESTS]

from convergence import settled  # noqa: E402
from harness import Cluster  # noqa: E402

PROFILES = {"default": (1000, 3000), "fast": (100, 500)}


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise TimeoutError("cluster did not settle")


def one_run(tmp, nodes, hb, check):
    c = Cluster(tmp, n=nodes, partitions=10, heartbeat_ms=hb, check_ms=check)
    try:
        c.start()
        t0 = time.monotonic()
        _wait(lambda: settled(c, nodes, fail_on_crash=False), 60)
        start = time.monotonic() - t0
        leader = settled(c, nodes).leader
        t0 = time.monotonic()
        c.kill(leader, signal.SIGKILL)
        _wait(lambda: settled(c, nodes - 1, fail_on_crash=False), 60)
        leader_kill = time.monotonic() - t0
        v = settled(c, nodes - 1)
        victim = next(n for n, parts in v.owned.items() if parts)
        t0 = time.monotonic()
        c.kill(victim, signal.SIGKILL)
        _wait(lambda: settled(c, nodes - 2, fail_on_crash=False), 60)
        follower_kill = time.monotonic() - t0
        return start, leader_kill, follower_kill
    finally:
        c.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--timings", default="default,fast")
    args = ap.parse_args(argv)
    print(f"{args.nodes} nodes, 10 partitions, median of {args.runs} runs (seconds)")
    print(f"{'profile':<24} {'start':>8} {'leader kill':>12} {'follower kill':>14}")
    for name in args.timings.split(","):
        hb, check = PROFILES[name]
        results = []
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                results.append(one_run(tmp, args.nodes, hb, check))
            print(f"  run {i + 1}: " + "  ".join(f"{x:.3f}" for x in results[-1]), file=sys.stderr, flush=True)
        med = [statistics.median(col) for col in zip(*results)]
        label = f"{name} ({hb}/{check} ms)"
        print(f"{label:<24} {med[0]:>8.3f} {med[1]:>12.3f} {med[2]:>14.3f}", flush=True)


if __name__ == "__main__":
    main()
