"""A distributed scheduler: every job runs once per tick, on exactly one worker.

    python examples/scheduler.py [--workers 4] [--jobs 40] [--partitions 12]
                                 [--ticks 40] [--tick 0.25] [--db PATH]
                                 [--failover TICK] [--failover-mode kill|stop|pause]

This script is the launcher: it starts N worker processes (copies of itself, loopback
only) that form a ring, lets them run `--ticks` ticks, then prints a report from the
shared SQLite file and exits (0 if every job ran exactly once in every tick).

Each worker runs the jobs of the partitions it holds (`node.partition(job_id)` decides a
job's partition) and records every run in SQLite with a compare-and-set on that
partition's fencing token, so a worker that lost a partition without noticing (frozen,
cut off) cannot record a run over its successor's.

With `--failover TICK` the launcher fails a follower in the middle of that tick:
  kill   kill -9: its partitions move once its lease has surely expired, so their jobs run
         late by about one lease (failure timeout + 5% margin), then catch up;
  stop   SIGTERM, a graceful leave: its partitions move at once, nothing runs late;
  pause  it freezes itself (SIGSTOP) for two leases: its partitions move, and when it
         wakes up still believing it holds them, its writes are refused by their tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from types import FrameType
from typing import Any, Literal

import ringfast
from ringfast import PARTITIONS_ASSIGNED, PARTITIONS_REVOKED
from ringfast.events import PartitionsChanged

from _common import free_ports, wait_until  # examples/_common.py: copy it along with this file

HEARTBEAT_MS = 100  # fast timings so the example is quick; the defaults are 1000 / 3000
LEASE_MS = 500  # HEART_BEAT_CHECK_FREQUENCY: the failure timeout, and the lease

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- one row per partition: the highest fencing token that wrote, and the last tick it ran
CREATE TABLE IF NOT EXISTS fence (partition INTEGER PRIMARY KEY, token INTEGER NOT NULL,
                                  last_tick INTEGER NOT NULL);
-- no unique key on purpose: the compare-and-set is what keeps (job, tick) unique
CREATE TABLE IF NOT EXISTS runs (job TEXT NOT NULL, tick INTEGER NOT NULL, partition INTEGER NOT NULL,
                                 worker TEXT NOT NULL, token INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refused (partition INTEGER NOT NULL, tick INTEGER NOT NULL,
                                    worker TEXT NOT NULL, token INTEGER NOT NULL, reason TEXT NOT NULL);
"""


def connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: we open each transaction ourselves with BEGIN IMMEDIATE, so the
    # read of the fence row and its compare-and-set cannot interleave with another worker.
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def get_meta(db: sqlite3.Connection, key: str) -> Any:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def set_meta(db: sqlite3.Connection, key: str, value: object) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))


# ---------------------------------------------------------------------------- worker


