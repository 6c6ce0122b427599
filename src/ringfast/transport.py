"""Framed connections over gevent sockets: one reader and one writer greenlet each.

A connection never blocks the node: sends go through a bounded queue drained by the
writer greenlet, so a peer that stops reading (a paused process) fills its own queue and
is dropped, instead of stalling heartbeats to everyone else.
"""

from __future__ import annotations

import logging

import gevent
import gevent.event
import gevent.queue
import gevent.socket
from gevent.server import StreamServer

from . import protocol
from .config import format_address

log = logging.getLogger(__name__)

MAX_QUEUED = 1024  # frames; a peer this far behind is not keeping up
_CLOSE = object()


class Connection:
    """One TCP connection carrying frames; `on_message(conn, kind, body)` gets what arrives."""

    def __init__(self, sock, peer: str, *, cluster: str, max_frame: int, on_message, on_close, on_reject=None,
                 auth: protocol.Auth | None = None, node_id: str = ""):
        self.sock = sock
        self.peer = peer  # "host:port" of the remote end as seen on the socket
        self.remote_ip: str | None = None  # outbound: the address `peer`'s name resolved to
        self._cluster = cluster
        self._auth = auth
        self._node_id = node_id
        self._authenticated = gevent.event.Event()
        self._handshake_started = False
        if auth is None:
            self._authenticated.set()
        self._decoder = protocol.Decoder(cluster, max_frame, auth)
        self._on_message = on_message
        self._on_close = on_close
        self._on_reject = on_reject
        self._queue = gevent.queue.Queue()
        self.closed = False
        self._reader = gevent.spawn(self._read_loop)
        self._writer = gevent.spawn(self._write_loop)
        if auth is not None and auth.initiator:
            self._send_now("auth_hello", auth.hello())

    def send(self, kind: str, body: dict) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.warning("dropping connection to %s: %d frames queued", self.peer, MAX_QUEUED)
            self.close()
            return
        self._queue.put((kind, body))  # encoded by the writer: MACs are numbered in sending order

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
                    if self._handshake_started and not self._authenticated.is_set() and self._on_reject:
                        # it gave up on our challenge: it did not know the secret
                        self._on_reject("unauthenticated", self.peer)
                    break
                for kind, body in self._decoder.frames(data):
                    if kind in protocol.AUTH_KINDS:
                        self._handshake(kind, body)
                    else:
                        self._on_message(self, kind, body)
                    if self.closed:
                        return
        except protocol.ProtocolError as e:
            log.warning("closing connection from %s: %s", self.peer, e)
            if self._on_reject:
                self._on_reject(e.reason, self.peer)
        except OSError:
            pass
        finally:
            self.close()

    def _write_loop(self):
        try:
            self._authenticated.wait()
            while True:
                item = self._queue.get()
                if item is _CLOSE:
                    return
                self.sock.sendall(protocol.encode(*item, self._cluster, self._auth))
        except OSError:
            self.close()

    def _send_now(self, kind: str, body: dict):
        """A handshake frame: written at once (the writer waits until the handshake is done)."""
        try:
            self.sock.sendall(protocol.encode(kind, {"from": self._node_id or "?", "epoch": 0, **body}, self._cluster))
        except OSError:
            self.close()

    def _handshake(self, kind: str, body: dict):
        auth = self._auth
        if kind == "auth_hello" and not auth.initiator:
            if self._handshake_started:  # answering again would sign challenges for whoever asks
                raise protocol.ProtocolError("unauthenticated", "a second auth_hello on one connection")
            self._handshake_started = True
            self._send_now("auth_challenge", auth.on_hello(body))
        elif kind == "auth_challenge" and auth.initiator:
            self._send_now("auth_proof", auth.on_challenge(body))
            self._authenticated.set()
        elif kind == "auth_proof" and not auth.initiator:
            auth.on_proof(body)
            self._authenticated.set()
        else:
            raise protocol.ProtocolError("unauthenticated", f"unexpected {kind}")


def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` now, IPv4 first (as most clusters use). Asked again at every
    connect: a pod or VM that comes back under the same name may have a new address.
    Raises socket.gaierror (an OSError) when the name does not resolve (yet)."""
    infos = gevent.socket.getaddrinfo(host, port, 0, gevent.socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != gevent.socket.AF_INET)
    return list(dict.fromkeys(info[4][0] for info in infos))


def connect(addr: tuple[str, int], timeout: float, tls=None, user_timeout: float | None = None, **kwargs) -> Connection:
    """Open an outbound connection to (name or address, port), resolving the name now
    (blocks this greenlet up to `timeout` for the connect), over TLS if given a client
    context (the handshake is part of the timeout). With `user_timeout` (Linux), data left
    unacknowledged that long fails the connection: a peer whose address vanished (a pod
    rescheduled elsewhere) sends no reset, and writes would otherwise queue for minutes."""
    host, port = addr
    ip = resolve(host, port)[0]
    sock = gevent.socket.create_connection((ip, port), timeout=timeout)
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    if user_timeout is not None and hasattr(gevent.socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_USER_TIMEOUT, max(1, int(user_timeout * 1000)))
    if tls is not None:
        sock = tls.wrap_socket(sock)
    sock.settimeout(None)
    conn = Connection(sock, format_address(host, port), **kwargs)
    conn.remote_ip = ip
    return conn


class Listener:
    """The cluster port: every accepted socket becomes a Connection."""

    def __init__(self, host: str, port: int, *, make_connection, tls=None, handshake_timeout=5.0, on_tls_error=None,
                 admit=None):
        self._make = make_connection
        self._tls = tls
        # admit(): False when too many connections wait to prove themselves; a TLS handshake
        # in progress is one of them (it holds a socket and a greenlet as long as a silent one)
        self._admit = admit
        self.handshaking = 0
        self._handshake_timeout = handshake_timeout
        self._on_tls_error = on_tls_error
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
        if self._tls is not None:
            if self._admit is not None and not self._admit():
                return  # (counted by admit) StreamServer closes the socket
            self.handshaking += 1
            try:  # the handshake is bounded: a peer that stalls in it only holds this greenlet
                sock.settimeout(self._handshake_timeout)
                sock = self._tls.wrap_socket(sock, server_side=True)
                sock.settimeout(None)
            except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
                if self._on_tls_error:
                    self._on_tls_error(f"{address[0]}:{address[1]}", e)
                return
            finally:
                self.handshaking -= 1
        conn = self._make(sock, f"{address[0]}:{address[1]}")
        # StreamServer closes the socket when this handler returns: wait for the reader
        conn._reader.join()
