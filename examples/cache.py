"""A partitioned in-memory cache that keeps every entry when nodes join and leave.

    python examples/cache.py [--nodes 3] [--entries 300] [--partitions 16]
                             [--handoff-dir DIR] [--dump FILE]

Each node keeps the entries of the partitions it holds. When a partition is revoked, its
owner writes the entries to a shared handoff store (here a directory; in production
Redis, S3, a database...) before its callback returns; the new owner loads them when the
partition is assigned. ringfast orders the two: revoke -> the old owner's callback
returns -> assign to the new owner. So an entry is never in two caches, and no write
acknowledged by the old owner is lost.

The script runs a ring of `--nodes` nodes in this process (plain threads), fills the
cache, then adds a node (a join) and stops one (a leave) while a writer thread keeps
updating entries. After each step it checks that every entry is present, in exactly one
cache (its partition's owner), with the last value the writer was told was stored.
It exits 0 if every check passed. `--dump FILE` writes what each cache held, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import ringfast
from ringfast import PARTITIONS_ASSIGNED, PARTITIONS_REVOKED
from ringfast.events import PartitionsChanged

from _common import free_ports, wait_until  # examples/_common.py: copy it along with this file


class CacheNode:
    """One member of the cache: a ringfast node plus the entries of its partitions."""

    def __init__(self, node: ringfast.Node, handoff_dir: str) -> None:
        self.node = node
        self.handoff_dir = handoff_dir
        self.entries: dict[int, dict[str, int]] = {}  # partition -> {key: value}, only ours
        self.lock = threading.Lock()
        node.on(PARTITIONS_ASSIGNED, self.on_assigned)
        node.on(PARTITIONS_REVOKED, self.on_revoked)

    def _path(self, p: int) -> str:
        return os.path.join(self.handoff_dir, f"{p}.json")

    def on_revoked(self, change: PartitionsChanged) -> None:
        with self.lock:  # no put() can slip in between the hand-off and the drop
            for p in change.partitions:
                entries = self.entries.pop(p, {})
                if change.reason == "lease_expired":
                    # We lost contact long enough that someone else may own it already:
                    # our copy may be stale, so it is dropped rather than handed on.
                    continue
                tmp = self._path(p) + f".{self.node.id}.tmp"
                with open(tmp, "w") as f:
                    json.dump({"token": change.tokens[p], "entries": entries}, f)
                os.replace(tmp, self._path(p))  # atomic: the next owner sees all or nothing
        # Returning tells ringfast we let go; only then is the partition assigned elsewhere.

    def on_assigned(self, change: PartitionsChanged) -> None:
        with self.lock:
            for p in change.partitions:
                try:
                    with open(self._path(p)) as f:
                        self.entries[p] = json.load(f)["entries"]
                    os.remove(self._path(p))  # ours now; a later owner gets our own hand-off
                except FileNotFoundError:
                    self.entries[p] = {}  # first owner, or the last one crashed: start empty

    def put(self, key: str, value: int) -> bool:
        """Store the entry if its partition is ours; False tells the caller to re-route."""
        p = self.node.partition(key)
        with self.lock:
            if p not in self.entries:
                return False
            self.entries[p][key] = value
            return True


class Client:
    """Routes each key to the owner of its partition, as the ring describes it."""

    def __init__(self, caches: dict[str, CacheNode]) -> None:
        self.caches = caches
        self.retries = 0  # puts that found no owner: a partition was between two nodes

    def owner_of(self, key: str) -> CacheNode | None:
        for cache in self.caches.values():  # any running node knows the ring
            if cache.node.role in ("leader", "follower"):
                p = cache.node.partition(key)
                for m in cache.node.ring():
                    if p in m["partitions"] and m["id"] in self.caches:
                        return self.caches[m["id"]]
        return None

    def put(self, key: str, value: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            owner = self.owner_of(key)
            if owner is not None and owner.put(key, value):
                return
            self.retries += 1
            time.sleep(0.005)  # mid-handoff or a stale view: the ring settles within a round trip
        raise TimeoutError(f"no owner accepted {key!r}")


def settled(caches: dict[str, CacheNode], num_partitions: int) -> bool:
    """Every partition held by exactly one running node, and each cache agrees with its node."""
    running = [c for c in caches.values() if c.node.role in ("leader", "follower")]
    if sum(c.node.is_leader for c in running) != 1:
        return False
    held = []
    for c in running:
        with c.lock:
            if set(c.entries) != set(c.node.partitions()):
                return False
            held += list(c.entries)
    return sorted(held) == list(range(num_partitions))


def check(phase: str, caches: dict[str, CacheNode], acked: dict[str, int], num_partitions: int) -> bool:
    """Every acknowledged entry in exactly one cache, its partition's owner, with its last value."""
    where: dict[str, list[tuple[str, int, int]]] = {}  # key -> [(node id, partition, value)]
    for c in caches.values():
        with c.lock:
            for p, entries in c.entries.items():
                for key, value in entries.items():
                    where.setdefault(key, []).append((c.node.id, p, value))
    missing = [k for k in acked if k not in where]
    twice = [k for k, places in where.items() if len(places) > 1]
    stale = [k for k, places in where.items() if k in acked and places[0][2] != acked[k]]
    misplaced = [k for k, places in where.items()
                 if any(p not in caches[nid].node.partitions() for nid, p, _ in places)]
    sizes = ", ".join(f"{c.node.id}: {sum(map(len, c.entries.values()))}" for c in caches.values())
    print(f"cache: after {phase}: {len(where)} entries, {len(missing)} missing, {len(twice)} on two nodes, "
          f"{len(stale)} stale, {len(misplaced)} misplaced ({sizes})", flush=True)
    return not (missing or twice or stale or misplaced)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3, help="initial nodes (one is the leader, which caches nothing)")
    ap.add_argument("--entries", type=int, default=300)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--handoff-dir", help="shared handoff store (default: a temporary directory, removed at exit)")
    ap.add_argument("--dump", help="write each phase's cache contents here as JSON")
    args = ap.parse_args(argv)
    if args.nodes < 3:
        ap.error("--nodes must be at least 3 (a leader and two followers, one of which leaves)")
    if args.handoff_dir:
        os.makedirs(args.handoff_dir, exist_ok=True)
        return run(args, args.handoff_dir)
    with tempfile.TemporaryDirectory(prefix="ringfast-cache-") as handoff:  # removed at the end
        return run(args, handoff)


