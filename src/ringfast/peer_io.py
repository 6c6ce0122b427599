"""The node's side of its Ring: the `World` it gives the driver (NodeWorld: messages,
events, the journal) and its outbound connections (Peer: one per address,
reopened on demand, following the address's name to new IPs)."""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING

from . import events as ev
from .addresses import is_ip
from .config import parse_address
from .transport import Connection, connect, resolve

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger("ringfast.node")  # these lines have always been the node's


class NodeWorld:
    """The node as the driver's `World` (ringfast/driver.py): real connections, the
    application's callbacks on the node's event queue, the journal file."""

    def __init__(self, node: Node):
        self.node = node

    def send(self, to, kind, body):
        self.node._peer(to).send(kind, body)

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


class Peer:
    """Our outbound connection to one address, (re)opened on demand."""

    def __init__(self, node: Node, addr: str):
        self.node = node
        self.addr = addr
        self.host, self.port = parse_address(node.config.routes.get(addr, addr), "peer")
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
        cfg = self.node.config
        try:
            conn = connect(
                (self.host, self.port), timeout=min(cfg.failure_timeout, cfg.reconnect_time),
                cluster=cfg.cluster_name, max_frame=cfg.max_frame_size, user_timeout=cfg.failure_timeout,
                on_message=self.node._on_message, on_close=self._on_close, on_reject=self.node._count_reject,
                auth=self.node._auth(initiator=True), node_id=cfg.node_id, tls=self.node._tls_client,
            )
        except OSError as e:
            if isinstance(e, socket.gaierror):  # not fatal: retried at the next send (pod still starting)
                self.node._unresolved(self.addr, self.host, e)
            self.backlog.clear()
            self.connecting = None
            if self.node._running:
                self.node._driver.connection_lost(self.addr)
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
                self.node._driver.connection_lost(self.addr)

    def close(self):
        self._stopped = True
        if self.conn is not None:
            self.conn.close()
        if self.connecting is not None:
            self.connecting.kill(block=False)
