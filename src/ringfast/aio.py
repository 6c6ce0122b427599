"""ringfast for asyncio applications.

```python
async with ringfast.aio.Node(node_id="w1", port=7001, seeds=SEEDS) as node:
    node.on(ringfast.PARTITIONS_REVOKED, on_revoked)   # may be a coroutine function
    await node.wait_until_ready()
```

How it runs, and why neither side can stall the other:

* The node is a [`ringfast.Node`][ringfast.Node] in thread mode: its own gevent hub in a
  background thread runs the heartbeats, leases and elections. Nothing there ever waits on the
  application's event loop.
* That node runs each callback on a worker thread of its hub and waits for it, bounded by
  the handler timeout. The callback this module registers hands the event to the
  application's loop (`run_coroutine_threadsafe`) and waits in that worker thread. So a
  busy or blocked loop delays events (and, past the handler timeout, a revoke's
  acknowledgement: the lease then decides, as for a slow callback of a threaded node), never
  a heartbeat.
* The loop never waits on the node: starting and stopping run in a thread
  (`asyncio.to_thread`) and `wait_until_ready` polls.

A revoke is acknowledged (and its partitions may go to another node) only once every
handler returned, coroutines included, and every `changes()` iterator that received it
asked for its next change; or when the handler timeout ends the wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Union, overload

from .config import Config
from .keywords import node_config, refuse_old_keywords
from .errors import ConfigError
from .events import Change, Event, EventName, LeaderChanged, MemberChanged, Payload, PartitionsChanged
from .events import _LeaderEvent, _MemberEvent, _PartitionEvent
from .node import Node as _ThreadNode
from .node import RingMember
from .snapshot import Snapshot

if TYPE_CHECKING:
    from ._impl import Key, Partitioner

__all__ = ["Node", "Changes", "Handler"]

log = logging.getLogger(__name__)

Handler = Callable[[Payload], Union[Awaitable[None], None]]
"""A callback: a function or a coroutine function taking the event's payload."""

_READY_POLL_S = 0.01


