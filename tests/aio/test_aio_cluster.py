"""ringfast.aio with real nodes on loopback, all in this process on one asyncio loop
(each node runs its own hub thread, as in an application)."""

from __future__ import annotations

import asyncio
import time

import pytest

import ringfast
import ringfast.aio
from ringfast.events import Change, Event, PartitionsChanged
from support import free_ports

pytestmark = pytest.mark.cluster

P = 12
FAST = dict(heartbeat_interval_ms=50, failure_timeout_ms=400, monitoring_port="off", num_partitions=P)


def make(ids, ports, seeds=None, **extra):
    seeds = seeds or ",".join(f"127.0.0.1:{p}" for p in ports)
    return [ringfast.aio.Node(node_id=i, port=p, seeds=seeds, **{**FAST, **extra}) for i, p in zip(ids, ports)]


async def until(cond, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def settled(nodes):
    leaders = {n.leader for n in nodes}
    held = sorted(p for n in nodes for p in n.partitions())
    return len(leaders) == 1 and None not in leaders and held == list(range(P))


async def stop_all(nodes):
    """Followers first: a follower stopping after its leader has gone waits for an
    acknowledgement of its leave until its stop timeout."""
    for n in sorted(nodes, key=lambda n: n.is_leader):
        await n.stop()


class Seen:
    """What coroutine handlers were told, per node: partitions held, per event."""

    def __init__(self, node):
        self.held = set()
        self.tokens = {}
        node.on(Event.PARTITIONS_ASSIGNED, self.assigned)
        node.on(Event.PARTITIONS_REVOKED, self.revoked)

    async def assigned(self, change: PartitionsChanged):
        await asyncio.sleep(0)  # a real coroutine, suspended once
        self.held.update(change.partitions)
        self.tokens.update(change.tokens)

    async def revoked(self, change: PartitionsChanged):
        await asyncio.sleep(0)
        self.held.difference_update(change.partitions)


def test_async_with_forms_a_ring_and_tells_the_loop():
    async def main():
        ports = free_ports(3)
        nodes = make(["a0", "a1", "a2"], ports)
        seen = {n: Seen(n) for n in nodes}
        async with nodes[0], nodes[1], nodes[2]:
            assert all(await asyncio.gather(*(n.wait_until_ready(15) for n in nodes)))
            await until(lambda: settled(nodes), what="a settled ring")
            await until(lambda: all(set(n.partitions()) == seen[n].held for n in nodes), 5, "handlers")
            for n in nodes:
                for p in n.partitions():
                    assert n.fencing_token(p) == seen[n].tokens[p]
                assert n.partition("order-42") == ringfast.partition("order-42", P)
            leader = next(n for n in nodes if n.is_leader)
            assert sorted(m["id"] for m in leader.ring()) == ["a0", "a1", "a2"]
            follower = next(n for n in nodes if not n.is_leader)
            held = follower.partitions()

            async def collect():  # in its own task: the stop below waits for it to go on
                return [c async for c in follower.changes()]  # ends when the node stops

            collector = asyncio.create_task(collect())
            await asyncio.sleep(0.05)
            await follower.stop()
            rest = [n for n in nodes if n is not follower]
            got = await asyncio.wait_for(collector, 5)
            first, revokes = got[0], [c for c in got if c.event is Event.PARTITIONS_REVOKED]
            assert first.event is Event.PARTITIONS_ASSIGNED and list(first.partitions) == held  # already held
            assert [(c.reason, list(c.partitions)) for c in revokes] == [("stop", held)]
            assert seen[follower].held == set() and follower.role == "stopped"
            await until(lambda: sorted(p for n in rest for p in n.partitions()) == list(range(P)), what="handoff")
            await stop_all(rest)  # leader last; leaving the block then finds them stopped

    asyncio.run(main())


def test_a_revoke_is_acknowledged_only_after_the_coroutine_returned():
    """A joining node takes partitions from both followers: from one that revokes in a
    coroutine handler, and from one that revokes in the body of `async for`. It is given
    each partition only after the old owner finished with it."""

    async def main():
        ports = free_ports(4)
        seeds = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
        nodes = make(["r0", "r1", "r2"], ports[:3], seeds, handler_timeout_s=5)
        released = {}  # partition -> when its old owner finished with it
        taken = {}  # partition -> when the new node was told it has it

        async def slow_revoke(change):
            await asyncio.sleep(0.3)
            released.update({p: (time.monotonic(), "handler") for p in change.partitions})

        for n in nodes:
            await n.start()
        await until(lambda: settled(nodes), what="a settled ring")
        followers = [n for n in nodes if not n.is_leader]
        followers[0].on(Event.PARTITIONS_REVOKED, slow_revoke)

        async def consume(changes):
            async for change in changes:
                if change.event is Event.PARTITIONS_REVOKED:
                    await asyncio.sleep(0.3)
                    released.update({p: (time.monotonic(), "iterator") for p in change.partitions})

        consumer = asyncio.create_task(consume(followers[1].changes()))
        newcomer = make(["r3"], ports[3:], seeds, handler_timeout_s=5)[0]
        newcomer.on(Event.PARTITIONS_ASSIGNED,
                    lambda change: taken.update({p: time.monotonic() for p in change.partitions}))
        await newcomer.start()
        everyone = nodes + [newcomer]
        await until(lambda: settled(everyone) and len(newcomer.partitions()) == 4, what="the join's rebalance")
        await until(lambda: len(taken) == 4, 5, "the newcomer's handler")
        assert sorted(taken) == newcomer.partitions() and set(taken) <= set(released), (taken, released)
        assert sorted(how for _, how in released.values()) == ["handler"] * 2 + ["iterator"] * 2  # 6+6 -> 4+4+4
        for p, at in taken.items():
            done = released[p][0]
            assert at >= done, f"partition {p} given to r3 {done - at:.3f}s before its owner let go"
        await stop_all(everyone)
        await asyncio.wait_for(consumer, 5)

    asyncio.run(main())


def test_a_blocked_event_loop_does_not_stop_the_heartbeats():
    async def main():
        ports = free_ports(3)
        nodes = make(["b0", "b1", "b2"], ports)
        async def collect(node):
            return [c async for c in node.changes()]

        collectors = [asyncio.create_task(collect(n)) for n in nodes]
        for n in nodes:
            await n.start()
        await until(lambda: settled(nodes), what="a settled ring")
        before = [(n.role, n.epoch, n.partitions()) for n in nodes]
        time.sleep(1.0)  # blocks the loop for 2.5 leases (failure_timeout_ms=400)
        await asyncio.sleep(0.2)  # let queued events through
        assert [(n.role, n.epoch, n.partitions()) for n in nodes] == before
        await stop_all(nodes)
        seen = await asyncio.wait_for(asyncio.gather(*collectors), 5)
        assert any(c.event is Event.PARTITIONS_ASSIGNED for c in seen[0] + seen[1] + seen[2])
        expired = [c for cs in seen for c in cs if c.reason == "lease_expired"]
        assert expired == [], expired

    asyncio.run(main())


def test_restart_gets_the_same_partitions_back():
    async def main():
        ports = free_ports(3)
        nodes = make(["s0", "s1", "s2"], ports, rejoin_grace_s=10)
        for n in nodes:
            await n.start()
        await until(lambda: settled(nodes), what="a settled ring")
        follower = next(n for n in nodes if not n.is_leader)
        mine = follower.partitions()
        others = [n for n in nodes if n is not follower]
        await follower.restart()
        assert follower.partitions() == []
        again = make([follower.id], [follower.config.port], ",".join(f"127.0.0.1:{p}" for p in ports),
                     rejoin_grace_s=10)[0]
        seen = Seen(again)
        await again.start()
        await until(lambda: settled(others + [again]), what="the ring with the node back")
        assert again.partitions() == mine
        await until(lambda: seen.held == set(mine), 5, "the handler")
        await stop_all(others + [again])

    asyncio.run(main())


def test_a_hung_revoke_handler_is_bounded_by_the_handler_timeout():
    async def main():
        ports = free_ports(3)
        nodes = make(["h0", "h1", "h2"], ports, handler_timeout_s=0.3)
        for n in nodes:
            await n.start()
        await until(lambda: settled(nodes), what="a settled ring")
        follower = next(n for n in nodes if not n.is_leader)

        async def hang(change):
            await asyncio.Event().wait()

        follower.on(Event.PARTITIONS_REVOKED, hang)
        t = time.monotonic()
        await asyncio.wait_for(follower.stop(), 10)
        assert time.monotonic() - t < 0.4 + 0.3 + 1.0
        rest = [n for n in nodes if n is not follower]
        await until(lambda: sorted(p for n in rest for p in n.partitions()) == list(range(P)), what="takeover")
        await stop_all(rest)

    asyncio.run(main())
