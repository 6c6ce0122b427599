"""Monitoring endpoints (Falcon, served by gevent's WSGI server in the node's hub).

JSON field names are part of the API (see README, "Monitoring"):

- ``GET /status``: ``{"node": {"id", "address", "priority", "role"}, "leader", "epoch",
  "num_partitions", "members": [{"id", "address", "priority", "role", "partitions"}]}``
- ``GET /partitions``: ``{"node", "epoch", "partitions": [...], "tokens": {"<p>": token}}``
- ``GET /metrics``: Prometheus text exposition (see ``metrics.py`` for the list).
- ``GET /health``: 200 ``{"status": "ok", "role", "epoch"}`` while part of a ring with a
  leader, else 503 ``{"status": "unavailable", "reason"}``.

Errors are JSON too (``{"title", "description"}``), never HTML or a traceback.
"""

from __future__ import annotations

import logging
from importlib import resources

import falcon
from gevent.pywsgi import WSGIServer

log = logging.getLogger(__name__)


def _member(m: dict) -> dict:
    return {"id": m["id"], "address": m["addr"], "priority": m["priority"], "role": m["role"], "partitions": list(m["partitions"])}


class _Status:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        n = self.node
        resp.media = {
            "node": {"id": n.id, "address": n.address, "priority": n.config.priority, "role": n.role},
            "leader": n.leader,
            "epoch": n.epoch,
            "num_partitions": n.config.num_partitions,
            "members": [_member(m) for m in n.ring()],
        }


class _Partitions:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        n = self.node
        snap = n._snapshot
        resp.media = {
            "node": n.id,
            "epoch": snap.epoch,
            "partitions": list(snap.partitions),
            "tokens": {str(p): t for p, t in sorted(snap.tokens.items())},
        }


class _Health:
    def __init__(self, node):
        self.node = node

    def on_get(self, req, resp):
        n = self.node
        if n.role == "leader" or (n.leader is not None and n._ready.is_set()):
            resp.media = {"status": "ok", "role": n.role, "epoch": n.epoch}
            return
        reason = "stopped" if n.role == "stopped" else "no leader" if n.leader is None else "no lease from the leader yet"
        resp.status = falcon.HTTP_503
        resp.media = {"status": "unavailable", "role": n.role, "epoch": n.epoch, "reason": reason}


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


def make_app(node) -> falcon.App:
    app = falcon.App(cors_enable=False)
    app.set_error_serializer(_error_serializer)
    app.add_error_handler(Exception, _unexpected)  # falcon's HTTPError (404, 405) stays more specific
    app.add_route("/status", _Status(node))
    app.add_route("/partitions", _Partitions(node))
    app.add_route("/health", _Health(node))
    app.add_route("/metrics", _Metrics(node))
    app.add_route("/", _Static("dashboard.html", "text/html; charset=utf-8"))
    app.add_route("/openapi.json", _Static("openapi.json", falcon.MEDIA_JSON))
    return app


class MonitoringServer:
    def __init__(self, node, host: str, port: int):
        self.server = WSGIServer((host, port), make_app(node), log=None, error_log=log)
        self.server.init_socket()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address[:2]

    def start(self):
        self.server.start()

    def stop(self):
        self.server.stop(timeout=1.0)
