"""ringfast in a plain threaded program whose main thread is busy.

    python examples/threaded_app.py [--nodes 3] [--seconds 3]

No gevent in sight: each Node runs its own gevent hub in a background thread, so a main
thread that computes for seconds at a time cannot starve the heartbeats, and your
callbacks run on a worker thread, so a slow callback cannot either.

The script starts a ring of `--nodes` nodes in this process, keeps the main thread busy
with pure-Python arithmetic for `--seconds`, checks that nobody lost its leader or its
lease meanwhile, stops a follower to watch its partitions move, prints what it saw and
exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter

import ringfast
from ringfast import LEADER_CHANGED, PARTITIONS_ASSIGNED, PARTITIONS_REVOKED

from _common import free_ports  # examples/_common.py: copy it along with this file


def balanced(nodes: list[ringfast.Node], num_partitions: int) -> bool:
    """Every partition held, by followers whose loads differ by at most one."""
    followers = [n for n in nodes if not n.is_leader]
    loads = [len(n.partitions()) for n in followers]
    held = sorted(p for n in nodes for p in n.partitions())
    return held == list(range(num_partitions)) and bool(loads) and max(loads) - min(loads) <= 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="how long the main thread stays busy")
    args = ap.parse_args(argv)
    if args.nodes < 3:
        ap.error("--nodes must be at least 3 (a leader and two followers)")

    ports = free_ports(args.nodes)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports)
    # (event, node, detail, thread) as the callbacks saw them
    seen: list[tuple[str, str, object, threading.Thread]] = []
    seen_lock = threading.Lock()  # callbacks of different nodes run on different threads

    def record(event: str, nid: str, detail: object) -> None:
        with seen_lock:
            seen.append((event, nid, detail, threading.current_thread()))

    # Each node gets a state dir of its own in a new, empty temporary folder: a node whose
    # state dir holds nothing yet has never voted, so it votes at once, and a leader elected
    # by such nodes only has no earlier lease to wait out: the ring owns every partition
    # within about a second of the start instead of after two failure timeouts. (A real
    # deployment keeps each node's state dir across restarts: that is what makes a
    # restarted voter safe. Here every run is a new cluster, so the folder goes at the end.)
    state = tempfile.TemporaryDirectory(prefix="ringfast-threaded-")

    def watch(node: ringfast.Node) -> ringfast.Node:
        nid = node.id
        node.on(PARTITIONS_ASSIGNED, lambda c: record("assigned", nid, c.partitions))
        node.on(PARTITIONS_REVOKED, lambda c: record("revoked", nid, (c.partitions, c.reason)))
        node.on(LEADER_CHANGED, lambda c: record("leader", nid, c.leader))
        return node

    nodes = []
    for i, port in enumerate(ports):
        # mode="thread" is what "auto" picks when gevent has not patched `threading`; a short
        # failure timeout (the lease) makes any starvation show up quickly.
        node = ringfast.Node(node_id=f"t{i}", port=port, seeds=seeds, num_partitions=12,
                             heartbeat_interval_ms=100, failure_timeout_ms=500, monitoring_port="off",
                             mode="thread", state_dir=f"{state.name}/t{i}")
        nodes.append(watch(node).start())

    try:
        # Ready means: a leader is known and, for a follower, a lease is held.
        # Then partitions arrive (at once here: every voter was fresh, see above). Wait for
        # the ring to be balanced, not only owned: a follower that joins the leader a moment
        # after the others first finds every partition with them, and the rebalance that
        # follows revokes some (a move, not a lost lease).
        ready = all(n.wait_until_ready(timeout=60) for n in nodes)
        deadline = time.monotonic() + 60
        while ready and not balanced(nodes, 12):
            if time.monotonic() > deadline:
                ready = False
            time.sleep(0.02)
        if not ready:
            print("threaded_app: the ring did not form", flush=True)
            return 1
        leader = next(n for n in nodes if n.is_leader)
        epoch = leader.epoch
        print(f"threaded_app: leader {leader.id}, epoch {epoch}", flush=True)
        for n in nodes:
            print(f"threaded_app: {n.id} ({n.role}) holds {n.partitions()}", flush=True)
        key = "order-42"
        p = nodes[0].partition(key)
        owner = next(n.id for n in nodes if p in n.partitions())
        print(f"threaded_app: {key!r} -> partition {p}, owned by {owner}; every node agrees: "
              f"{len({n.partition(key) for n in nodes}) == 1}", flush=True)

        # A busy main thread: pure Python, holding the GIL except at switch intervals.
        with seen_lock:
            before = len(seen)
        started, spins = time.monotonic(), 0
        while time.monotonic() - started < args.seconds:
            sum(i * i for i in range(10_000))
            spins += 1
        with seen_lock:
            during = seen[before:]
        lost = [e for e in during if e[0] == "revoked" or (e[0] == "leader" and e[2] != leader.id)]
        unchanged = all(n.leader == leader.id and n.epoch == epoch for n in nodes) and not lost
        print(f"threaded_app: main thread busy for {args.seconds:g} s ({spins} spins); "
              f"leader and leases kept: {unchanged}", flush=True)

        # Stop a follower: it hands its partitions off at once; the others take them.
        follower = max((n for n in nodes if not n.is_leader), key=lambda n: (len(n.partitions()), n.id))
        held = follower.partitions()
        follower.stop()
        rest = [n for n in nodes if n is not follower]
        deadline = time.monotonic() + 30
        while not (handed_off := sorted(p for n in rest for p in n.partitions()) == list(range(12))):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        print(f"threaded_app: stopped {follower.id}; its partitions {held} now held by "
              + ", ".join(f"{n.id}: {sorted(set(held) & set(n.partitions()))}" for n in rest if not n.is_leader),
              flush=True)
        with seen_lock:
            counts = Counter(e[0] for e in seen)  # before the shutdown below adds its own
    finally:
        for n in sorted(nodes, key=lambda n: n.is_leader):  # the leader last: no needless election
            n.stop()
        state.cleanup()

    with seen_lock:  # stop() returns after the node's last callbacks have run
        on_main = sum(e[3] is threading.main_thread() for e in seen)
    print(f"threaded_app: callbacks: {dict(sorted(counts.items()))}; on the main thread: {on_main}", flush=True)
    ok = unchanged and on_main == 0 and handed_off
    print("threaded_app: OK" if ok else "threaded_app: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
