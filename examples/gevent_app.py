"""ringfast in a monkey-patched gevent application.

    python examples/gevent_app.py [--nodes 3] [--seconds 2]

Patch first, before anything imports `socket` or `threading`. A Node created with the
default mode "auto" then sees the patched `threading` and runs in *your* hub: its
listener, heartbeats and connections are greenlets next to yours, and your callbacks run
as greenlets too. The one rule: nothing in the hub may block without yielding for longer
than the lease (the failure timeout), or the node misses its heartbeats like a frozen
process would.

The script runs a ring of `--nodes` nodes in this one hub next to an application
greenlet, reads a node's /status over patched urllib, stops the leader to watch a new one
take over, prints what it saw and exits 0.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after patching, on purpose)
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter  # noqa: E402

import gevent  # noqa: E402

import ringfast  # noqa: E402
from ringfast import BECOME_LEADER, PARTITIONS_ASSIGNED, PARTITIONS_REVOKED  # noqa: E402

from _common import free_ports, wait_until  # noqa: E402  (examples/_common.py: copy it along)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="how long the application greenlet works")
    args = ap.parse_args(argv)
    if args.nodes < 3:
        ap.error("--nodes must be at least 3 (the leader stops, and two must remain to elect a new one)")

    ports = free_ports(2 * args.nodes)
    seeds = ",".join(f"127.0.0.1:{p}" for p in ports[: args.nodes])
    events: list[tuple[str, str, object, bool]] = []  # (event, node, detail, ran in a greenlet?)

    def record(event: str, nid: str, detail: object) -> None:
        events.append((event, nid, detail, isinstance(gevent.getcurrent(), gevent.Greenlet)))

    # Each node gets a state dir of its own in a new, empty temporary folder: a node whose
    # state dir holds nothing yet has never voted, so it votes at once, and a leader elected
    # by such nodes only has no earlier lease to wait out: the ring owns every partition
    # within about a second of the start instead of after two failure timeouts. (A real
    # deployment keeps each node's state dir across restarts: that is what makes a
    # restarted voter safe. Here every run is a new cluster, so the folder goes at the end.)
    state = tempfile.TemporaryDirectory(prefix="ringfast-gevent-")

    def watch(node: ringfast.Node) -> ringfast.Node:
        nid = node.id
        node.on(PARTITIONS_ASSIGNED, lambda c: record("assigned", nid, c.partitions))
        node.on(PARTITIONS_REVOKED, lambda c: record("revoked", nid, c.partitions))
        node.on(BECOME_LEADER, lambda c: record("become_leader", nid, c.epoch))
        return node

    nodes = [
        watch(ringfast.Node(node_id=f"g{i}", port=ports[i], seeds=seeds, num_partitions=12,
                            heartbeat_interval_ms=100, failure_timeout_ms=500, state_dir=f"{state.name}/g{i}",
                            monitoring_port=ports[args.nodes + i]))  # mode="auto" -> "gevent" here
        for i in range(args.nodes)
    ]
    print(f"gevent_app: node modes: {sorted({n.mode for n in nodes})}", flush=True)

    # The application's own work, sharing the hub with the nodes: it must keep its pace.
    beats: list[float] = []

    def app_work() -> None:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            beats.append(time.monotonic())
            gevent.sleep(0.01)

    for n in nodes:
        n.start()
    try:
        worker = gevent.spawn(app_work)
        if not all(n.wait_until_ready(timeout=60) for n in nodes):  # waits cooperatively here
            print("gevent_app: the ring did not form", flush=True)
            return 1
        # (time.sleep, patched, is gevent.sleep: the nodes run in this same hub meanwhile)
        wait_until(lambda: sum(len(n.partitions()) for n in nodes) == 12, 60, "every partition to be owned")
        leader = next(n for n in nodes if n.is_leader)
        print(f"gevent_app: leader {leader.id}, epoch {leader.epoch}", flush=True)
        for n in nodes:
            print(f"gevent_app: {n.id} ({n.role}) holds {n.partitions()}", flush=True)

        # Blocking-style code is fine once patched: this urlopen yields to the hub while the
        # node answering it runs in the same hub.
        address = nodes[0].monitoring_address  # (host, port); None only without monitoring
        if address is None:
            raise SystemExit("gevent_app: monitoring is off")
        with urllib.request.urlopen(f"http://127.0.0.1:{address[1]}/status", timeout=5) as r:
            status = json.load(r)
        print(f"gevent_app: /status of {status['node']['id']} says leader {status['leader']}, "
              f"{len(status['members'])} members", flush=True)

        worker.join()
        gaps = [b - a for a, b in zip(beats, beats[1:])]
        print(f"gevent_app: application greenlet ran {len(beats)} times, longest pause "
              f"{max(gaps, default=0) * 1000:.0f} ms", flush=True)

        # Stop the leader: it tells the others, who elect a new one at once (higher epoch).
        old_epoch = leader.epoch
        leader.stop()
        rest = [n for n in nodes if n is not leader]
        elected = wait_until(lambda: sum(n.is_leader for n in rest) == 1 and all(n.epoch > old_epoch for n in rest)
                             and sum(len(n.partitions()) for n in rest) == 12,
                             60, "a new leader, and every partition owned")
        new = next((n for n in rest if n.is_leader), None)
        print(f"gevent_app: stopped leader {leader.id}; new leader {new.id if new else None}, "
              f"epoch grew: {elected}", flush=True)
        for n in rest:
            print(f"gevent_app: {n.id} ({n.role}) holds {n.partitions()}", flush=True)
    finally:
        for n in sorted(nodes, key=lambda n: n.is_leader):  # the leader last: no needless election
            n.stop()
        state.cleanup()

    counts = Counter(e[0] for e in events)
    in_greenlets = all(e[3] for e in events)
    print(f"gevent_app: callbacks: {dict(sorted(counts.items()))}; all ran as greenlets: {in_greenlets}",
          flush=True)
    ok = elected and in_greenlets and all(n.mode == "gevent" for n in nodes)
    print("gevent_app: OK" if ok else "gevent_app: FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
