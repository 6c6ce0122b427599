"""The greenlets of a node whose ring lives in an engine (the node's loop runs them; every
blocking call to the engine goes through the hub's thread pool, so the hub never stalls):

- the session: grant a lease, renew it every third of its TTL, feed each answer (with the
  time its request left) to the ring; a new lease when the engine says it is gone;
- the watch: wait for a change after the last revision read (or a heartbeat interval:
  watches can stall), then read the whole prefix;
- the writes: one transaction at a time, in the order the ring decided them, each followed
  by a read.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import gevent
import gevent.queue

from .etcd import EngineUnavailable, EtcdEngine, LeaseGone

if TYPE_CHECKING:
    from .driver import EngineDriver

log = logging.getLogger(__name__)


# The table is one etcd value (about 60 bytes a partition at most), and etcd takes requests of
# up to 1.5 MiB by default.
MAX_ENGINE_PARTITIONS = 20_000


def lease_ttl(failure_timeout: float) -> int:
    """etcd leases are whole seconds, at least 2 (ZooKeeper sessions are asked for the same;
    the server may agree to more, never counted on as less)."""
    return max(2, math.ceil(failure_timeout))


def open_engine(cfg: Any, prefix: str, timeout: float):
    """The client of the engine `cfg.backend` names (its package imported only now)."""
    if cfg.backend == "zookeeper":
        from .zookeeper import ZookeeperEngine

        return ZookeeperEngine(cfg.engine, prefix, timeout=timeout)
    return EtcdEngine(cfg.engine, prefix, timeout=timeout)


class EngineRunner:
    def __init__(self, node: Any, engine: Any):
        self.node = node
        self.engine = engine
        self.driver: EngineDriver | None = None
        self.ttl = lease_ttl(node.config.failure_timeout)
        self.lease: int | None = None
        self.dropped: set[int] = set()
        self.txns: gevent.queue.Queue = gevent.queue.Queue()
        self.last_rev = 0
        self.reading = False
        self.read_again = False
        self.running = True
        self.connected = False  # the engine answered our last request
        self.keepalive_rtt: float | None = None
        self.ending = 0  # lease revocations under way (a stop waits for them)

    def _blocking(self, fn, *args):
        return gevent.get_hub().threadpool.spawn(fn, *args).get()

    def greenlets(self, spawn) -> list:
        return [spawn(self._session), spawn(self._watch), spawn(self._writes)]

    # ---- the session

    def _session(self):
        clock = self.node._clock
        while self.running:
            if self.lease is None and (self.driver.ring.stopping or self.driver.ring.parked):
                gevent.sleep(0.05)  # leaving: no new session
                continue
            if self.lease is None:
                sent = clock()
                try:
                    lease, ttl = self._blocking(self.engine.grant, self.ttl)
                except EngineUnavailable as e:
                    self._unavailable(e)
                    gevent.sleep(min(1.0, self.ttl / 4))
                    continue
                self.connected = True
                self.lease = lease
                self.driver.lease_granted(lease, ttl, sent)
                self.node._publish()
                self.read()
            gevent.sleep(self.ttl / 3)
            lease = self.lease
            if lease is None or not self.running:
                continue
            sent = clock()
            try:
                ttl = self._blocking(self.engine.keepalive, lease)
            except LeaseGone:
                if lease == self.lease:
                    self.lease = None
                    self.driver.lease_lost(lease)
                    self.node._publish()
                continue
            except EngineUnavailable as e:
                self._unavailable(e)
                continue
            self.connected = True
            self.keepalive_rtt = clock() - sent
            if lease == self.lease:
                self.driver.lease_renewed(lease, ttl, sent)

    def _unavailable(self, e):
        if self.connected:
            log.warning("node %s: %s", self.node.id, e)
        self.connected = False

    def drop_lease(self, lease: int):
        self.dropped.add(lease)
        if lease == self.lease:
            self.lease = None
        self.engine.drop(lease, self.ttl)

    def end_lease(self, lease: int):
        self.dropped.add(lease)
        if lease == self.lease:
            self.lease = None
        self.ending += 1
        try:
            self._blocking(self.engine.revoke, lease)
        except EngineUnavailable as e:
            log.warning("node %s: could not end our lease (%s): the engine ends it within %ds", self.node.id, e,
                        self.ttl)
        finally:
            self.ending -= 1

    # ---- reads and the watch

    def read(self):
        if self.reading:
            self.read_again = True
            return
        self.reading = True
        try:
            while True:
                self.read_again = False
                try:
                    rev, entries = self._blocking(self.engine.range)
                except EngineUnavailable as e:
                    self._unavailable(e)
                    return
                self.connected = True
                if rev >= self.last_rev and self.running:
                    self.last_rev = rev
                    self.driver.view(rev, entries)
                    self.node._publish()
                if not self.read_again:
                    return
        finally:
            self.reading = False

    def _watch(self):
        period = self.node.config.heartbeat_interval
        while self.running:
            changed = self._blocking(self.engine.wait, self.last_rev, period)
            if not self.running:
                return
            if not changed:
                gevent.sleep(0)  # (a failed watch returns at once: the read below paces it)
            self.read()
            if not self.connected:
                gevent.sleep(min(0.5, period))

    # ---- writes, one at a time

    def txn(self, txn):
        self.txns.put(txn)

    def _writes(self):
        while self.running:
            txn = self.txns.get()
            if txn is None:
                return
            try:
                self._blocking(self.engine.txn, txn.compare, txn.success)
            except EngineUnavailable as e:
                self._unavailable(e)
            self.driver.txn_done(txn.what)
            self.read()

    def stop(self):
        self.running = False
        self.txns.put(None)

    def status(self) -> dict:
        """What Node.engine_status() reports."""
        return {"backend": self.node.config.backend, "endpoint": self.engine.names[self.engine.current],
                "connected": self.connected, "keepalive_rtt_s": self.keepalive_rtt,
                "problem": getattr(self.driver.ring, "problem", None) if self.driver else None}


class EngineNodeWorld:
    """The node as an engine-backed driver's world: the application's callbacks and the
    journal as with the built-in protocol (connections.NodeWorld), the engine through the
    runner."""

    def __init__(self, node: Any, runner: EngineRunner):
        from ..connections import NodeWorld

        self._base = NodeWorld(node)
        self.runner = runner
        self.run_revoke = self._base.run_revoke
        self.notify = self._base.notify
        self.record = self._base.record

    def txn(self, txn):
        self.runner.txn(txn)

    def end_lease(self, lease):
        self.runner.ending += 1  # counted at once: the stop that asked for it waits for it
        gevent.spawn(self._end, lease)

    def _end(self, lease):
        self.runner.ending -= 1
        self.runner.end_lease(lease)

    def drop_lease(self, lease):
        self.runner.drop_lease(lease)

    def send(self, *args):
        raise AssertionError("an engine-backed ring sends nothing to peers")

    reply = close = send


def start_engine_node(node: Any) -> None:
    """What `Node.start` does instead of binding a cluster port when `backend` is an engine:
    the ring, its driver, the runner's greenlets (runs in the node's loop)."""
    from ..errors import ConfigError
    from .driver import EngineDriver
    from .keyspace import prefix_of
    from .member import EngineRing

    cfg = node.config
    if not cfg.node_id_given:
        raise ConfigError(f"RINGFAST_BACKEND={cfg.backend}: set NODE_ID (RINGFAST_NODE_ID): with an engine, the "
                          "node id is what tells one process's registration from another's")
    if cfg.num_partitions > MAX_ENGINE_PARTITIONS:
        raise ConfigError(f"NUM_PARTITIONS={cfg.num_partitions}: at most {MAX_ENGINE_PARTITIONS} with "
                          f"RINGFAST_BACKEND={cfg.backend} (the assignment is one value in the engine)")
    engine = open_engine(cfg, prefix_of(cfg.cluster_name), timeout=max(0.2, cfg.failure_timeout / 3))
    persisted = node._open_disk(cfg)
    import time

    runner = EngineRunner(node, engine)
    ring = EngineRing(cfg, node._clock, max(int(time.time()), persisted or 0), storage=node._state,
                      metrics=node.metrics)
    node._ring = ring
    node._engine_runner = runner
    node._driver = runner.driver = EngineDriver(ring, EngineNodeWorld(node, runner), contain=True)
    node._publish()
    node._event_queue = gevent.queue.Queue()
    node._running = True
    node._greenlets = [node._handler.spawn(node._tick_loop), node._handler.spawn(node._event_loop),
                       *runner.greenlets(node._handler.spawn)]
    if cfg.monitoring_port is not None:
        from ..addresses import bind_host
        from ..monitoring import MonitoringServer

        host = cfg.monitoring_host or bind_host(cfg)
        try:
            node._monitor = MonitoringServer(node, host, cfg.monitoring_port, (cfg.host, cfg.monitoring_host))
        except OSError as e:
            node._running = False
            runner.stop()
            gevent.killall(node._greenlets, block=False)
            node._close_journal()
            raise ConfigError(f"MONITORING_PORT={cfg.monitoring_port}: cannot listen on {host}: {e.strerror or e}") from None
        node._greenlets.append(node._handler.spawn(node._monitor.start))
    if cfg.seeds:
        log.warning("node %s: SEED_NODES is ignored with RINGFAST_BACKEND=%s: the engine elects the leader",
                    cfg.node_id, cfg.backend)
    log.info("node %s: ring %r in %s at %s", cfg.node_id, cfg.cluster_name, cfg.backend, ", ".join(engine.names))
