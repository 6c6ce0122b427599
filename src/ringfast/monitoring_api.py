"""The monitoring API's endpoints: a Falcon app (`make_app`) over one node.

Served by ringfast.monitoring's bounded server, which imports this module only once the
node has joined its ring (Falcon takes about a tenth of a second of CPU to import, and
each process of a cold start pays it on a shared CPU: the ring goes first). The JSON each
endpoint answers is described in ringfast.monitoring and docs/monitoring.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import falcon

from .monitoring import _is_ip, host_name

if TYPE_CHECKING:
    from .snapshot import Member

log = logging.getLogger(__name__)


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
        engine = self.node.engine_status()
        extra = {} if engine is None else {"engine": engine}
        if snap.role == "leader" or (snap.leader is not None and snap.ready):
            resp.media = {"status": "ok", "role": snap.role, "epoch": snap.epoch, **extra}
            return
        reason = "stopped" if snap.role == "stopped" else "no leader" if snap.leader is None else "no lease from the leader yet"
        if engine is not None and snap.role != "stopped":
            reason = engine["problem"] or ("engine unreachable" if not engine["connected"] else reason)
        resp.status = falcon.HTTP_503
        resp.media = {"status": "unavailable", "role": snap.role, "epoch": snap.epoch, "reason": reason, **extra}


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
        from importlib import resources  # (here, not at import: it costs every node's start ~10 ms)

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
