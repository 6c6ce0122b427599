"""Uses of ringfast's public API that `mypy --strict` must accept, and a few it must refuse.

Never run, only type-checked (.ci/typecheck). A line ending in `# type: ignore[code]` must
be a type error of that code: mypy --strict (warn_unused_ignores) reports the ignore as
unused if it is not, so the refusals are checked as well as the acceptances.
"""

from __future__ import annotations

import asyncio
from array import array
from typing import Literal, assert_type

import ringfast
import ringfast.aio
from ringfast.events import Change, Event, EventName, LeaderChanged, MemberChanged, PartitionsChanged, Payload
from ringfast.node import RingMember
from ringfast.snapshot import Member, Snapshot

# --------------------------------------------------------------------- the core

p = ringfast.Partitioner(64)
assert_type(p.partition("order-42"), int)
assert_type(ringfast.partition(b"order-42", 64), int)
batch: array[int] = p.partition_many(["a", "b", 17])
assert_type(ringfast.assign(8, ["a", "b"]), dict[str, list[int]])
p.partition(4.2)  # type: ignore[arg-type]

# --------------------------------------------------------------------- events

assigned: Event = ringfast.PARTITIONS_ASSIGNED
name: EventName = "partitions_revoked"
wrong: EventName = "partition_revoked"  # type: ignore[assignment]
assert_type(Event(name), Event)


def on_change(change: PartitionsChanged) -> None:
    assert_type(change.partitions, list[int])
    assert_type(change.tokens, dict[int, int])
    assert_type(change.epoch, int)


def on_leader(change: LeaderChanged) -> None:
    assert_type(change.leader, str | None)


def describe(change: Change) -> str:
    assert_type(change.event, Event)
    assert_type(change.partitions, tuple[int, ...])
    assert_type(change.member, MemberChanged | None)
    return f"{change.event}: {list(change.partitions)} {dict(change.tokens)} {change.reason}"


# --------------------------------------------------------------------- the threaded node


def on_member(change: MemberChanged) -> None:
    print(change.id, change.address, change.reason)


def on_any(payload: Payload) -> None:
    print(payload)


async def on_change_async(change: PartitionsChanged) -> None:
    await asyncio.sleep(0)


node = ringfast.Node(monitoring_port="off")
node.on(ringfast.PARTITIONS_ASSIGNED, on_change)
node.on("partitions_revoked", on_change)                   # the name as a string
node.on(Event.LEADER_CHANGED, on_leader)
node.on(ringfast.MEMBER_LEFT, on_member)
node.on(Event.BECOME_LEADER, lambda change: print(change.leader, change.epoch))  # the payload type inferred
for each in Event:
    node.on(each, on_any)                                  # a callback taking any payload fits every event
node.off(Event.PARTITIONS_ASSIGNED, on_change)
node.on(Event.MEMBER_JOINED, on_change)  # type: ignore[arg-type]
node.on("member_joined", on_change)  # type: ignore[call-overload]
node.on(Event.PARTITIONS_ASSIGNED, on_leader)  # type: ignore[arg-type]
node.on("partition_assigned", on_change)  # type: ignore[call-overload]
node.on(Event.LEADER_CHANGED, lambda change: print(change.partitions))  # type: ignore[union-attr]
# a coroutine function: the threaded node would call it and never await what it returns
node.on(Event.PARTITIONS_REVOKED, on_change_async)  # type: ignore[arg-type]
node.off("partition_assigned", on_change)  # type: ignore[arg-type]

assert_type(node.partition("order-42"), int)
node.partition(4.2)  # type: ignore[arg-type]
assert_type(node.partitioner, ringfast.Partitioner)
assert_type(node.partitions(), list[int])
assert_type(node.fencing_token(3), int | None)
node.fencing_token("3")  # type: ignore[arg-type]
assert_type(node.ring(), list[RingMember])
for member in node.ring():
    assert_type(member["id"], str)
    assert_type(member["addr"], str)
    assert_type(member["priority"], int)
    assert_type(member["partitions"], list[int])
    member["address"]  # type: ignore[typeddict-item]
