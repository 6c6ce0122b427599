"""Framed connections over gevent sockets: one reader and one writer greenlet each.

A connection never blocks the node: sends go through a bounded queue drained by the
writer greenlet, so a peer that stops reading (a paused process) fills its own queue and
is dropped, instead of stalling heartbeats to everyone else.
"""

from __future__ import annotations

import logging

import gevent
import gevent.queue
import gevent.socket
from gevent.server import StreamServer

from . import protocol

log = logging.getLogger(__name__)

MAX_QUEUED = 1024  # frames; a peer this far behind is not keeping up
_CLOSE = object()


class Connection:
    """One TCP connection carrying frames; `on_message(conn, kind, body)` gets what arrives."""

    def __init__(self, sock, peer: str, *, cluster: str, max_frame: int, on_message, on_close, on_reject=None):
        self.sock = sock
        self.peer = peer  # "host:port" of the remote end as seen on the socket
        self.remote_id: str | None = None  # set by the node once the peer said who it is
        self._cluster = cluster
        self._decoder = protocol.Decoder(cluster, max_frame)
        self._on_message = on_message
        self._on_close = on_close
        self._on_reject = on_reject
        self._queue = gevent.queue.Queue()
        self.closed = False
        self._reader = gevent.spawn(self._read_loop)
        self._writer = gevent.spawn(self._write_loop)

    def send(self, kind: str, body: dict) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.warning("dropping connection to %s: %d frames queued", self.peer, MAX_QUEUED)
            self.close()
            return
        self._queue.put(protocol.encode(kind, body, self._cluster))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._queue.put(_CLOSE)
        try:
            self.sock.close()
        except OSError:
            pass
        if gevent.getcurrent() is not self._reader:
            self._reader.kill(block=False)
        self._on_close(self)

    def _read_loop(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for kind, body in self._decoder.feed(data):
                    self._on_message(self, kind, body)
                    if self.closed:
                        return
        except protocol.ProtocolError as e:
            log.warning("closing connection from %s: %s", self.peer, e)
            if self._on_reject:
                self._on_reject(e.reason)
        except OSError:
            pass
        finally:
            self.close()

    def _write_loop(self):
        try:
            while True:
                frame = self._queue.get()
                if frame is _CLOSE:
                    return
                self.sock.sendall(frame)
        except OSError:
            self.close()


def connect(addr: tuple[str, int], timeout: float, **kwargs) -> Connection:
    """Open an outbound connection (blocks this greenlet up to `timeout`)."""
    sock = gevent.socket.create_connection(addr, timeout=timeout)
    sock.settimeout(None)
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    return Connection(sock, f"{addr[0]}:{addr[1]}", **kwargs)


class Listener:
    """The cluster port: every accepted socket becomes a Connection."""

    def __init__(self, host: str, port: int, *, make_connection):
        self._make = make_connection
        self.server = StreamServer((host, port), self._accept)
        self.server.init_socket()  # bind now, so a busy port fails at start

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self):
        self.server.start()

    def stop(self, timeout: float = 1.0):
        self.server.stop(timeout=timeout)

    def _accept(self, sock, address):
        sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
        conn = self._make(sock, f"{address[0]}:{address[1]}")
        # StreamServer closes the socket when this handler returns: wait for the reader
        conn._reader.join()
