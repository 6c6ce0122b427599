"""An asyncio worker service that owns partitions of a key space.

    python examples/asyncio_worker.py [--workers 3] [--keys 120] [--partitions 12] [--seconds 1]

Each worker is a ``ringfast.aio.Node`` and, for every partition it holds, an asyncio task
that processes the keys of that partition: once per round it "visits" each key, writing
to a store that stands in for a database. The worker follows its partitions with
``async for change in node.changes()``: an assignment starts a task per partition, a
revoke cancels those tasks and waits for them, and only when the loop asks for the next
change is the revoke acknowledged, so the next owner starts after this one stopped.

The store does what a database would with a conditional write: it refuses a write whose
fencing token is lower than the highest it has seen for that partition. It also notes
any moment at which two workers claim the same partition.

The script starts ``--workers`` workers in this process, lets them work, adds a worker,
then stops one (a graceful leave), and checks after each step that every key was visited,
each partition by exactly one worker, never two at once, and no write was refused. It
prints what it saw and exits 0 with "asyncio_worker: OK".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter

import ringfast
import ringfast.aio
from ringfast.events import Event

from _common import free_ports  # examples/_common.py: copy it along with this file

ROUND_S = 0.02  # how often a partition task visits its keys
FLUSH_S = 0.2  # what a partition task takes to finish when told to stop (a last write)


class Store:
    """Shared state of the workers, standing in for a database."""

    def __init__(self) -> None:
        self.highest: dict[int, int] = {}  # partition -> highest fencing token seen
        self.active: dict[int, str] = {}  # partition -> the worker running it now
        self.visits: Counter[str] = Counter()
        self.overlaps: list[tuple[int, str, str]] = []  # (partition, running, claiming)
        self.refused = 0

    def claim(self, partition: int, worker: str, token: int) -> bool:
        if token < self.highest.get(partition, 0):
            self.refused += 1
            return False
        if partition in self.active:
            self.overlaps.append((partition, self.active[partition], worker))
        self.active[partition] = worker
        self.highest[partition] = token
        return True

    def release(self, partition: int, worker: str) -> None:
        if self.active.get(partition) == worker:
            del self.active[partition]

    def visit(self, partition: int, key: str, token: int) -> None:
        if token < self.highest[partition]:  # a stale owner: the conditional write fails
            self.refused += 1
            return
        self.visits[key] += 1


async def work_on(partition: int, token: int, worker: str, keys: list[str], store: Store) -> None:
    """Process the keys of one partition until cancelled."""
    if not store.claim(partition, worker, token):
        return
    try:
        while True:
            for key in keys:
                store.visit(partition, key, token)
            await asyncio.sleep(ROUND_S)
    except asyncio.CancelledError:
        await asyncio.sleep(FLUSH_S)  # flushing: the partition is still in use meanwhile
        for key in keys:
            store.visit(partition, key, token)
        raise
    finally:
        store.release(partition, worker)


async def follow(node: ringfast.aio.Node, keys_of: dict[int, list[str]], store: Store) -> None:
    """The worker's main loop: one task per partition held, for as long as it is held."""
    tasks: dict[int, asyncio.Task[None]] = {}
    try:
        async for change in node.changes():  # ends when the node stops
            if change.event is Event.PARTITIONS_ASSIGNED:
                for p in change.partitions:
                    tasks[p] = asyncio.create_task(work_on(p, change.tokens[p], node.id, keys_of.get(p, []), store))
            elif change.event is Event.PARTITIONS_REVOKED:
                stopping = [tasks.pop(p) for p in change.partitions if p in tasks]
                for task in stopping:
                    task.cancel()
                await asyncio.gather(*stopping, return_exceptions=True)
                # back to `async for`: this acknowledges the revoke
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--keys", type=int, default=120)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=1.0, help="how long each phase works")
    ap.add_argument("--ports", help="comma-separated cluster ports, one per worker plus one (default: free ports)")
    args = ap.parse_args(argv)
    if args.workers < 2:
        ap.error("--workers must be at least 2 (one leaves)")
    ports = [int(p) for p in args.ports.split(",")] if args.ports else free_ports(args.workers + 1)
    if len(ports) != args.workers + 1:
        ap.error(f"--ports needs {args.workers + 1} ports")
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[: args.workers])
    partitioner = ringfast.Partitioner(args.partitions)
    keys_of: dict[int, list[str]] = {}
    for i in range(args.keys):
        key = f"sensor-{i}"
        keys_of.setdefault(partitioner.partition(key), []).append(key)
    store = Store()

    # Each node gets a state dir of its own in a new, empty temporary folder: a node whose
    # state dir holds nothing yet has never voted, so it votes at once, and a leader elected
    # by such nodes only has no earlier lease to wait out: the ring owns every partition
    # within about a second of the start instead of after two failure timeouts. (A real
    # deployment keeps each node's state dir across restarts: that is what makes a
    # restarted voter safe. Here every run is a new cluster, so the folder goes at the end.)
    state = tempfile.TemporaryDirectory(prefix="ringfast-asyncio-")

    def worker(i: int) -> ringfast.aio.Node:
        # Fast timings so the script finishes in seconds; the leader works too.
        return ringfast.aio.Node(node_id=f"w{i}", port=ports[i], seeds=seeds, num_partitions=args.partitions,
                                 heartbeat_interval_ms=100, failure_timeout_ms=500, monitoring_port="off",
                                 leader_owns_partitions=True, state_dir=f"{state.name}/w{i}")

    workers: list[ringfast.aio.Node] = []
    loops: list[asyncio.Task[None]] = []

    async def add(i: int) -> None:
        node = worker(i)
        loops.append(asyncio.create_task(follow(node, keys_of, store)))  # before start: sees every change
        await node.start()
        workers.append(node)

    async def phase(name: str) -> bool:
        """Wait for every partition to run on one live worker, then work for --seconds."""
        deadline = time.monotonic() + 30
        while sorted(store.active) != list(range(args.partitions)) or not all(
            sorted(p for p, w in store.active.items() if w == n.id) == n.partitions() for n in workers
        ):
            if time.monotonic() > deadline:
                print(f"asyncio_worker: {name}: partitions not all running: {store.active}", flush=True)
                return False
            await asyncio.sleep(0.02)
        store.visits.clear()
        await asyncio.sleep(args.seconds)
        missed = [f"sensor-{i}" for i in range(args.keys) if store.visits[f"sensor-{i}"] == 0]
        share = Counter(store.active.values())
        print(f"asyncio_worker: {name}: partitions per worker {dict(sorted(share.items()))}; "
              f"keys visited {args.keys - len(missed)}/{args.keys}", flush=True)
        return not missed

    ok = True
    try:
        for i in range(args.workers):
            await add(i)
        ok = all(await asyncio.gather(*(n.wait_until_ready(30) for n in workers)))
        ok = ok and await phase("start")
        await add(args.workers)  # a new worker joins (not a seed: it never votes)
        ok = ok and await phase("join")
        leaving = next(n for n in workers if not n.is_leader)
        await leaving.stop()  # a graceful leave: its partitions move at once
        workers.remove(leaving)
        print(f"asyncio_worker: {leaving.id} left", flush=True)
        ok = ok and await phase("leave")
        key = "sensor-7"
        agree = {n.partition(key) for n in workers} == {ringfast.partition(key, args.partitions)}
        print(f"asyncio_worker: {key!r} -> partition {workers[0].partition(key)} on every worker: {agree}", flush=True)
        ok = ok and agree
    finally:
        for n in sorted(workers, key=lambda n: n.is_leader):  # the leader last: no needless election
            await n.stop()
        await asyncio.gather(*loops)
        state.cleanup()
    print(f"asyncio_worker: two workers on one partition: {store.overlaps}; writes refused: {store.refused}",
          flush=True)
    ok = ok and not store.overlaps and store.refused == 0 and not store.active
    print("asyncio_worker: OK" if ok else "asyncio_worker: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
