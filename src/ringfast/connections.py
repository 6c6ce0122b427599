"""Everything between a node and its sockets.

- `Connections`: the listener's side (accept, admit, drop a connection that says nothing
  valid), the outbound connections by address, the TLS identity check, and every message
  that arrives, handed to the node's driver.
- `Peer`: our outbound connection to one address, (re)opened on demand, following the
  address's name to new IPs.
- `NodeWorld`: the node as the driver's `World` (ringfast/driver.py).
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING

from . import events as ev
from . import protocol
from .addresses import is_ip
from .config import parse_address
from .security import certificate_names, read_secret, tls_contexts
from .transport import Connection, Listener, connect, resolve

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)

MAX_SILENT = 128  # inbound connections that have not sent a valid frame yet
UNRESOLVED_LOG_EVERY = 30.0  # seconds between two warnings about the same peer name


class Connections:
    """A node's connections, both ways."""

    def __init__(self, node: Node):
        self.node = node
        self.peers: dict[str, Peer] = {}  # outbound, by the address we dial
        self.inbound: set[Connection] = set()
        self.listener: Listener | None = None
        self.secret: bytes | None = None
        self.tls_server = self.tls_client = None
        self.logged: set = set()  # refused addresses and identities, said once each
        self.unresolved_logged: dict[str, tuple[float, int]] = {}  # peer -> (last said, failures since)

    def load_keys(self) -> None:
        """The shared secret and the TLS contexts (a ConfigError names a bad file)."""
        cfg = self.node.config
        self.secret = read_secret(cfg.secret_file) if cfg.secret_file else None
        self.tls_server, self.tls_client = tls_contexts(cfg)

    def listen(self, host: str) -> Listener:
        """Bind the cluster port (OSError if it cannot)."""
        cfg = self.node.config
        self.listener = Listener(host, cfg.port, make_connection=self.accept, tls=self.tls_server,
                                 handshake_timeout=cfg.failure_timeout, on_tls_error=self.tls_refused,
                                 admit=self.admit)
        return self.listener

    def close(self) -> None:
        for peer in list(self.peers.values()):
            peer.close()
        for conn in list(self.inbound):
            conn.close()
        if self.listener is not None:
            self.listener.stop(timeout=1.0)

    def peer(self, addr: str) -> Peer:
        peer = self.peers.get(addr)
        if peer is None:
            peer = self.peers[addr] = Peer(self, addr)
        return peer

    def auth(self, initiator: bool):
        return None if self.secret is None else protocol.Auth(self.secret, initiator)

    # ------------------------------------------------------------------ inbound

    def accept(self, sock, peer):
        cfg = self.node.config
        conn = Connection(
            sock, peer, cluster=cfg.cluster_name, max_frame=cfg.max_frame_size,
            on_message=self.on_message, on_close=self.on_inbound_close, on_reject=self.count_reject,
            auth=self.auth(initiator=False), node_id=cfg.node_id,
        )
        conn.peer_addr = None
        conn.silent = True  # until its first valid frame
        self.inbound.add(conn)
        # A connection that never says anything valid only holds a socket: it gets one
        # failure timeout to speak, and only so many may wait at once.
        if self._pending() > MAX_SILENT:
            self.count_reject("too_many_pending")
            conn.close()
        else:
            self.node._handler.spawn_later(cfg.failure_timeout, self.drop_if_silent, conn)
        return conn

    def _pending(self) -> int:
        return sum(1 for c in self.inbound if c.silent) + self.listener.handshaking

    def admit(self) -> bool:
        """A TLS connection may start its handshake only while the cap has room (counted as pending)."""
        if self._pending() >= MAX_SILENT:
            self.count_reject("too_many_pending")
            return False
        return True

    def drop_if_silent(self, conn):
        if conn.silent and not conn.closed:
            log.info("closing connection from %s: nothing valid within %.1fs", conn.peer, self.node.config.failure_timeout)
            self.count_reject("idle")
            conn.close()

    def on_inbound_close(self, conn):
        self.inbound.discard(conn)
        if self.node._running:
            self.node._driver.inbound_closed(conn)

    def on_message(self, conn, kind, body):
        """A validated message, on a connection either side opened."""
        conn.silent = False
        node = self.node
        if not node._running:
            return
        if self.tls_server is not None and not self._tls_names_ok(conn, body["from"]):
            return
        node._driver.receive(conn, kind, body, conn.peer_addr)
        node._publish()

    # ------------------------------------------------------------------ refusals

    def count_reject(self, reason, peer=None):
        self.node.metrics.rejected.labels(reason=reason).inc()
        if reason == "unauthenticated" and peer is not None:
            host = peer.rsplit(":", 1)[0]
            if host not in self.logged:  # once per address, not per attempt
                self.logged.add(host)
                log.warning("refused a connection from %s: it does not know the cluster's secret", host)

    def tls_refused(self, peer, error):
        self.count_reject("unauthenticated", peer)
        log.debug("TLS handshake with %s failed: %s", peer, error)

    def _tls_names_ok(self, conn, sender: str) -> bool:
        """With TLS, a peer speaks only for the node id its certificate names (a DNS or URI
        subject alternative name, or the common name): a member's certificate cannot vote
        or hold partitions under another member's id."""
        names = getattr(conn, "tls_names", None)
        if names is None:
            names = conn.tls_names = certificate_names(conn.sock)
        if sender in names:
            return True
        self.node.metrics.refusals.labels(reason="tls_identity").inc()
        key = (conn.peer, sender)
        if key not in self.logged:
            self.logged.add(key)
            log.error("closing connection from %s: it speaks as node %r but its certificate names %s",
                      conn.peer, sender, sorted(names) or "nothing")
        conn.close()
        return False

    def unresolved(self, addr, host, error):
        """Counted every time; said at WARNING once per UNRESOLVED_LOG_EVERY per peer (a pod
        that is still starting fails every attempt for a while)."""
        self.node.metrics.unresolved.labels(peer=addr).inc()
        now = time.monotonic()
        last, failures = self.unresolved_logged.get(addr, (None, 0))
        failures += 1
        if last is None or now - last >= UNRESOLVED_LOG_EVERY:
            log.warning("cannot resolve %r (peer %s): %s; retrying at every attempt (%d failed so far)",
                        host, addr, getattr(error, "strerror", None) or error, failures)
            last = now
        self.unresolved_logged[addr] = (last, failures)