class Node:
    """A ring member for an asyncio application. See the module docstring for how it runs.

    Every keyword is optional, with the same name, type, unit and meaning as for
    [`ringfast.Node`][ringfast.Node]: one not given comes from its `RINGFAST_`-prefixed
    environment variable, then from the default in the configuration table. Units are in
    the names; a name without its unit (`failure_timeout=500`) raises
    [`ConfigError`][ringfast.errors.ConfigError] saying the one to write.

    Args:
        node_id: stable id of this node; keep it across restarts (default: the advertised
            `host:port`).
        host: address the cluster port (and monitoring) listens on.
        advertise: the name or address (optionally `host:port`) the others reach this
            node at, when it is not `host`: its identity among the seeds.
        port: cluster port (`0`: any free port).
        seeds: the seed nodes (the voters), as `"host:port,..."` or a sequence of `"host:port"`.
        priority: lower leads (default: this node's position in `seeds`).
        num_partitions: how many partitions the cluster splits; the same on every node.
        heartbeat_interval_ms: follower heartbeat period; shorter than the failure timeout.
        failure_timeout_ms: failure timeout, and the lease: a follower that had no heartbeat
            answered for this long gives its partitions up.
        reconnect_time_ms: connect timeout to a peer (capped by the failure timeout).
        monitoring_port: HTTP monitoring port, or `"off"`.
        monitoring_host: HTTP monitoring address (default `host`).
        monitoring_hosts: more host names the monitoring API answers to (it checks the
            `Host` header against DNS rebinding), as `"a,b"` or a sequence; `"*"` for any.
        quorum: `"majority"`, a number of seeds, or `"none"` (unsafe: both sides of a
            network split elect a leader).
        leader_owns_partitions: let the leader own partitions too.
        cluster_name: name of the cluster, checked on every frame.
        handler_timeout_s: bound on each event's handlers; a revoke not acknowledged
            within it is left to the lease.
        rejoin_grace_s: how long the leader keeps the partitions of a node that stopped
            with `restart=True` for its return.
        max_frame_size_bytes: largest frame accepted.
        journal: append events as JSON lines to this file.
        state_dir: keep the highest epoch here across restarts.
        secret_file: file with the shared cluster secret (at least 16 bytes, readable by
            its owner only: mode 600 or 400): nodes authenticate each other and every
            frame carries a MAC.
        tls_cert: this node's certificate (PEM), for mutual TLS with `tls_key` and `tls_ca`.
        tls_key: the private key of `tls_cert` (PEM).
        tls_ca: the CA that signs every member's certificate (PEM).
        routes: `{addr: connect_addr}` (in the environment `addr=connect_addr,...`):
            reach the node known as `addr` through `connect_addr` (NAT, port forwarding,
            test proxies).
        backend: where the ring's state lives: `"builtin"` (the nodes' own protocol, the
            default), `"etcd"` or `"zookeeper"` (an engine you run; needs `engine` and `node_id`).
        engine: the engine's endpoints: `"http://host:2379,..."` (etcd), `"host:2181,..."` (ZooKeeper).
        config: a ready [`Config`][ringfast.Config] instead of the keywords above.
    """

    @refuse_old_keywords
    def __init__(
        self,
        *,
        node_id: str | None = None,
        host: str | None = None,
        advertise: str | None = None,
        port: int | None = None,
        seeds: str | Sequence[str] | None = None,
        priority: int | None = None,
        num_partitions: int | None = None,
        heartbeat_interval_ms: float | None = None,
        failure_timeout_ms: float | None = None,
        reconnect_time_ms: float | None = None,
        monitoring_port: int | Literal["off"] | None = None,
        monitoring_host: str | None = None,
        monitoring_hosts: str | Sequence[str] | None = None,
        quorum: Literal["majority", "none"] | int | None = None,
        leader_owns_partitions: bool | None = None,
        cluster_name: str | None = None,
        handler_timeout_s: float | None = None,
        rejoin_grace_s: float | None = None,
        max_frame_size_bytes: int | None = None,
        journal: str | None = None,
        state_dir: str | None = None,
        secret_file: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_ca: str | None = None,
        routes: Mapping[str, str] | None = None,
        backend: Literal["builtin", "etcd", "zookeeper"] | None = None,
        engine: str | None = None,
        config: Config | None = None,
    ) -> None:
        self._node = _ThreadNode(node_config(config, locals()), mode="thread")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handlers: dict[Event, list[Callable[..., object]]] = {e: [] for e in Event}
        self._subscribers: weakref.WeakSet[Changes] = weakref.WeakSet()
        self._held: dict[int, int] = {}  # partition -> token, as delivered to the application
        self._held_epoch = 0
        self.partition: Callable[[Key], int] = self._node.partition
        """The partition of a key in this cluster (the same answer on every node)."""
        for event in Event:
            self._node.on(event, _Bridge(self, event))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Node:
        """Bind the ports and join the ring (the blocking part runs in a thread)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._node.start)
        return self

    async def stop(self, *, restart: bool = False, timeout: float | None = None) -> None:
        """Leave the ring (default: hand partitions to the others at once), or with
        `restart=True` release them for a return with the same id within the rejoin
        grace. Revoke handlers run on this loop meanwhile. Ends every `changes()`."""
        try:
            await asyncio.to_thread(self._node.stop, restart, timeout)
        finally:
            for sub in list(self._subscribers):
                sub._end()

    async def leave(self) -> None:
        """`stop()`: hand this node's partitions to the others at once."""
        await self.stop()

    async def restart(self) -> None:
        """`stop(restart=True)`: release the partitions, to come back with the same id."""
        await self.stop(restart=True)

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait until this node knows a leader (and, as a follower, holds a lease).

        `timeout` is in seconds; returns False when it passed. Raises
        [`ringfast.NotRunningError`][ringfast.NotRunningError] if the node is not running."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._node.wait_until_ready(0):
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(_READY_POLL_S)
        return True

    # ------------------------------------------------------------------ events

    @overload
    def on(self, event: _PartitionEvent, handler: Callable[[PartitionsChanged], Awaitable[None] | None]) -> None: ...
    @overload
    def on(self, event: _LeaderEvent, handler: Callable[[LeaderChanged], Awaitable[None] | None]) -> None: ...
    @overload
    def on(self, event: _MemberEvent, handler: Callable[[MemberChanged], Awaitable[None] | None]) -> None: ...
    def on(self, event: Event | EventName, handler: Callable[..., Awaitable[None] | None]) -> None:
        """Call `handler(payload)` on this loop for each `event`; a coroutine function
        is awaited. Handlers of one event run one after the other, in the order added;
        one that raises is logged and the next runs."""
        self._handlers[_event(event)].append(handler)

    def off(self, event: Event | EventName, handler: Callable[..., Awaitable[None] | None]) -> None:
        """Remove a handler added with [`on`][ringfast.aio.Node.on] (nothing if it is not there)."""
        handlers = self._handlers[_event(event)]
        if handler in handlers:
            handlers.remove(handler)

    def changes(self) -> Changes:
        """Every event from now on, as [`Change`][ringfast.events.Change] objects, starting with
        the partitions this node already holds (one PARTITIONS_ASSIGNED) if any.

        A revoke it yields is acknowledged when the loop asks for the next change, so
        stop using those partitions in the body of the `async for`. Iteration ends when
        the node stops; `break` (or `aclose()`) ends it earlier."""
        return Changes(self)

    async def _deliver(self, event: Event, payload: Payload) -> None:
        """On the loop: the event's handlers, then the revoke acknowledgements of the
        iterators."""
        change = Change.of(event, payload)
        self._remember(change)
        acks = [sub._put(change) for sub in list(self._subscribers)]
        for handler in list(self._handlers[event]):
            try:
                result = handler(payload)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("%s handler %r raised (ignored)", event, handler)
        await asyncio.gather(*(a for a in acks if a is not None))

    def _remember(self, change: Change) -> None:
        if change.event is Event.PARTITIONS_ASSIGNED:
            self._held.update(change.tokens)
            self._held_epoch = change.epoch
        elif change.event is Event.PARTITIONS_REVOKED:
            for p in change.partitions:
                self._held.pop(p, None)

    def _held_now(self) -> Change | None:
        if not self._held:
            return None
        payload = PartitionsChanged(sorted(self._held), dict(self._held), self._held_epoch)
        return Change.of(Event.PARTITIONS_ASSIGNED, payload)

    # ------------------------------------------------------------------ state

    def snapshot(self) -> Snapshot:
        """Everything this node reports, as one frozen [`Snapshot`][ringfast.snapshot.Snapshot]
        taken at one instant (see [`ringfast.Node.snapshot`][ringfast.Node.snapshot])."""
        return self._node.snapshot()

    def unowned_partitions(self) -> int:
        """On the leader, how many partitions its table gives no owner right now; 0 on any
        other node (see [`ringfast.Node.unowned_partitions`][ringfast.Node.unowned_partitions])."""
        return self._node.unowned_partitions()

    @property
    def config(self) -> Config:
        """The node's settings (host names resolved and the port fixed once started)."""
        return self._node.config

    @property
    def id(self) -> str:
        return self._node.id

    @property
    def address(self) -> str:
        return self._node.address

    @property
    def leader(self) -> str | None:
        """The id of the leader this node follows (None while unknown)."""
        return self._node.leader

    @property
    def is_leader(self) -> bool:
        return self._node.is_leader

    @property
    def role(self) -> Literal["leader", "follower", "candidate", "stopped"]:
        """"leader", "follower", "candidate" or "stopped"."""
        return self._node.role

    @property
    def epoch(self) -> int:
        return self._node.epoch

    @property
    def partitioner(self) -> Partitioner:
        return self._node.partitioner

    @property
    def monitoring_address(self) -> tuple[str, int] | None:
        return self._node.monitoring_address

    def partitions(self) -> list[int]:
        """The partitions this node holds right now (none once its lease ran out)."""
        return self._node.partitions()

    def fencing_token(self, partition: int) -> int | None:
        """The fencing token of `partition` while this node holds it, else None."""
        return self._node.fencing_token(partition)

    def ring(self) -> list[RingMember]:
        """Members as last described by the leader (copies), as
        [`RingMember`][ringfast.node.RingMember] dicts: `id`, `addr`, `priority`, `role`,
        `partitions`."""
        return self._node.ring()


