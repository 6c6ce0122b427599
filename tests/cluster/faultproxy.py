"""A fault-injecting TCP proxy between every ordered pair of nodes (loopback only).

For nodes {name: "host:port"}, one listener per ordered pair (a -> b) forwards to b's real
address; node a is given RINGFAST_ROUTES mapping every other node's address to its pair's
listener, so everything a sends to b, and everything b answers on those connections, crosses
the proxy (identities and messages keep the logical addresses). Traffic is controlled per
direction: `set(src, dst, mode)` governs the bytes flowing from src to dst on every connection
between them, whichever side opened it:

- PASS: forwarded;
- DROP: read and discarded, the connections stay open (a cut cable, one way);
- Delay(ms): forwarded after ms milliseconds (order kept);
- RESET: every connection between the two is reset (RST) now, and new ones at once.

`partition(a_side, b_side)` drops both ways between the sides, `cut_one_way(src, dst)` one
way, `heal()` passes everything again (for new data: what was dropped stays lost). One thread
with a selector does all the work; per-direction buffers are bounded (a reader that stops
reading, such as a paused node, makes the proxy stop reading from the writer). `close()`
stops the thread and closes every socket.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from harness import Cluster

HOST = "127.0.0.1"
PASS = "pass"
DROP = "drop"
RESET = "reset"
BUFFER_CAP = 1 << 20  # bytes waiting in one direction before the proxy stops reading its source


@dataclass(frozen=True)
class Delay:
    ms: float


class _Pipe:
    """One direction of one proxied connection: bytes read from `src_sock`, sent to `dst_sock`."""

    def __init__(self, src_sock, dst_sock, src: str, dst: str):
        self.src_sock, self.dst_sock, self.src, self.dst = src_sock, dst_sock, src, dst
        self.buf = bytearray()
        self.delayed: deque[tuple[float, bytes]] = deque()


class _Conn:
    def __init__(self, client, upstream, a: str, b: str):
        self.client, self.upstream = client, upstream
        self.ab = _Pipe(client, upstream, a, b)  # what a sends to b
        self.ba = _Pipe(upstream, client, b, a)  # what b answers
        self.closed = False

    def pipes(self):
        return (self.ab, self.ba)


class FaultProxy:
    """See the module docstring. `nodes`: {name: "host:port"} (the real and logical address)."""

    def __init__(self, nodes: dict[str, str]):
        self.nodes = dict(nodes)
        self._modes: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._commands: deque = deque()
        self._sel = selectors.DefaultSelector()
        self._conns: set[_Conn] = set()
        self._listeners: dict[tuple[str, str], socket.socket] = {}
        self.passed: dict[tuple[str, str], int] = defaultdict(int)  # bytes, by (src, dst)
        self.dropped: dict[tuple[str, str], int] = defaultdict(int)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake",))
        for a in self.nodes:
            for b in self.nodes:
                if a != b:
                    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    ls.bind((HOST, 0))
                    ls.listen(64)
                    ls.setblocking(False)
                    self._listeners[(a, b)] = ls
                    self._sel.register(ls, selectors.EVENT_READ, ("listen", a, b))
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="faultproxy", daemon=True)
        self._thread.start()

    @classmethod
    def for_cluster(cls, cluster: Cluster) -> FaultProxy:
        """Proxies between all nodes of a not yet started cluster; sets each node's routes."""
        proxy = cls({name: node.address for name, node in cluster.nodes.items()})
        for name, node in cluster.nodes.items():
            node.env["RINGFAST_ROUTES"] = proxy.routes(name)
        return proxy

    # ---- addresses

    def address(self, a: str, b: str) -> str:
        """host:port of the listener that a uses to reach b."""
        return "%s:%d" % self._listeners[(a, b)].getsockname()[:2]

    def routes(self, a: str) -> str:
        """RINGFAST_ROUTES for node a."""
        return ",".join(f"{self.nodes[b]}={self.address(a, b)}" for b in self.nodes if b != a)

    # ---- faults

    def set(self, src: str, dst: str, mode) -> None:
        """Govern the bytes flowing from src to dst (see the module docstring)."""
        if mode not in (PASS, DROP, RESET) and not isinstance(mode, Delay):
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self._modes[(src, dst)] = mode
            if mode == RESET:
                self._commands.append(("reset", src, dst))
        self._wake()

    def mode(self, src: str, dst: str):
        return self._modes.get((src, dst), PASS)

    def cut_one_way(self, src: str, dst: str) -> None:
        self.set(src, dst, DROP)

    def partition(self, side_a: Iterable[str], side_b: Iterable[str]) -> None:
        side_b = list(side_b)
        for a in side_a:
            for b in side_b:
                self.set(a, b, DROP)
                self.set(b, a, DROP)

    def delay(self, src: str, dst: str, ms: float) -> None:
        self.set(src, dst, Delay(ms))

    def heal(self) -> None:
        with self._lock:
            self._modes.clear()
        self._wake()

    def connections(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        if not self._running:
            return
        self._running = False
        self._wake()
        self._thread.join(5)
        for c in list(self._conns):
            self._close(c)
        for ls in self._listeners.values():
            ls.close()
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()

    # ---- the loop (the proxy thread only)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _loop(self) -> None:
        while self._running:
            timeout = 0.5
            now = time.monotonic()
            for c in self._conns:
                for p in c.pipes():
                    if p.delayed:
                        timeout = min(timeout, max(0.0, p.delayed[0][0] - now))
            for key, events in self._sel.select(timeout):
                kind = key.data[0]
                if kind == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                elif kind == "listen":
                    self._accept(key.fileobj, key.data[1], key.data[2])
                else:
                    conn = key.data[1]
                    if conn.closed:
                        continue
                    if events & selectors.EVENT_READ:
                        self._read(conn, key.fileobj)
                    if events & selectors.EVENT_WRITE and not conn.closed:
                        self._flush(conn)
            with self._lock:
                commands, self._commands = self._commands, deque()
            for _, src, dst in commands:
                for c in list(self._conns):
                    if {c.ab.src, c.ab.dst} == {src, dst}:
                        self._close(c, reset=True)
            now = time.monotonic()
            for c in list(self._conns):
                moved = False
                for p in c.pipes():
                    while p.delayed and p.delayed[0][0] <= now:
                        p.buf += p.delayed.popleft()[1]
                        moved = True
                if moved:
                    self._flush(c)

    def _accept(self, ls, a: str, b: str) -> None:
        try:
            client, _ = ls.accept()
        except OSError:
            return
        if RESET in (self.mode(a, b), self.mode(b, a)):
            _reset(client)
            return
        host, port = self.nodes[b].rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=1.0)
        except OSError:
            _reset(client)  # like the real node: connection refused
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(client, upstream, a, b)
        self._conns.add(conn)
        self._sel.register(client, selectors.EVENT_READ, ("conn", conn))
        self._sel.register(upstream, selectors.EVENT_READ, ("conn", conn))

    def _read(self, conn: _Conn, sock) -> None:
        pipe = conn.ab if sock is conn.client else conn.ba
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        mode = self.mode(pipe.src, pipe.dst)
        if mode == DROP:
            self.dropped[(pipe.src, pipe.dst)] += len(data)
            return
        if mode == RESET:
            self._close(conn, reset=True)
            return
        self.passed[(pipe.src, pipe.dst)] += len(data)
        if isinstance(mode, Delay):
            due = time.monotonic() + mode.ms / 1000
            if pipe.delayed:
                due = max(due, pipe.delayed[-1][0])
            pipe.delayed.append((due, data))
        else:
            pipe.buf += data
            self._flush(conn)
        self._update(conn)

    def _flush(self, conn: _Conn) -> None:
        for p in conn.pipes():
            while p.buf:
                try:
                    n = p.dst_sock.send(p.buf)
                except BlockingIOError:
                    break
                except OSError:
                    self._close(conn)
                    return
                del p.buf[:n]
        self._update(conn)

    def _update(self, conn: _Conn) -> None:
        """Register each socket for reading while its outgoing pipe has room, for writing
        while bytes wait for it."""
        if conn.closed:
            return
        for sock, out_pipe, in_pipe in ((conn.client, conn.ab, conn.ba), (conn.upstream, conn.ba, conn.ab)):
            events = 0
            if len(out_pipe.buf) + sum(len(d) for _, d in out_pipe.delayed) < BUFFER_CAP:
                events |= selectors.EVENT_READ
            if in_pipe.buf:
                events |= selectors.EVENT_WRITE
            try:
                key = self._sel.get_key(sock)
            except KeyError:
                key = None
            if events == 0:
                if key is not None:
                    self._sel.unregister(sock)  # registered again once the pipe drains
            elif key is None:
                self._sel.register(sock, events, ("conn", conn))
            elif key.events != events:
                self._sel.modify(sock, events, ("conn", conn))

    def _close(self, conn: _Conn, reset: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.discard(conn)
        for s in (conn.client, conn.upstream):
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            if reset:
                _reset(s)
            else:
                s.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