snap = node.snapshot()  # one frozen value: its fields agree with each other
assert_type(snap, Snapshot)
assert_type(snap.role, Literal["leader", "follower", "candidate", "stopped"])
assert_type(snap.leader, str | None)
assert_type(snap.epoch, int)
assert_type(snap.partitions, tuple[int, ...])
assert_type(snap.tokens[3], int)
assert_type(snap.valid_until, float)
assert_type(snap.ready, bool)
assert_type(snap.members, tuple[Member, ...])
assert_type(snap.members[0].partitions, tuple[int, ...])
assert_type(snap.members[0].as_dict(), RingMember)
snap.epoch = 3  # type: ignore[misc]
snap.tokens[3] = 1  # type: ignore[index]
assert_type(node.unowned_partitions(), int)
assert_type(node.id, str)
assert_type(node.address, str)
assert_type(node.leader, str | None)
assert_type(node.is_leader, bool)
assert_type(node.role, Literal["leader", "follower", "candidate", "stopped"])
node.role == "leading"  # type: ignore[comparison-overlap]
assert_type(node.epoch, int)
assert_type(node.monitoring_address, tuple[str, int] | None)
assert_type(node.mode, Literal["gevent", "thread"])
assert_type(node.config, ringfast.Config)
assert_type(node.start(), ringfast.Node)
assert_type(node.wait_until_ready(1.0), bool)
assert_type(node.wait_until_ready(), bool)
assert_type(node.stop(restart=True, timeout=5.0), None)
node.stop(timeout="5")  # type: ignore[arg-type]
with ringfast.Node(monitoring_port="off") as running:
    assert_type(running, ringfast.Node)
tuned = ringfast.Node(
    node_id="t1", port=7001, seeds=["127.0.0.1:7001", "127.0.0.1:7002"], num_partitions=12,
    heartbeat_interval_ms=100, failure_timeout_ms=500, reconnect_time_ms=250.0, handler_timeout_s=2.5,
    rejoin_grace_s=10, max_frame_size_bytes=1 << 20, monitoring_port=9000, quorum=2,
    leader_owns_partitions=True, routes={"10.0.0.1:7001": "127.0.0.1:17001"}, mode="thread",
)
assert_type(ringfast.Node(ringfast.Config.load(), mode="gevent"), ringfast.Node)
assert_type(ringfast.Node.from_env(port=7001, failure_timeout_ms=500, mode="thread"), ringfast.Node)
ringfast.Node(failure_timeout=500)  # type: ignore[call-arg]
ringfast.Node(heartbeat_interval=100, failure_timeout_ms=500)  # type: ignore[call-arg]
ringfast.Node(handler_timeout=10)  # type: ignore[call-arg]
ringfast.Node(log_level="debug")  # type: ignore[call-arg]
ringfast.Node.from_env(failure_timeout=500)  # type: ignore[call-arg]
ringfast.Node(failure_timeout_ms="500")  # type: ignore[arg-type]
ringfast.Node(quorum="most")  # type: ignore[arg-type]
ringfast.Node(monitoring_port="none")  # type: ignore[arg-type]
ringfast.Node(mode="threads")  # type: ignore[arg-type]
ringfast.Node(7001)  # type: ignore[arg-type]
ringfast.Node(ringfast.Config.load(), "thread")  # type: ignore[call-arg]

# --------------------------------------------------------------------- asyncio


async def revoked(change: PartitionsChanged) -> None:
    await asyncio.sleep(0)


async def joined(change: MemberChanged) -> None:
    print(change.id, change.address)


async def main() -> None:
    anode = ringfast.aio.Node(
        node_id="w1", port=7001, seeds="127.0.0.1:7001", num_partitions=12,
        heartbeat_interval_ms=100, failure_timeout_ms=500, handler_timeout_s=2.5,
        monitoring_port="off", quorum="majority",
    )
    anode.on(Event.PARTITIONS_REVOKED, revoked)           # a coroutine function
    anode.on("partitions_assigned", on_change)            # a plain function, the name as a string
    anode.on(Event.LEADER_CHANGED, on_leader)
    anode.on(Event.MEMBER_JOINED, joined)
    anode.on(Event.MEMBER_JOINED, revoked)  # type: ignore[call-overload]
    anode.on("partition_assigned", on_change)  # type: ignore[call-overload]
    async with anode as same:
        assert_type(same, ringfast.aio.Node)
        assert_type(await anode.wait_until_ready(timeout=5), bool)
        assert_type(anode.partition("order-42"), int)
        assert_type(anode.partitions(), list[int])
        assert_type(anode.leader, str | None)
        assert_type(anode.snapshot(), Snapshot)
        assert_type(anode.unowned_partitions(), int)
        async for change in anode.changes():
            assert_type(change, Change)
            describe(change)
            break
    await anode.stop(restart=True)
    ringfast.aio.Node(failure_timeout=500)  # type: ignore[call-arg]
    ringfast.aio.Node(failure_timeout_ms="500")  # type: ignore[arg-type]
    ringfast.aio.Node(quorum="most")  # type: ignore[arg-type]
    ringfast.aio.Node(7001)  # type: ignore[call-arg, arg-type]