def _event(event: Event | str) -> Event:
    try:
        return Event(event)
    except ValueError:
        raise ConfigError(f"unknown event {event!r}; expected one of {', '.join(e.value for e in Event)}") from None


class _Bridge:
    """The callback registered on the threaded node: runs on one of its worker threads,
    hands the event to the loop and waits there, so the hub never waits on the loop."""

    def __init__(self, node: Node, event: Event) -> None:
        self._node = weakref.ref(node)
        self.event = event

    def __call__(self, payload: Payload) -> None:
        node = self._node()
        if node is None or node._loop is None:
            return
        loop = node._loop
        delivery = node._deliver(self.event, payload)
        try:
            future = asyncio.run_coroutine_threadsafe(delivery, loop)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            delivery.close()
            log.warning("%s not delivered: the application's event loop is closed", self.event)
            return
        # The threaded node gives up on this callback after the handler timeout (a revoke
        # is then not acknowledged and the lease decides). Returning earlier than the
        # coroutine would acknowledge too soon, so wait past that point, then let go of
        # this worker thread.
        timeout = node.config.handler_timeout
        try:
            future.result(timeout + max(timeout, 5.0))
        except concurrent.futures.TimeoutError:
            log.error("%s handlers still running after %.1fs", self.event, 2 * timeout)
        except concurrent.futures.CancelledError:
            log.warning("%s delivery cancelled (the event loop is shutting down)", self.event)


