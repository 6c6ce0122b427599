"""What a `Node` runs in its loop (its handler's hub), never in the application's thread:
the tick loop, the snapshot it publishes after each change, the ordered event queue that
runs the application's callbacks, the journal and the state dir, and the orderly stop.
`Node` (node.py) inherits it; the start, which binds the ports, stays there."""

from __future__ import annotations

import logging
import time

import gevent

from .assumptions import epoch_cap
from .errors import ConfigError
from .handlers import CallbackTimeout

log = logging.getLogger(__name__)


class NodeLoop:
    """Part of `Node`: the state it reads and writes is the Node's."""

    # Epochs must keep growing across a restart of the whole cluster (fencing tokens outlive
    # it): the ring starts above the persisted highest epoch, else above the wall clock in
    # seconds. Disk failures never raise into the protocol: see disk.py.
    def _open_disk(self, cfg) -> int | None:
        from .disk import Journal, StateFile

        persisted = None
        if cfg.state_dir:
            self._state = StateFile(cfg.state_dir, on_failure=self.metrics.state_failures.inc,
                                    voters=cfg.seeds, quorum=cfg.quorum_size())
            persisted = self._state.check()
            cap = epoch_cap(time.time())
            if persisted is not None and persisted > cap:
                # written by a node whose clock was far ahead, or damaged: starting from it
                # would exhaust the epochs (every peer refuses them), so refuse to start
                raise ConfigError(f"RINGFAST_STATE_DIR={cfg.state_dir!r}: the state file holds epoch {persisted}, "
                                  f"above the highest this clock allows ({cap}); check the clock, or remove the "
                                  "file if the cluster's fencing tokens allow it")
        if cfg.journal:
            self._journal = Journal(cfg.journal, on_failure=lambda e: self.metrics.journal_failures.inc())
        return persisted

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _tick_loop(self):
        period = min(self.config.heartbeat_interval / 2, self.config.failure_timeout / 10, 0.05)
        while self._running:
            self._driver.tick()
            self._publish()
            self._handler.sleep(self._driver.next_tick(self._clock(), period))

    def _connection_lost(self, addr: str) -> None:
        """Our connection to `addr` closed or could not open. If it was the leader's, the ring
        elects at `election_at`, a few milliseconds from now: tick then, not at the next
        period of the loop (up to 50 ms later), which is most of a failover's time."""
        self._driver.connection_lost(addr)
        ring = self._ring
        if ring.role == "follower" and ring.leader is None:
            self._handler.spawn_later(max(0.0, ring.election_at - self._clock()), self._tick_once)

    def _tick_once(self) -> None:
        if self._running:
            self._driver.tick()
            self._publish()

    def _publish(self, stopped: bool = False) -> None:
        """A new snapshot of the ring, swapped in whole (one reference assignment: a reader
        on another thread has the old one or the new one, never a mix); the readiness flag
        follows it."""
        snap = self._snapshot = self._snapshots.take(self._ring, self._clock(), stopped)
        if snap.ready != self._ready.is_set():
            (self._ready.set if snap.ready else self._ready.clear)()

    def _stop_in_loop(self, restart: bool, timeout: float):
        runner = getattr(self, "_engine_runner", None)
        if runner is not None:
            return self._stop_engine_in_loop(runner, restart, timeout)
        ring = self._ring
        deadline = time.monotonic() + timeout
        peer = self._conns.peers.get(ring.leader_addr) if ring.role == "follower" and ring.leader_addr else None
        if peer is not None:
            peer.closed_since_leave = False
        was_leader = ring.role == "leader"
        self._driver.leave(restart)
        # Handlers first (the revoke runs them), then our "revoked" and "leave" go out, and
        # the leader, having freed our partitions, closes the connection: that is the ack.
        while time.monotonic() < deadline and (not self._event_queue.empty() or self._busy):
            self._handler.sleep(0.005)
        while peer is not None and not peer.closed_since_leave and time.monotonic() < deadline:
            self._handler.sleep(0.005)
        if was_leader:
            self._handler.sleep(0.05)  # let the leave frames reach the followers
        self._running = False
        self._conns.close()
        self._close_all()

    def _stop_engine_in_loop(self, runner, restart: bool, timeout: float):
        """Leave a ring kept in an engine: handlers first, then our lease is ended in the
        engine (which deletes our keys: the leader frees our partitions at once)."""
        deadline = time.monotonic() + timeout
        self._driver.leave(restart)
        while time.monotonic() < deadline and (not self._ring.stopped or runner.lease is not None
                                               or not self._event_queue.empty() or self._busy):
            self._handler.sleep(0.005)
        while time.monotonic() < deadline and runner.ending:
            self._handler.sleep(0.005)
        self._running = False
        runner.stop()
        self._close_all()

    def _close_all(self):
        """The last of a stop, whichever the backend: monitoring, greenlets, journal."""
        if self._monitor is not None:
            self._monitor.stop()
        gevent.killall(self._greenlets, block=False)
        self._close_journal()
        self._publish(stopped=True)
        log.info("node %s stopped", self.id)

    # ------------------------------------------------------------------ events

    def _emit(self, name, payload, done=None):
        self._event_queue.put((name, payload, done))

    def _event_loop(self):
        """Callbacks run one at a time, in order, each bounded by handler_timeout."""
        while True:
            name, payload, done = self._event_queue.get()
            self._busy = True
            ok = True
            for cb in list(self._callbacks[name]):
                ok = self._run_callback(cb, name, payload) and ok
            if done is not None:
                try:
                    done(ok)
                except Exception:
                    log.exception("error after %s", name)
                self._publish()
            self._busy = False

    def _run_callback(self, cb, name, payload) -> bool:
        timeout = self.config.handler_timeout
        try:
            self._handler.run_callback(cb, payload, timeout)
            return True
        except (CallbackTimeout, gevent.Timeout):  # (a gevent.Timeout of the callback's own too, as always)
            log.error("%s callback %r did not return within %.1fs", name, cb, timeout)
            return False
        except Exception:
            log.exception("%s callback %r raised (ignored)", name, cb)
            return True

    def _journal_write(self, event, **fields):
        if self._journal is None:
            return
        self._journal.write({"t": self._clock(), "node": self.id, "event": event, **fields})
