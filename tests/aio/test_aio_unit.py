"""ringfast.aio without a network: keywords and their units, event names, the Change
object, and when a revoke handed to a changes() iterator counts as acknowledged."""

from __future__ import annotations

import asyncio

import pytest

import ringfast
import ringfast.aio
from ringfast.errors import ConfigError, NotRunningError
from ringfast.events import Change, Event, LeaderChanged, MemberChanged, PartitionsChanged


def test_keywords_carry_their_units_in_the_name():
    node = ringfast.aio.Node(heartbeat_interval_ms=100, failure_timeout_ms=500, reconnect_time_ms=250,
                             handler_timeout_s=2, rejoin_grace_s=7, max_frame_size_bytes=65536,
                             monitoring_port="off", seeds=["127.0.0.1:7001", "127.0.0.1:7002"])
    cfg = node.config
    assert (cfg.heartbeat_interval, cfg.failure_timeout, cfg.reconnect_time) == (0.1, 0.5, 0.25)
    assert (cfg.handler_timeout, cfg.rejoin_grace, cfg.max_frame_size) == (2.0, 7.0, 65536)
    assert cfg.monitoring_port is None and cfg.seeds == ("127.0.0.1:7001", "127.0.0.1:7002")


def test_a_bad_keyword_value_names_the_keyword_as_written():
    with pytest.raises(ConfigError, match=r"^failure_timeout_ms=5: must be in \[20, 3600000\] ms$"):
        ringfast.aio.Node(failure_timeout_ms=5)


def test_config_and_keywords_together_are_refused():
    with pytest.raises(ConfigError, match="also got num_partitions, port"):
        ringfast.aio.Node(config=ringfast.Config.load(), port=7001, num_partitions=4)


def test_unknown_event_is_refused_with_the_known_names():
    node = ringfast.aio.Node(monitoring_port="off")
    with pytest.raises(ValueError, match="unknown event 'partition_assigned'; expected one of become_leader"):
        node.on("partition_assigned", print)  # type: ignore[call-overload]


def test_wait_until_ready_before_start_raises():
    node = ringfast.aio.Node(monitoring_port="off")
    with pytest.raises(NotRunningError):
        asyncio.run(node.wait_until_ready(0.1))


def test_event_names_are_strings_and_enum_members():
    assert ringfast.PARTITIONS_REVOKED is Event.PARTITIONS_REVOKED == "partitions_revoked"
    assert f"{Event.BECOME_LEADER}" == str(Event.BECOME_LEADER) == "become_leader"
    assert {Event.MEMBER_LEFT: 1}["member_left"] == 1
    assert ringfast.events.EVENTS == tuple(Event) and len(Event) == 6


def test_change_of_each_payload():
    pc = PartitionsChanged([1, 4], {1: 7, 4: 9}, 3, reason="rebalance")
    c = Change.of("partitions_revoked", pc)
    assert (c.event, c.partitions, dict(c.tokens), c.epoch, c.reason, c.payload) == (
        Event.PARTITIONS_REVOKED, (1, 4), {1: 7, 4: 9}, 3, "rebalance", pc)
    c = Change.of(Event.LEADER_CHANGED, LeaderChanged("n2", 5))
    assert (c.leader, c.epoch, c.partitions, c.member) == ("n2", 5, (), None)
    m = MemberChanged("n3", "127.0.0.1:7003", 2)
    assert Change.of(Event.MEMBER_JOINED, m).member is m


def _revoke(*partitions):
    return PartitionsChanged(list(partitions), {p: 100 + p for p in partitions}, 1, reason="rebalance")


def _assign(*partitions):
    return PartitionsChanged(list(partitions), {p: 100 + p for p in partitions}, 1)


def test_a_revoke_is_acknowledged_when_the_iterator_asks_for_the_next_change():
    async def main():
        node = ringfast.aio.Node(monitoring_port="off")
        changes = node.changes()
        order = []
        await node._deliver(Event.PARTITIONS_ASSIGNED, _assign(1, 2))
        delivery = asyncio.create_task(node._deliver(Event.PARTITIONS_REVOKED, _revoke(1)))
        first = await changes.__anext__()
        assert first.event is Event.PARTITIONS_ASSIGNED and first.partitions == (1, 2)
        second = await changes.__anext__()
        assert second.event is Event.PARTITIONS_REVOKED and second.partitions == (1,)
        await asyncio.sleep(0.05)
        assert not delivery.done()  # the body of the `async for` is still using partition 1
        order.append("stopped using 1")
        next_change = asyncio.create_task(changes.__anext__())
        await asyncio.wait_for(delivery, 1)
        order.append("acknowledged")
        assert order == ["stopped using 1", "acknowledged"]
        next_change.cancel()

    asyncio.run(main())


def test_a_new_iterator_starts_with_what_is_held_and_a_dropped_one_holds_nothing_up():
    async def main():
        node = ringfast.aio.Node(monitoring_port="off")
        await node._deliver(Event.PARTITIONS_ASSIGNED, _assign(3, 5, 8))
        await node._deliver(Event.PARTITIONS_REVOKED, _revoke(5))  # nobody listening: at once
        changes = node.changes()
        first = await changes.__anext__()
        assert first.event is Event.PARTITIONS_ASSIGNED and first.partitions == (3, 8)
        assert dict(first.tokens) == {3: 103, 8: 108}
        delivery = asyncio.create_task(node._deliver(Event.PARTITIONS_REVOKED, _revoke(3)))
        await asyncio.sleep(0.05)
        assert not delivery.done()  # queued in the iterator, not yet consumed
        del changes, first  # dropped (as by `break`): its revokes count as acknowledged
        await asyncio.wait_for(delivery, 1)
        assert len(node._subscribers) == 0

    asyncio.run(main())


def test_handlers_run_in_order_coroutines_awaited_and_errors_logged(caplog):
    async def main():
        node = ringfast.aio.Node(monitoring_port="off")
        ran = []

        async def slow(change):
            await asyncio.sleep(0.02)
            ran.append(("slow", change.partitions))

        def broken(change):
            raise RuntimeError("boom")

        node.on(Event.PARTITIONS_REVOKED, slow)
        node.on("partitions_revoked", broken)
        node.on(Event.PARTITIONS_REVOKED, lambda change: ran.append(("sync", change.partitions)))
        await node._deliver(Event.PARTITIONS_REVOKED, _revoke(4))
        assert ran == [("slow", [4]), ("sync", [4])]
        node.off(Event.PARTITIONS_REVOKED, slow)
        await node._deliver(Event.PARTITIONS_REVOKED, _revoke(6))
        assert ran[-1] == ("sync", [6]) and len(ran) == 3

    asyncio.run(main())
    assert "partitions_revoked handler" in caplog.text and "boom" in caplog.text


def test_an_event_after_the_loop_closed_is_dropped_at_once(caplog):
    node = ringfast.aio.Node(monitoring_port="off")
    loop = asyncio.new_event_loop()
    node._loop = loop
    loop.close()
    bridge = ringfast.aio._Bridge(node, Event.PARTITIONS_REVOKED)
    bridge(_revoke(2))  # on the node's worker thread in real life; must not wait
    assert "not delivered: the application's event loop is closed" in caplog.text
