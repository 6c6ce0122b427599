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

import ipaddress
import logging
import socket
import time
from importlib import resources
from typing import TYPE_CHECKING

import falcon
import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer

if TYPE_CHECKING:
    from .snapshot import Member

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
REQUEST_TIMEOUT = 5.0  # seconds, from the first byte of a request to the end of its answer


def _member(m: Member) -> dict:
    return {"id": m.id, "address": m.addr, "priority": m.priority, "role": m.role, "partitions": list(m.partitions)}


class _Status:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        n = self.node
        snap = n.snapshot()
        resp.media = {
            "node": {"id": n.id, "address": n.address, "priority": n.config.priority, "role": snap.role},
            "leader": snap.leader,
            "epoch": snap.epoch,
            "num_partitions": n.config.num_partitions,
            "members": [_member(m) for m in snap.members],
        }


class _Partitions:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        n = self.node
        snap = n.snapshot()
        # As Node.partitions() says it: nothing once the lease (or, on a leader, the quorum)
        # ran out, even before the node has run again after a freeze.
        valid = snap.valid_until > n._clock()
        resp.media = {
            "node": n.id,
            "epoch": snap.epoch,
            "partitions": list(snap.partitions) if valid else [],
            "tokens": {str(p): t for p, t in sorted(snap.tokens.items())} if valid else {},
        }


class _Health:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        snap = self.node.snapshot()
        if snap.role == "leader" or (snap.leader is not None and snap.ready):
            resp.media = {"status": "ok", "role": snap.role, "epoch": snap.epoch}
            return
        reason = "stopped" if snap.role == "stopped" else "no leader" if snap.leader is None else "no lease from the leader yet"
        resp.status = falcon.HTTP_503
        resp.media = {"status": "unavailable", "role": snap.role, "epoch": snap.epoch, "reason": reason}


class _Metrics:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        from .metrics import CONTENT_TYPE

        resp.content_type = CONTENT_TYPE
        resp.data = self.node.metrics.render()


class _Static:
    """A file shipped in the package (the dashboard page, the OpenAPI description)."""

    def __init__(self, name: str, content_type: str):
        self.name, self.content_type = name, content_type

    def on_get(self, req, resp):
        try:
            data = resources.files("ringfast").joinpath(self.name).read_bytes()
        except FileNotFoundError:
            raise falcon.HTTPNotFound(description=f"{self.name} is not part of this build") from None
        resp.content_type = self.content_type
        resp.data = data


def _error_serializer(req, resp, exc):
    resp.content_type = falcon.MEDIA_JSON
    resp.media = exc.to_dict()


def _unexpected(req, resp, ex, params):
    log.exception("monitoring request %s %s failed", req.method, req.path)
    raise falcon.HTTPInternalServerError(title="internal error")


class _HostCheck:
    """Falcon middleware: answer only requests addressed to a name this node goes by."""

    def __init__(self, allowed: frozenset | None):
        self.allowed = allowed  # lower-case names; None: any (RINGFAST_MONITORING_HOSTS=*)

    def process_request(self, req, resp):
        host = req.get_header("Host")
        if host is None or self.allowed is None:
            return  # no Host (HTTP/1.0): not a browser, so not a rebinding attack
        name = host_name(host)
        if name in self.allowed or name == "localhost" or name.endswith(".localhost") or _is_ip(name):
            return
        self.refused("host")
        raise falcon.HTTPForbidden(
            description=f"Host {host[:100]!r} is not a name of this node; add it to RINGFAST_MONITORING_HOSTS",
        )

    def refused(self, reason):  # replaced by the server with its counter
        pass


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


def make_app(node, allowed=None, on_refused=None) -> falcon.App:
    check = _HostCheck(allowed)
    if on_refused is not None:
        check.refused = on_refused
    app = falcon.App(cors_enable=False, middleware=[check])
    app.set_error_serializer(_error_serializer)
    app.add_error_handler(Exception, _unexpected)  # falcon's HTTPError (404, 405) stays more specific
    app.add_route("/status", _Status(node))
    app.add_route("/partitions", _Partitions(node))
    app.add_route("/health", _Health(node))
    app.add_route("/metrics", _Metrics(node))
    app.add_route("/", _Static("dashboard.html", "text/html; charset=utf-8"))
    app.add_route("/openapi.json", _Static("openapi.json", falcon.MEDIA_JSON))
    return app


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
    def __init__(self, node, host: str, port: int, names=()):
        counter = getattr(node.metrics, "monitoring_refused", None)

        def refused(reason):
            if counter is not None:
                counter.labels(reason=reason).inc()

        allowed = allowed_hosts((host, *names), getattr(node.config, "monitoring_hosts", ()))
        self.server = _Server((host, port), make_app(node, allowed, refused), log=None, error_log=log,
                              max_connections=MAX_CONNECTIONS, request_timeout=REQUEST_TIMEOUT, refused=refused)
        self.server.init_socket()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address[:2]

    def start(self):
        self.server.start()

    def stop(self):
        self.server.stop(timeout=1.0)