def run_partition(
    db: sqlite3.Connection, worker: str, p: int, token: int, jobs: list[str], tick: int
) -> Literal["ran", "done", "stale"]:
    """Run the jobs of partition `p` for every tick up to `tick` not yet run by anyone.

    Returns "ran", "done" (nothing left to run) or "stale" (a newer owner has written)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        stored, last = db.execute("SELECT token, last_tick FROM fence WHERE partition = ?", (p,)).fetchone()
        # The compare-and-set: only the current owner (no lower token) moves the partition on.
        cur = db.execute(
            "UPDATE fence SET token = ?, last_tick = ? WHERE partition = ? AND token <= ? AND last_tick < ?",
            (token, tick, p, token, tick),
        )
        if cur.rowcount == 1:
            # Catch up every tick since the last run: after a crash the new owner starts
            # one lease late, and the ticks in between still run (late), exactly once.
            now = time.time()
            db.executemany(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                [(job, t, p, worker, token, now) for t in range(last + 1, tick + 1) for job in jobs],
            )
            outcome: Literal["ran", "done", "stale"] = "ran"
        else:
            outcome = "stale" if stored > token else "done"
            if outcome == "stale":
                db.execute("INSERT INTO refused VALUES (?, ?, ?, ?, ?)", (p, tick, worker, token, outcome))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return outcome


def worker_main(args: argparse.Namespace) -> int:
    name = args.worker
    db = connect(args.db)
    cfg = get_meta(db, "config")
    node = ringfast.Node(
        node_id=name, port=args.port, seeds=cfg["seeds"], monitoring_port=args.monitoring_port,
        num_partitions=cfg["partitions"], heartbeat_interval_ms=HEARTBEAT_MS, failure_timeout_ms=LEASE_MS,
        mode="thread",  # a plain threaded program: the node runs its own hub thread
        state_dir=args.state_dir,  # new and empty: see launch()
    )
    jobs_of: dict[int, list[str]] = {p: [] for p in range(cfg["partitions"])}
    for n in range(cfg["jobs"]):
        job = f"job-{n}"
        jobs_of[node.partition(job)].append(job)  # the same answer on every worker

    owned: dict[int, int] = {}  # partition -> fencing token, as the events told us
    lock = threading.Lock()  # held while running a partition's jobs
    wake = threading.Event()
    stopping = threading.Event()
    freeze = threading.Event()

    def on_assigned(change: PartitionsChanged) -> None:
        with lock:
            owned.update(change.tokens)
        print(f"{name}: assigned {change.partitions}", flush=True)
        wake.set()  # run them now, not at the next tick: a handoff then costs no tick

    def on_revoked(change: PartitionsChanged) -> None:
        # Taking the lock waits for a run in progress: when we return, we have stopped.
        with lock:
            for p in change.partitions:
                owned.pop(p, None)
        print(f"{name}: revoked {change.partitions} ({change.reason})", flush=True)

    node.on(PARTITIONS_ASSIGNED, on_assigned)
    node.on(PARTITIONS_REVOKED, on_revoked)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        (freeze if signum == signal.SIGUSR1 else stopping).set()
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, on_signal)

    node.start()
    while (start_at := get_meta(db, "start_at")) is None and not stopping.is_set():
        time.sleep(0.05)
    tick_len, ticks = cfg["tick"], cfg["ticks"]
    done: dict[int, int] = {}  # partition -> last tick we ran it (a shortcut; the database decides)
    while start_at is not None and not stopping.is_set():
        if freeze.is_set():
            # Freeze here, between transactions, like a long GC pause or heavy swapping.
            # (Frozen inside one, we would hold SQLite's write lock and stall everyone.)
            freeze.clear()
            os.kill(os.getpid(), signal.SIGSTOP)
            # Woken by SIGCONT. Our lease ran out while we were frozen, but the node's
            # thread may not have told us yet: `owned` is stale, and the fence says so.
        tick = int((time.time() - start_at) // tick_len)
        if tick >= ticks:
            break
        wake.clear()
        with lock:
            for p, token in sorted(owned.items()):
                if done.get(p, -1) < tick:
                    outcome = run_partition(db, name, p, token, jobs_of[p], tick)
                    done[p] = tick
                    if outcome == "stale":
                        owned.pop(p)  # someone newer holds it: stop using it right away
                        print(f"{name}: partition {p} refused by its fencing token", flush=True)
        wake.wait(start_at + (tick + 1) * tick_len - time.time())
    node.stop()  # hands our partitions to the others at once
    print(f"{name}: stopped", flush=True)
    return 0


# ---------------------------------------------------------------------------- launcher


def status(port: int) -> dict[str, Any]:
    """A worker's /status (the monitoring API: docs/monitoring.md)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
        answer: dict[str, Any] = json.load(r)
    return answer


def leader_view(mports: dict[str, int]) -> dict[str, Any] | None:
    """The leader's /status, if some worker is the leader (None otherwise)."""
    for port in mports.values():
        try:
            s = status(port)
        except OSError:
            continue
        if s["node"]["role"] == "leader":
            return s
    return None


