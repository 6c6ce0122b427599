"""`Node`: one member of a ring, running the protocol (`ringfast.ring`) on gevent greenlets.

Lifecycle: ``start()`` binds the cluster port (and the monitoring port), then runs
greenlets for the listener, a ticker and one connection per peer; ``stop()`` hands the
node's partitions off (``leave``) or releases them for a quick return (``restart``), then
closes everything.

Two ways to run: inside a gevent application (the greenlets join the caller's hub; this
is picked when the ``threading`` module is monkey-patched), or in a plain threaded
program (``mode="thread"``, the default there): the node then runs its own hub in a
background thread, so a busy main thread cannot starve the heartbeats, and callbacks run
on a worker thread so a slow callback cannot either. Each mode is a handler object
(``handlers/``); the node picks one and otherwise never asks which it has.

What the API reports is one frozen `Snapshot` (``snapshot.py``), rebuilt by the loop after
every change and swapped in whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, overload

import gevent
import gevent.queue

from . import events as ev
from ._impl import Partitioner
from .events import Event, EventName, LeaderChanged, MemberChanged, PartitionsChanged, Payload
from .events import _LeaderEvent, _MemberEvent, _PartitionEvent
from .clock import now as lease_clock
from .config import Config, format_address
from .keywords import node_config, refuse_old_keywords
from .errors import ConfigError, NotRunningError, RingfastError
from .handlers import for_mode
from .ring import Ring
from .driver import Driver
from .connections import Connections, NodeWorld
from .node_loop import NodeLoop
from .snapshot import Snapshot, SnapshotMaker

if TYPE_CHECKING:
    from ._impl import Key
    from .disk import Journal, StateFile
    from .monitoring import MonitoringServer

log = logging.getLogger(__name__)


class RingMember(TypedDict):
    """One member as [`Node.ring()`][ringfast.Node.ring] describes it (the leader's description,
    as this node last received it)."""

    id: str
    """The member's node id."""
    addr: str
    """The address it advertises (`host:port`)."""
    priority: int
    """Its priority: lower leads."""
    role: str
    """`"leader"` or `"follower"`."""
    partitions: list[int]
    """The partitions it holds, sorted."""