class Peer:
    """Our outbound connection to one address, (re)opened on demand."""

    def __init__(self, conns: Connections, addr: str):
        self.conns = conns
        self.node = conns.node
        self.addr = addr
        self.host, self.port = parse_address(self.node.config.routes.get(addr, addr), "peer")
        self.conn: Connection | None = None
        self.connecting = None
        self.backlog: list = []
        self.closed_since_leave = False
        self.checked_at = 0.0  # when the name was last looked up again for an open connection
        self._stopped = False

    def send(self, kind, body):
        if self._stopped:
            return
        if self.conn is not None and not self.conn.closed:
            now = time.monotonic()
            if now - self.checked_at >= self.node.config.reconnect_time:
                self.checked_at = now
                self.node._handler.spawn(self._still_there, self.conn)
            self.conn.send(kind, body)
            return
        if len(self.backlog) < 64:
            self.backlog.append((kind, body))
        if self.connecting is None:
            self.connecting = self.node._handler.spawn(self._connect)

    def _connect(self):
        cfg, conns = self.node.config, self.conns
        try:
            conn = connect(
                (self.host, self.port), timeout=min(cfg.failure_timeout, cfg.reconnect_time),
                cluster=cfg.cluster_name, max_frame=cfg.max_frame_size, user_timeout=cfg.failure_timeout,
                on_message=conns.on_message, on_close=self._on_close, on_reject=conns.count_reject,
                auth=conns.auth(initiator=True), node_id=cfg.node_id, tls=conns.tls_client,
            )
        except OSError as e:
            if isinstance(e, socket.gaierror):  # not fatal: retried at the next send (pod still starting)
                conns.unresolved(self.addr, self.host, e)
            self.backlog.clear()
            self.connecting = None
            if self.node._running:
                self.node._connection_lost(self.addr)
            return
        self.checked_at = time.monotonic()
        conn.peer_addr = self.addr
        self.conn = conn
        self.connecting = None
        backlog, self.backlog = self.backlog, []
        for kind, body in backlog:
            conn.send(kind, body)

    def _still_there(self, conn):
        """Close `conn` if the peer's name now points elsewhere (it moved: its old address
        may never answer, not even with a reset); the next send reconnects to the new one."""
        if is_ip(self.host):
            return
        try:
            ips = resolve(self.host, self.port)
        except OSError:
            return  # a name briefly missing (a pod being replaced) says nothing about this connection
        if conn.remote_ip not in ips and not conn.closed:
            log.info("%s now resolves to %s, not %s: reconnecting", self.addr, ", ".join(ips), conn.remote_ip)
            conn.close()

    def _on_close(self, conn):
        if conn is self.conn:
            self.conn = None
            self.closed_since_leave = True
            if self.node._running and not self._stopped:
                self.node._connection_lost(self.addr)

    def close(self):
        self._stopped = True
        if self.conn is not None:
            self.conn.close()
        if self.connecting is not None:
            self.connecting.kill(block=False)


class NodeWorld:
    """The node as the driver's `World` (ringfast/driver.py): real connections, the
    application's callbacks on the node's event queue, the journal file."""

    def __init__(self, node: Node):
        self.node = node

    def send(self, to, kind, body):
        self.node._conns.peer(to).send(kind, body)

    def reply(self, link, kind, body):
        link.send(kind, body)

    def close(self, link):
        link.close()

    def run_revoke(self, change: ev.PartitionsChanged, done):
        self.node._emit(ev.PARTITIONS_REVOKED, change, done)

    def notify(self, event, payload):
        self.node._emit(event, payload)

    def record(self, event, fields):
        self.node._journal_write(event, **fields)