def launcher_main(args: argparse.Namespace) -> int:
    if args.db:
        return launch(args, args.db)
    with tempfile.TemporaryDirectory(prefix="ringfast-scheduler-") as workdir:  # removed at the end
        return launch(args, os.path.join(workdir, "runs.db"))


def launch(args: argparse.Namespace, db_path: str) -> int:
    # Each node gets a state dir of its own in a new, empty temporary folder: a node whose
    # state dir holds nothing yet has never voted, so it votes at once, and a leader elected
    # by such nodes only has no earlier lease to wait out: the ring owns every partition
    # within about a second of the start instead of after two failure timeouts. (A real
    # deployment keeps each node's state dir across restarts: that is what makes a
    # restarted voter safe. Here every run is a new cluster, so the folder goes at the end.)
    with tempfile.TemporaryDirectory(prefix="ringfast-scheduler-state-") as state:
        return launch_with_state(args, db_path, state)


def launch_with_state(args: argparse.Namespace, db_path: str, state: str) -> int:
    names = [f"w{i}" for i in range(args.workers)]
    ports = free_ports(2 * args.workers)
    cports = dict(zip(names, ports))
    mports = dict(zip(names, ports[args.workers:]))
    seeds = ",".join(f"127.0.0.1:{cports[n]}" for n in names)

    db = connect(db_path)
    db.executescript(SCHEMA)
    db.executemany("INSERT OR IGNORE INTO fence VALUES (?, 0, -1)", [(p,) for p in range(args.partitions)])
    config = {"seeds": seeds, "partitions": args.partitions, "jobs": args.jobs, "ticks": args.ticks,
              "tick": args.tick, "heartbeat_ms": HEARTBEAT_MS, "lease_ms": LEASE_MS}
    set_meta(db, "config", config)

    print(f"scheduler: {args.workers} workers, {args.jobs} jobs in {args.partitions} partitions, "
          f"{args.ticks} ticks of {args.tick:g} s", flush=True)
    procs = {
        n: subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", n, "--db", db_path,
                             "--port", str(cports[n]), "--monitoring-port", str(mports[n]),
                             "--state-dir", os.path.join(state, n)])
        for n in names
    }
    try:
        # Ready: a leader whose view has every worker and every partition owned, balanced.
        # (A new ring first hands everything to the worker that joined first and then moves
        # partitions to the others as they join: until the loads are balanced, a partition
        # may still move, and the failover below would pick a victim that is about to lose
        # some anyway.)
        def ready() -> bool:
            if any(p.poll() is not None for p in procs.values()):
                raise SystemExit("scheduler: a worker exited during start-up (see its error above)")
            v = leader_view(mports)
            if not v or len(v["members"]) != args.workers:
                return False
            loads = [len(m["partitions"]) for m in v["members"] if m["role"] == "follower"]
            return sum(loads) == args.partitions and max(loads) - min(loads) <= 1

        wait_until(ready, 60, "the ring", interval=0.05)
        start_at = time.time() + 0.5
        set_meta(db, "start_at", start_at)
        if args.failover is not None:
            # Pick the victim now (a follower holding the most partitions), strike on time.
            view = leader_view(mports)
            if view is None:
                raise SystemExit("scheduler: no leader to ask which worker to fail")
            followers = [m for m in view["members"] if m["role"] == "follower" and m["partitions"]]
            victim = max(followers, key=lambda m: (len(m["partitions"]), m["id"]))
            pid = procs[victim["id"]].pid
            time.sleep(max(0.0, start_at + (args.failover + 0.5) * args.tick - time.time()))
            failed_at = time.time()
            os.kill(pid, {"kill": signal.SIGKILL, "stop": signal.SIGTERM, "pause": signal.SIGUSR1}[args.failover_mode])
            tick = int((failed_at - start_at) // args.tick)  # late if this machine is busy
            set_meta(db, "failover", {"worker": victim["id"], "partitions": victim["partitions"],
                                      "tick": tick, "mode": args.failover_mode, "at": failed_at})
            print(f"scheduler: tick {tick}: {args.failover_mode} {victim['id']} "
                  f"(holding partitions {victim['partitions']})", flush=True)
            if args.failover_mode == "pause":
                _, st = os.waitpid(pid, os.WUNTRACED)  # until it has frozen itself
                if os.WIFSTOPPED(st):
                    time.sleep(2 * LEASE_MS / 1000)
                    os.kill(pid, signal.SIGCONT)
                    print(f"scheduler: woke {victim['id']} after {2 * LEASE_MS / 1000:g} s", flush=True)
        deadline = time.monotonic() + max(0.0, start_at - time.time()) + args.ticks * args.tick + 60
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"scheduler: worker pid {p.pid} did not exit in time", flush=True)
    finally:
        for p in procs.values():  # never leave a worker behind, even on Ctrl-C or an error
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    result = report(db)
    db.close()
    return result