class Node(NodeLoop):
    """A member of the ring. See the module docstring for the lifecycle and modes.

    Every setting is an optional keyword, with the same name, type and unit as for
    [`ringfast.aio.Node`][ringfast.aio.Node]; units are in the names (`failure_timeout_ms=500`,
    `handler_timeout_s=10`). One not given comes from its `RINGFAST_`-prefixed environment
    variable (`RINGFAST_PORT`, `RINGFAST_HEART_BEAT_CHECK_FREQUENCY`...), then from the default
    in the [configuration table](configuration.md); ring-election's bare names
    (`PORT`, `SEED_NODES`...) are read only by [`from_env`][ringfast.Node.from_env]. A bad
    value raises [`ConfigError`][ringfast.errors.ConfigError] naming the keyword, and so does
    a name without its unit (`failure_timeout=500`: write `failure_timeout_ms=500`).

    Args:
        config: a ready [`Config`][ringfast.Config] instead of the keywords below.
        mode: `"thread"` runs the node on its own gevent hub in a background thread, and
            the callbacks on a worker thread; `"gevent"` runs it on the caller's hub (the
            application has monkey-patched); `"auto"` picks `"gevent"` when `threading` is
            monkey-patched, else `"thread"`.
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
        clock: the clock leases are timed on, in seconds (default: `CLOCK_BOOTTIME` on
            Linux, which counts through a suspend); for tests.
    """

    @refuse_old_keywords
    def __init__(
        self,
        config: Config | None = None,
        *,
        mode: Literal["auto", "gevent", "thread"] = "auto",
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
        clock: Callable[[], float] = lease_clock,
    ) -> None:
        self.config: Config = node_config(config, locals())
        """The node's settings (host names resolved and the port fixed once started)."""
        self._handler = for_mode(mode)  # where the loop runs (handlers/): the only use of `mode`
        self.mode: Literal["gevent", "thread"] = self._handler.name
        """How the node runs (`"auto"` resolved): on the caller's hub, or on its own hub thread."""
        self._clock = clock
        self._callbacks: dict[str, list[Callable[..., None]]] = {name: [] for name in ev.EVENTS}
        self._partitioner = Partitioner(self.config.num_partitions)
        # Applications call node.partition(key) per key: bound straight to the compiled
        # method it would only forward to, it costs no Python frame (about 1.8x faster).
        # (The same signature as the method below, which documents it.)
        self.partition = self._partitioner.partition  # type: ignore[method-assign]
        self._ring: Ring | None = None
        self._driver: Driver | None = None  # feeds the ring and carries out what it decides
        self._conns = Connections(self)  # the cluster port, and every connection both ways
        self._monitor: MonitoringServer | None = None
        self._greenlets: list[gevent.Greenlet[..., Any]] = []
        self._ready = self._handler.event()  # follows the snapshot's `ready`; the application waits on it
        self._running = False
        self._snapshot = Snapshot()  # replaced whole (_publish), never changed: any thread may read it
        self._snapshots = SnapshotMaker()
        self._journal: Journal | None = None
        self._state: StateFile | None = None
        self._event_queue: gevent.queue.Queue[tuple[str, Payload, Callable[[bool], None] | None]] | None = None
        self._busy = False
        from .metrics import Metrics

        self.metrics = Metrics(self)

    @classmethod
    @refuse_old_keywords
    def from_env(
        cls,
        *,
        mode: Literal["auto", "gevent", "thread"] = "auto",
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
    ) -> Node:
        """A node configured as `ringfast node` is: the keywords, which are those of
        [`Node`][ringfast.Node] (same names, types and units), then the `RINGFAST_` names,
        then ring-election's bare ones (`PORT`, `HOST`, `SEED_NODES`, `NODE_ID`...), with
        monitoring on 9000 unless `MONITORING_PORT` (or `monitoring_port=`) says otherwise."""
        return cls(node_config(None, locals(), from_env=True), mode=mode)

    # ------------------------------------------------------------------ public API

    @overload
    def on(self, event: _PartitionEvent, callback: Callable[[PartitionsChanged], None]) -> None: ...
    @overload
    def on(self, event: _LeaderEvent, callback: Callable[[LeaderChanged], None]) -> None: ...
    @overload
    def on(self, event: _MemberEvent, callback: Callable[[MemberChanged], None]) -> None: ...
    @overload
    def on(self, event: Event | EventName, callback: Callable[[Payload], None]) -> None: ...
    def on(self, event: Event | EventName, callback: Callable[[Any], None]) -> None:
        """Call `callback(payload)` on each `event` (an [`Event`][ringfast.events.Event] or its
        name as a string), with the payload that event carries:
        [`PartitionsChanged`][ringfast.events.PartitionsChanged] for PARTITIONS_ASSIGNED /
        PARTITIONS_REVOKED, [`LeaderChanged`][ringfast.events.LeaderChanged] for BECOME_LEADER /
        LEADER_CHANGED, [`MemberChanged`][ringfast.events.MemberChanged] for MEMBER_JOINED /
        MEMBER_LEFT (a callback taking any [`Payload`][ringfast.events.Payload] fits every event).

        Callbacks run one at a time, in order, each bounded by the handler timeout, as
        greenlets (mode `"gevent"`) or on a worker thread (mode `"thread"`); one that raises
        is logged. They return nothing: a coroutine function is refused by type checkers, as
        this node would never await it ([`ringfast.aio.Node`][ringfast.aio.Node] does). A
        PARTITIONS_REVOKED is acknowledged once its callbacks have returned (one still running
        at the handler timeout leaves it to the lease). Raises
        [`ConfigError`][ringfast.errors.ConfigError] for an unknown event name."""
        if event not in self._callbacks:
            raise ConfigError(f"unknown event {event!r}; expected one of {', '.join(ev.EVENTS)}")
        self._callbacks[event].append(callback)

    def off(self, event: Event | EventName, callback: Callable[..., None]) -> None:
        """Remove a callback added with [`on`][ringfast.Node.on] (nothing if it is not there)."""
        if event in self._callbacks and callback in self._callbacks[event]:
            self._callbacks[event].remove(callback)

    def snapshot(self) -> Snapshot:
        """Everything this node reports, as one frozen [`Snapshot`][ringfast.snapshot.Snapshot]
        taken at one instant (the properties below each read the latest, so two of them may
        straddle an update; the fields of one snapshot never do). Cheap, and safe from any
        thread: the node swaps in a new snapshot after each change, never edits one."""
        return self._snapshot

    @property
    def id(self) -> str:
        """This node's id (`node_id`, else its advertised `host:port`)."""
        return self._snapshot.id or self.config.node_id or self.config.address

    @property
    def address(self) -> str:
        """The `host:port` the others reach this node at (the port fixed once started)."""
        return self._snapshot.address or self.config.address

    @property
    def leader(self) -> str | None:
        """The id of the leader this node follows (None while unknown)."""
        return self._snapshot.leader

    @property
    def is_leader(self) -> bool:
        return self._snapshot.role == "leader"

    @property
    def role(self) -> Literal["leader", "follower", "candidate", "stopped"]:
        """"leader", "follower", "candidate" or "stopped"."""
        return self._snapshot.role

    @property
    def epoch(self) -> int:
        """The current epoch (leadership term)."""
        return self._snapshot.epoch

    @property
    def partitioner(self) -> Partitioner:
        """The cluster's key -> partition function (`num_partitions` of this node's config)."""
        return self._partitioner

    def partition(self, key: Key) -> int:
        """The partition of `key` in this cluster (same answer on every node)."""
        return self._partitioner.partition(key)

    def partitions(self) -> list[int]:
        """The partitions this node holds right now, sorted (none once its lease ran out,
        even before the node has noticed: after a freeze, say)."""
        snap = self._snapshot
        return list(snap.partitions) if snap.valid_until > self._clock() else []

    def fencing_token(self, partition: int) -> int | None:
        """The fencing token of `partition` while this node holds it, else None."""
        snap = self._snapshot
        return snap.tokens.get(partition) if snap.valid_until > self._clock() else None

    def ring(self) -> list[RingMember]:
        """Members as last described by the leader (copies), as
        [`RingMember`][ringfast.node.RingMember] dicts: `id`, `addr`, `priority`, `role`,
        `partitions`."""
        return [m.as_dict() for m in self._snapshot.members]

    def unowned_partitions(self) -> int:
        """On the leader, how many partitions its table gives no owner right now (a lost
        member's, waiting for its lease to surely end; a restarting member's, kept for its
        return; new ones not handed out yet); 0 on any other node. Counted when called, in
        O(partitions): not part of the [`snapshot`][ringfast.Node.snapshot], which the node
        takes after every message."""
        ring = self._ring
        return ring.table.unowned() if ring is not None and ring.role == "leader" else 0

    def engine_status(self) -> dict[str, Any] | None:
        """With an engine backend: `{"backend", "endpoint", "connected", "keepalive_rtt_s",
        "problem"}` (`problem`: why the node does not take part now, such as another live
        process with its id, else None). None with the built-in protocol or before start."""
        runner = getattr(self, "_engine_runner", None)
        return None if runner is None else runner.status()

    @property
    def monitoring_address(self) -> tuple[str, int] | None:
        """The (host, port) the monitoring HTTP API listens on, or None (off, not started,
        or closed because its API could not be loaded: the log says why)."""
        monitor = self._monitor
        return monitor.address if monitor is not None and not monitor.failed else None

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until this node knows a leader (and, if a follower, holds a lease).

        Returns False on timeout; raises NotRunningError if the node is not running."""
        if not self._running:
            raise NotRunningError(f"node {self.id} is not running: call start() first")
        return self._ready.wait(timeout)  # cooperatively in mode "gevent"

    def start(self) -> Node:
        """Bind the cluster port (and the monitoring port) and join the ring; returns the node.

        Raises [`ConfigError`][ringfast.errors.ConfigError] when a port cannot be bound or a
        file (secret, TLS, state dir) is unusable, and
        [`RingfastError`][ringfast.errors.RingfastError] if the node is already started."""
        if self._running:
            raise RingfastError("node already started")
        self._handler.start(self._start_in_loop, name=f"ringfast-{self.config.node_id or 'node'}")
        return self

    def stop(self, restart: bool = False, timeout: float | None = None) -> None:
        """Leave the ring: hand partitions off at once (or, with restart=True, release them
        for a return with the same id within the leader's grace window), then close."""
        if not self._running:
            return
        if timeout is None:
            timeout = self.config.failure_timeout + self.config.handler_timeout
        self._handler.stop(lambda: self._stop_in_loop(restart, timeout), timeout)

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ running

    # Everything below runs in the loop (the handler's), never in the application's thread.

    def _start_in_loop(self) -> None:
        from . import addresses

        cfg = self.config
        if cfg.backend != "builtin":
            from .engine.runner import start_engine_node

            start_engine_node(self)  # no cluster port: the ring lives in the engine
            return
        names = (cfg.host, cfg.monitoring_host)  # as configured: /status answers to these names (monitoring.py)
        bound = addresses.bind_host(cfg)
        self._conns.load_keys()
        persisted = self._open_disk(cfg)  # before binding anything: a bad path is a ConfigError
        try:
            listener = self._conns.listen(bound)
        except OSError as e:
            self._close_journal()
            what = "HOST" if cfg.host is not None else "HOST (not set, chosen)"
            raise ConfigError(f"PORT={cfg.port}: cannot listen on {what} {bound}:{cfg.port}: {e.strerror or e}") from None
        cfg = self.config = addresses.settle(cfg, bound, listener.port)
        if cfg.monitoring_port is not None:
            from .monitoring import MonitoringServer

            try:
                self._monitor = MonitoringServer(self, cfg.monitoring_host or bound, cfg.monitoring_port, names)
            except OSError as e:
                listener.stop()
                self._close_journal()
                raise ConfigError(
                    f"MONITORING_PORT={cfg.monitoring_port}: cannot listen on {cfg.monitoring_host or bound}: {e.strerror or e}"
                ) from None
        self._ring = Ring(cfg, self._state, self._clock, max(int(time.time()), persisted or 0), metrics=self.metrics,
                          fresh=bool(cfg.state_dir) and persisted is None, recorded=persisted or 0)
        self._driver = Driver(self._ring, NodeWorld(self), contain=True)
        self._publish()
        self._event_queue = gevent.queue.Queue()
        self._running = True
        listener.start()
        self._greenlets = [self._handler.spawn(self._tick_loop), self._handler.spawn(self._event_loop)]
        if self._monitor is not None:
            # after the ring's first tick: building the monitoring app (importing Falcon)
            # takes a tenth of a second of CPU, which a cold start's election need not wait for
            self._greenlets.append(self._handler.spawn(self._monitor.start))
        log.info("node %s listening on %s as %s (seeds: %s)", cfg.node_id, format_address(cfg.host, cfg.port),
                 cfg.address, ", ".join(cfg.seeds) or "none")
        if cfg.seeds and cfg.address not in cfg.seeds:
            log.warning(
                "node %s: its address %s is not among the seed nodes (%s): it will not vote, and a leader needs "
                "a quorum of the seeds without it; list it in SEED_NODES, or set RINGFAST_ADVERTISE (--advertise) "
                "to its entry there", cfg.node_id, cfg.address, ", ".join(cfg.seeds))
        for warning in cfg.unsafe_settings() + cfg.ignored_variables():
            log.warning("node %s: %s", cfg.node_id, warning)
        if not cfg.state_dir:
            log.warning("node %s: no state dir (RINGFAST_STATE_DIR): after a restart, epochs (fencing tokens) "
                        "start from this host's wall clock, so a clock that is behind the others' can make "
                        "them go backwards and let a restarted voter vote twice in one epoch; set a state "
                        "dir in production", cfg.node_id)