def run(args: argparse.Namespace, handoff: str) -> int:
    with tempfile.TemporaryDirectory(prefix="ringfast-cache-state-") as state:  # removed at the end
        return run_with_state(args, handoff, state)


def run_with_state(args: argparse.Namespace, handoff: str, state: str) -> int:
    ports = free_ports(args.nodes + 1)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[: args.nodes])  # the voters

    # Each node gets a state dir of its own in a new, empty temporary folder: a node whose
    # state dir holds nothing yet has never voted, so it votes at once, and a leader elected
    # by such nodes only has no earlier lease to wait out: the ring owns every partition
    # within about a second of the start instead of after two failure timeouts. (A real
    # deployment keeps each node's state dir across restarts: that is what makes a
    # restarted voter safe. Here every run is a new cluster, so the folder goes at the end.)
    def start(i: int) -> CacheNode:
        # The node joining later is not a seed: it joins through the seeds and gets partitions,
        # but does not vote.
        node = ringfast.Node(node_id=f"n{i}", port=ports[i], seeds=seeds, num_partitions=args.partitions,
                             heartbeat_interval_ms=100, failure_timeout_ms=500, monitoring_port="off", mode="thread",
                             state_dir=os.path.join(state, f"n{i}"))
        cache = CacheNode(node, handoff)  # callbacks registered before start: no event is missed
        node.start()
        return cache

    caches = {f"n{i}": start(i) for i in range(args.nodes)}
    client = Client(caches)
    acked: dict[str, int] = {}  # key -> the last value a put() returned for: what the cache must hold
    dump: dict[str, dict[str, object]] = {}  # phase -> {node id: {partition: entries}}, phase_acked -> acked
    ok = True
    try:
        wait_until(lambda: settled(caches, args.partitions), 60, "the ring to settle")
        keys = [f"user-{i}" for i in range(args.entries)]
        for key in keys:
            client.put(key, 0)
            acked[key] = 0

        # Keep writing while nodes join and leave: updates must survive the handoffs.
        def writer(stop: threading.Event) -> None:
            version = 0
            while not stop.is_set():
                version += 1
                key = keys[version % len(keys)]
                client.put(key, version)
                acked[key] = version
                time.sleep(0.001)

        def while_writing(change: Callable[[], None], name: str) -> None:
            """Run `change` with the writer busy, then stop it, let the ring settle and check."""
            nonlocal ok
            stop = threading.Event()
            w = threading.Thread(target=writer, args=(stop,), daemon=True)
            w.start()
            time.sleep(0.2)
            change()
            time.sleep(0.3)
            stop.set()
            w.join()
            wait_until(lambda: settled(caches, args.partitions), 60, f"the ring to settle after the {name}")
            ok = check(name, caches, acked, args.partitions) and ok
            dump[name] = {c.node.id: {str(p): dict(e) for p, e in c.entries.items()} for c in caches.values()}
            dump[name + "_acked"] = dict(acked)

        while_writing(lambda: None, "fill")

        def join() -> None:
            # The new node takes a fair share, loaded from what the others handed off.
            new = f"n{args.nodes}"
            caches[new] = start(args.nodes)
            wait_until(lambda: caches[new].node.partitions(), 60, f"{new} to get partitions")
            print(f"cache: {new} joined and holds partitions {caches[new].node.partitions()}", flush=True)

        while_writing(join, "join")

        def leave() -> None:
            # A follower holding entries stops; stop() returns once it has handed them off.
            c = max((c for c in caches.values() if c.node.role == "follower" and c.node.id != f"n{args.nodes}"),
                    key=lambda c: (len(c.node.partitions()), c.node.id))
            held = c.node.partitions()
            c.node.stop()
            del caches[c.node.id]
            print(f"cache: {c.node.id} left, handing off partitions {held}", flush=True)

        while_writing(leave, "leave")
    finally:
        for c in caches.values():
            c.node.stop()
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(dump, f)
    print(f"cache: {client.retries} puts were retried while a partition was being handed off", flush=True)
    print("cache: OK" if ok else "cache: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
