"""Scan a range of simulation seeds, with progress, and write what fails to a file.

    python tests/sim/scan.py 9000000 9100000 --out scan.txt
    python tests/sim/scan.py 9000000 9100000 --jobs 0   # one process per core
    RINGFAST_SIM_FRAMING=0 python tests/sim/scan.py ...   # the protocol's logic alone, ~2.5x faster

Every seed runs `run_seed` (the schedule test_simulation.py's long test runs); a seed that
breaks a guarantee or does not settle is written to `--out` as soon as it is found, with its
first violations, so a scan stopped half way keeps what it found. A progress line goes to
stderr every `--every` seeds, and at the end how many seeds met the documented limit of
running without state dirs (a quorum that forgot an epoch: `Log.forgotten`, not a failure).
With `--jobs N` the seeds run in N worker processes, in order (the progress line's "up to"
is exact). Exit status: 0 if every seed passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simulator import run_seed  # noqa: E402

SETTLE_BOUND = 6.0  # as in test_simulation.py


def judge(seed: int) -> tuple[list[str], bool]:
    """What is wrong with `seed` (empty if nothing), and whether it met the no-state-dir limit."""
    sim = run_seed(seed)
    forgot = bool(sim.log.forgotten)
    if sim.log.violations:
        return sim.log.violations[:3], forgot
    if sim.settle_time is None or sim.settle_time > SETTLE_BOUND:
        return [f"not settled {SETTLE_BOUND}s after the faults stopped"], forgot
    return [], forgot


def _judged(seed: int):
    return seed, *judge(seed)  # (looked up when called: a test may replace `judge`)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=int, help="first seed")
    ap.add_argument("end", type=int, help="one past the last seed")
    ap.add_argument("--out", default="-", help="where failing seeds go (default: stdout)")
    ap.add_argument("--every", type=int, default=1000, help="seeds between progress lines")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (0: one per core)")
    args = ap.parse_args(argv)
    if args.end <= args.first:
        ap.error(f"end {args.end} must be above first {args.first}")
    if args.jobs < 0:
        ap.error(f"--jobs {args.jobs}: give a number of processes, or 0 for one per core")
    jobs = args.jobs or os.cpu_count() or 1
    out = sys.stdout if args.out == "-" else open(args.out, "a", buffering=1)
    bad = forgot_seeds = 0
    started = time.monotonic()
    seeds = range(args.first, args.end)
    pool = None
    if jobs > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(jobs)
        results = pool.imap(_judged, seeds, chunksize=max(1, min(50, len(seeds) // (4 * jobs))))
    else:
        results = map(_judged, seeds)
    try:
        for seed, problems, forgot in results:
            forgot_seeds += forgot
            if problems:
                bad += 1
                print(f"seed {seed}: {problems}", file=out, flush=True)
            done = seed - args.first + 1
            if done % args.every == 0 or seed == args.end - 1:
                rate = done / max(1e-9, time.monotonic() - started)
                print(f"{done}/{args.end - args.first} seeds (up to {seed}), {bad} failing, {rate:.0f} seeds/s",
                      file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.terminate()
        if out is not sys.stdout:
            out.close()
    print(f"{forgot_seeds} seeds met the limit without state dirs (a quorum that forgot an epoch)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