class Changes:
    """The async iterator [`Node.changes`][ringfast.aio.Node.changes] returns (`async for change in ...`)."""

    def __init__(self, node: Node) -> None:
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self._acks: list[asyncio.Future[None]] = []  # revokes yielded or queued, not yet acknowledged
        self._yielded_ack: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}  # id(change) -> its ack, while queued
        self._node: Node | None = node
        self._done = False
        first = node._held_now()
        if first is not None:
            self._queue.put_nowait(first)
        node._subscribers.add(self)
        # Dropped without aclose() (a `break` out of `async for`): release what it holds.
        weakref.finalize(self, Changes._release, self._acks)

    def _put(self, change: Change) -> asyncio.Future[None] | None:
        if self._done:
            return None
        ack: asyncio.Future[None] | None = None
        if change.event is Event.PARTITIONS_REVOKED:
            ack = asyncio.get_running_loop().create_future()
            self._acks.append(ack)
            self._pending[id(change)] = ack
        self._queue.put_nowait(change)
        return ack

    def _end(self) -> None:
        self._queue.put_nowait(None)

    def __aiter__(self) -> Changes:
        return self

    async def __anext__(self) -> Change:
        self._acknowledge_yielded()
        if self._done:
            raise StopAsyncIteration
        change = await self._queue.get()
        if change is None:
            await self.aclose()
            raise StopAsyncIteration
        self._yielded_ack = self._pending.pop(id(change), None)
        return change

    def _acknowledge_yielded(self) -> None:
        ack, self._yielded_ack = self._yielded_ack, None
        if ack is not None:
            self._acks.remove(ack)
            if not ack.done():
                ack.set_result(None)

    async def aclose(self) -> None:
        """Stop receiving changes; every revoke it still holds counts as acknowledged."""
        self._done = True
        self._yielded_ack = None
        Changes._release(self._acks)
        if self._node is not None:
            self._node._subscribers.discard(self)
            self._node = None

    @staticmethod
    def _release(acks: list[asyncio.Future[None]]) -> None:
        for ack in acks:
            if not ack.done():
                try:
                    ack.get_loop().call_soon_threadsafe(_settle, ack)
                except RuntimeError:  # loop closed
                    pass
        acks.clear()


def _settle(ack: asyncio.Future[None]) -> None:
    if not ack.done():
        ack.set_result(None)
