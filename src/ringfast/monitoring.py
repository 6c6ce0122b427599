"""Monitoring endpoints (Falcon, served by gevent's WSGI server in the node's hub).

JSON field names are part of the API (see docs/monitoring.md):

- ``GET /status``: ``{"node": {"id", "address", "priority", "role"}, "leader", "epoch",
  "num_partitions", "members": [{"id", "address", "priority", "role", "partitions"}]}``
- ``GET /partitions``: ``{"node", "epoch", "partitions": [...], "tokens": {"<p>": token}}``
- ``GET /metrics``: Prometheus text exposition (see ``metrics.py`` for the list).
- ``GET /health``: 200 ``{"status": "ok", "role", "epoch"}`` while part of a ring with a
  leader, else 503 ``{"status": "unavailable", "reason"}``.

Errors are JSON too (``{"title", "description"}``), never HTML or a traceback.

Each answer reads one snapshot of the node (`ringfast.snapshot.Snapshot`,
``node.snapshot()``) and its public API, never its private state: what it says was true
at one instant.

The port is bounded so that nothing sent to it can take the node out of the ring (the
cluster port shares the process's file descriptors and its hub): at most
``MAX_CONNECTIONS`` open at once (when full, the connection that has waited longest for
its request is closed to make room), ``REQUEST_TIMEOUT`` seconds for each request from
its first byte to the end of the answer, and a Host header check against DNS rebinding
(a web page in an operator's browser reading /status through a name it controls): IP
literals, ``localhost``, this machine's host name, the names the node was configured with and
those in ``RINGFAST_MONITORING_HOSTS`` are answered, anything else gets 403.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import socket
import time

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
REQUEST_TIMEOUT = 5.0  # seconds, from the first byte of a request to the end of its answer


def host_name(header: str) -> str:
    """'Name:port', '[v6]:port' or 'name' -> the lower-case name without a trailing dot."""
    text = header.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True  # a rebinding attack needs a name it controls, never a literal address


def allowed_hosts(names, extra) -> frozenset | None:
    if "*" in extra:
        return None
    # (not getfqdn(): a reverse lookup could hold up the start for seconds)
    return frozenset(host_name(n) for n in (*names, socket.gethostname(), *extra) if n)

class _Handler(WSGIHandler):
    """Each request is bounded in time; until its head has arrived it may be evicted."""

    def _client(self):
        return self.server.clients.get(self.socket)

    def handle_one_request(self):
        client = self._client()
        if client is None:  # evicted before it got here
            return None
        client.waiting_since = time.monotonic()
        self.requestline = None  # set once a request line has arrived
        timer = gevent.Timeout(self.server.request_timeout)
        timer.start()
        try:
            return super().handle_one_request()
        except gevent.Timeout as t:
            if t is not timer:
                raise
            # an idle keep-alive connection (a scraper between scrapes) is not a refusal
            self.server.refused("timeout" if self.requestline else "idle")
            self.close_connection = True
            return None  # closes the connection
        finally:
            timer.close()

    def read_request(self, raw_requestline):
        result = super().read_request(raw_requestline)
        client = self._client()
        if client is not None:
            client.waiting_since = None  # a whole request head: it is being answered
        return result


class _Client:
    __slots__ = ("waiting_since",)

    def __init__(self):
        self.waiting_since: float | None = time.monotonic()


class _Server(WSGIServer):
    """Counts sockets from accept() to close, so that no burst of connections can open more
    than the cap. When full, the server stops accepting (the kernel's backlog holds the
    rest) until a socket closes; and to make that happen soon it shuts down the connection
    that has waited longest for its request (a slow or half-sent one, usually), whose
    handler then ends and closes it."""

    handler_class = _Handler

    def __init__(self, *args, max_connections, request_timeout, refused, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.refused = refused
        self.clients: dict = {}  # socket -> _Client, from accept until evicted or closed
        self.closing: set = set()  # evicted, not closed yet: their descriptors are still open
        self._paused = False

    def full(self):  # asked by gevent's accept loop before each accept
        if len(self.clients) + len(self.closing) < self.max_connections:
            return False
        if not self._evict() and not self.closing and not self._paused:
            self.refused("full")  # nobody to evict: the newcomer waits in the backlog
        self._paused = True
        return True

    def do_handle(self, sock, address):
        self.clients[sock] = _Client()
        super().do_handle(sock, address)

    def do_close(self, sock, *args):
        self.clients.pop(sock, None)
        self.closing.discard(sock)
        super().do_close(sock, *args)
        if self._paused:
            self._paused = False
            self._start_accepting_if_started()

    def _evict(self) -> bool:
        waiting = [(c.waiting_since, id(s), s) for s, c in self.clients.items() if c.waiting_since is not None]
        if not waiting:
            return False
        victim = min(waiting)[2]
        del self.clients[victim]
        self.closing.add(victim)
        try:  # (not close(): the handler's file object keeps the descriptor open until it ends)
            victim.shutdown(socket.SHUT_RDWR)  # its handler reads the end of the stream and ends
        except OSError:
            pass
        self.refused("evicted")
        return True


class MonitoringServer:
    """The monitoring port of `node`. Constructing it binds the port (an OSError then is
    the node's to report at start); `start` builds the Falcon app (ringfast.monitoring_api,
    imported there) and serves. Requests that come in between wait in the kernel's backlog."""

    def __init__(self, node, host: str, port: int, names=()):
        counter = getattr(node.metrics, "monitoring_refused", None)

        def refused(reason):
            if counter is not None:
                counter.labels(reason=reason).inc()

        self.node, self.refused = node, refused
        self.allowed = allowed_hosts((host, *names), getattr(node.config, "monitoring_hosts", ()))
        self.server = _Server((host, port), None, log=None, error_log=log,
                              max_connections=MAX_CONNECTIONS, request_timeout=REQUEST_TIMEOUT, refused=refused)
        self.server.init_socket()
        self.stopped = False
        self.failed = False  # its API could not be loaded: the port is closed

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address[:2]

    def start(self):
        # Falcon is imported on one of the hub's worker threads: the hub's greenlets (the
        # ring's ticks and messages) go on meanwhile, where an import here would hold them
        # up for as long as it takes (a tenth of a second, more on a busy CPU)
        try:
            api = gevent.get_hub().threadpool.apply(importlib.import_module, ("ringfast.monitoring_api",))
            app = api.make_app(self.node, self.allowed, self.refused)
        except Exception as e:  # Falcon missing or broken: the ring runs on, the port must not hang
            host, port = self.address
            log.error("monitoring port %s:%d closed: its API could not be loaded (%s: %s); the node runs "
                      "without it (is falcon installed in this environment?)", host, port, type(e).__name__, e)
            self.stopped = self.failed = True
            self.server.close()  # connections are refused, not left waiting in the backlog
            return
        if not self.stopped:  # (the node may have stopped while Falcon was imported)
            self.server.application = app
            self.server.start()

    def stop(self):
        self.stopped = True
        self.server.stop(timeout=1.0)