def report(db: sqlite3.Connection) -> int:
    config, start_at = get_meta(db, "config"), get_meta(db, "start_at")
    failover = get_meta(db, "failover")
    runs = db.execute("SELECT job, tick, partition, worker, token, at FROM runs").fetchall()
    counts: dict[tuple[str, int], int] = {}
    for job, tick, *_ in runs:
        counts[(job, tick)] = counts.get((job, tick), 0) + 1
    expected = {(f"job-{n}", t) for n in range(config["jobs"]) for t in range(config["ticks"])}
    missing = expected - counts.keys()
    twice = sorted(k for k, c in counts.items() if c > 1)
    refused = db.execute("SELECT COUNT(*) FROM refused").fetchone()[0]
    victim_parts = set(failover["partitions"]) if failover else set()
    late = {True: 0.0, False: 0.0}  # is the partition the failed worker's -> worst lateness
    for job, tick, p, worker, token, at in runs:
        lateness = at - (start_at + tick * config["tick"])
        late[p in victim_parts] = max(late[p in victim_parts], lateness)
    print(f"scheduler: ran {len(counts)} of {len(expected)} job-ticks; {len(twice)} ran twice, "
          f"{len(missing)} never ran; {refused} writes refused by a fencing token", flush=True)
    if failover:
        lease = config["lease_ms"] / 1000
        margin = max(0.02, 0.05 * lease)  # the leader's clock-drift margin (docs/operations.md)
        print(f"scheduler: jobs of {failover['worker']}'s partitions ran up to {late[True]:.2f} s late "
              f"(lease {lease:g} s + margin {margin:g} s); the others up to {late[False]:.2f} s", flush=True)
    ok = not missing and not twice
    print("scheduler: OK" if ok else f"scheduler: FAILED (twice: {twice[:5]}, missing: {sorted(missing)[:5]})",
          flush=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=4, help="worker processes (one becomes the leader)")
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--ticks", type=int, default=40, help="run this many ticks, then exit")
    ap.add_argument("--tick", type=float, default=0.25, help="seconds per tick")
    ap.add_argument("--db", help="SQLite file to keep (default: a temporary one, removed at exit)")
    ap.add_argument("--failover", type=int, metavar="TICK", help="fail a follower in the middle of this tick")
    ap.add_argument("--failover-mode", choices=["kill", "stop", "pause"], default="kill")
    # internal: how the launcher starts a worker
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--monitoring-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.workers < 2 or (args.failover is not None and args.workers < 3):
        ap.error("need at least 2 workers (3 with --failover): the leader runs no jobs")
    if args.failover is not None and not 0 <= args.failover < args.ticks:
        ap.error("--failover must be a tick in [0, --ticks)")
    try:
        return launcher_main(args)
    except KeyboardInterrupt:  # the workers got Ctrl-C too and have stopped
        print("scheduler: interrupted", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
