"""A blocking client of etcd v3 for the engine backend, over etcd's HTTP gateway through
`etcd3gw` (no gRPC, so nothing fights gevent). Every call blocks: the runner makes them in
its hub's thread pool, never in the hub's own thread. Only what the backend uses: range
reads of one prefix, transactions, leases, and a one-shot watch.

Install with ``pip install ringfast[etcd]``.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlsplit

from ..errors import ConfigError
from .keyspace import Entry

log = logging.getLogger(__name__)


class EngineUnavailable(Exception):
    """No endpoint answered (or it answered with an error): try again later."""


class LeaseGone(Exception):
    """The engine no longer has the lease (it expired or was revoked)."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


def _range_end(prefix: str) -> str:
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1  # the prefix ends with "/": no carry
    return base64.b64encode(bytes(raw)).decode("ascii")


def parse_endpoints(text: str) -> list[tuple[str, str, int]]:
    """``"http://127.0.0.1:2379,http://h2:2379"`` -> [(scheme, host, port)]; a bare
    ``host:port`` means http."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        url = urlsplit(item if "://" in item else "http://" + item)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"RINGFAST_ENGINE={text!r}: {item!r} is not an etcd endpoint (http://host:port)")
        out.append((url.scheme, url.hostname, url.port or 2379))
    if not out:
        raise ConfigError(f"RINGFAST_ENGINE={text!r}: no endpoint (expected http://host:port,...)")
    return out


class EtcdEngine:
    def __init__(self, endpoints: str, prefix: str, timeout: float):
        try:
            import etcd3gw  # noqa: F401
            from etcd3gw.client import Etcd3Client
        except ImportError as e:
            raise ConfigError(f"RINGFAST_BACKEND=etcd needs the etcd client: pip install 'ringfast[etcd]' ({e})") from None
        self.prefix = prefix
        self.timeout = timeout
        self.clients = [Etcd3Client(host=h, port=p, protocol=s, timeout=timeout, api_path="/v3/")
                        for s, h, p in parse_endpoints(endpoints)]
        self.current = 0
        self.names = [f"{c.protocol}://{c.host}:{c.port}" for c in self.clients]

    # ---- the endpoint in use, and failing over to the next

    def _post(self, path: str, body: dict, **kwargs) -> dict:
        from etcd3gw.exceptions import Etcd3Exception

        last = None
        for _ in range(len(self.clients)):
            client = self.clients[self.current]
            try:
                return client.post(client.get_url(path), json=body, **kwargs)
            except Etcd3Exception as e:
                last = e
                self.current = (self.current + 1) % len(self.clients)
        raise EngineUnavailable(f"etcd at {', '.join(self.names)}: {last}")

    # ---- what the runner calls

    def range(self) -> tuple[int, dict[str, Entry]]:
        out = self._post("/kv/range", {"key": _b64(self.prefix), "range_end": _range_end(self.prefix)})
        entries = {}
        for kv in out.get("kvs", []):
            key = _unb64(kv["key"])[len(self.prefix):]
            lease = int(kv.get("lease", 0)) or None
            entries[key] = Entry(_unb64(kv.get("value", "")), int(kv.get("create_revision", 0)),
                                 int(kv.get("mod_revision", 0)), lease)
        return int(out["header"]["revision"]), entries

    def txn(self, compare: list[tuple], success: list[tuple]) -> bool:
        body = {"compare": [self._compare(c) for c in compare], "success": [self._op(o) for o in success]}
        out = self._post("/kv/txn", body)
        return bool(out.get("succeeded", False))

    def _compare(self, c: tuple) -> dict:
        target, key, op, value = c
        assert op == "==", op
        field = {"create": "create_revision", "mod": "mod_revision"}[target]
        return {"key": _b64(self.prefix + key), "result": "EQUAL", "target": target.upper(), field: str(value)}

    def _op(self, o: tuple) -> dict:
        if o[0] == "put":
            _, key, value, lease = o
            put = {"key": _b64(self.prefix + key), "value": _b64(value)}
            if lease is not None:
                put["lease"] = str(lease)
            return {"request_put": put}
        return {"request_delete_range": {"key": _b64(self.prefix + o[1])}}

    def grant(self, ttl: int) -> tuple[int, int]:
        out = self._post("/lease/grant", {"TTL": ttl, "ID": 0})
        if "ID" not in out:
            raise EngineUnavailable(f"etcd refused a lease of {ttl}s: {json.dumps(out)[:200]}")
        return int(out["ID"]), int(out.get("TTL", ttl))

    def keepalive(self, lease: int) -> int:
        out = self._post("/lease/keepalive", {"ID": str(lease)})
        result = out.get("result", out)
        ttl = int(result.get("TTL", 0))
        if ttl <= 0:
            raise LeaseGone(f"lease {lease:x}")
        return ttl

    def revoke(self, lease: int) -> None:
        try:
            self._post("/kv/lease/revoke", {"ID": str(lease)})
        except EngineUnavailable:
            self._post("/lease/revoke", {"ID": str(lease)})

    def drop(self, lease: int, ttl: float) -> None:
        """Stop counting on `lease`: nothing to do, it runs out as nothing renews it."""

    def wait(self, after: int, seconds: float) -> bool:
        """Block until something under the prefix changes after revision `after` (True), or
        `seconds` pass (False). One streamed watch request, closed after its first event."""
        import requests

        client = self.clients[self.current]
        body = {"create_request": {"key": _b64(self.prefix), "range_end": _range_end(self.prefix),
                                   "start_revision": str(after + 1)}}
        try:
            with client.session.post(client.get_url("/watch"), json=body, stream=True,
                                     timeout=(self.timeout, seconds)) as resp:
                for line in resp.iter_lines():
                    if not line:
                        continue
                    result = json.loads(line).get("result", {})
                    if result.get("events") or result.get("compact_revision"):
                        return True
        except (requests.exceptions.RequestException, ValueError):
            return False
        return False

    def status(self) -> dict:
        return self._post("/maintenance/status", {})
