"""A blocking client of ZooKeeper for the engine backend, through `kazoo` (its threading
handler: the runner makes every call in its hub's thread pool, never in the hub's own
thread). It offers the runner what etcd.py offers, with the meaning zkplan.py gives it:

- a *lease* is a ZooKeeper session (one `KazooClient` each), its id the session id; it
  is renewed by any request the server answers (a ping is a request), so a keepalive is an
  ``exists`` of the session's fence;
- `range()` is a double collect (zkplan.snapshot), `txn()` a ``multi`` (zkplan.plan);
- `wait()` returns when a watch set by the last read fires (or after `seconds`).

Install with ``pip install ringfast[zookeeper]``.
"""

from __future__ import annotations

import logging
import threading

from ..errors import ConfigError
from . import zkplan
from .etcd import EngineUnavailable, LeaseGone

log = logging.getLogger(__name__)

BLATHER = 5  # kazoo's finest log level
COLLECTS = 8  # passes before a read gives up on a ring that keeps changing (the next read tries again)


def parse_hosts(text: str) -> list[str]:
    """``"127.0.0.1:2181,zk2:2181"`` -> ["127.0.0.1:2181", "zk2:2181"]; a bare host means port 2181."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "://" in item or "/" in item:
            raise ConfigError(f"RINGFAST_ENGINE={text!r}: {item!r} is not a ZooKeeper address (host:port)")
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "2181")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"RINGFAST_ENGINE={text!r}: {item!r} is not a ZooKeeper address (host:port)")
        out.append(f"{host}:{port}")
    if not out:
        raise ConfigError(f"RINGFAST_ENGINE={text!r}: no address (expected host:port,...)")
    return out


# session id -> the lowest session timeout (ms) a server agreed to. kazoo does not keep it,
# but logs it (at its finest level) each time a session is created or resumed: a filter on
# the logger we hand kazoo reads it off that record, and keeps those records to itself.
_TIMEOUTS: dict[int, int] = {}
_LOGGER: logging.Logger | None = None


def _session_record(record) -> bool:
    if record.levelno >= BLATHER + 1:  # what kazoo says at its usual levels, at the level the app set for us
        return record.levelno >= log.getEffectiveLevel()
    args = record.args if isinstance(record.args, tuple) else ()
    if str(record.msg).startswith("Session created") and len(args) >= 3:
        sid, negotiated = args[0], args[2]
        if isinstance(sid, int) and isinstance(negotiated, int) and negotiated > 0:
            _TIMEOUTS[sid] = min(_TIMEOUTS.get(sid, negotiated), negotiated)
    return False


def _kazoo_logger() -> logging.Logger:
    global _LOGGER
    if _LOGGER is None:
        logger = logging.getLogger(f"{__name__}.kazoo")
        logger.addFilter(_session_record)
        logger.setLevel(BLATHER)  # so that kazoo makes the record; the filter drops it
        _LOGGER = logger
    return _LOGGER


class ZookeeperEngine:
    def __init__(self, endpoints: str, prefix: str, timeout: float):
        try:
            import kazoo.client  # noqa: F401
        except ImportError as e:
            raise ConfigError(f"RINGFAST_BACKEND=zookeeper needs the ZooKeeper client: pip install 'ringfast[zookeeper]' ({e})") from None
        self.hosts = parse_hosts(endpoints)
        self.names = list(self.hosts)
        self.current = 0
        self.root = "/" + prefix.rstrip("/")
        self.timeout = timeout
        self.client = None  # the session's client
        self.session: int | None = None
        self.last_zxid = 0
        self.cache: dict[str, zkplan.Znode] = {}
        self.changed = threading.Event()
        self._lock = threading.Lock()
        self.timeouts = _TIMEOUTS
        self.logger = _kazoo_logger()

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def _call(self, fn, *args, **kwargs):
        return self._get(fn(*args, **kwargs))

    def _get(self, result):
        """Wait for one asynchronous kazoo answer; EngineUnavailable for a lost connection or no answer in time."""
        from kazoo.exceptions import KazooException, NoNodeError, ZookeeperError

        try:
            return result.get(timeout=self.timeout)
        except NoNodeError:
            raise
        except (KazooException, ZookeeperError, OSError) as e:
            raise EngineUnavailable(f"ZooKeeper at {','.join(self.hosts)}: {type(e).__name__} {e}") from None
        except Exception as e:  # a timeout of the async result (the handler's own class)
            if type(e).__name__ in ("KazooTimeoutError", "Timeout", "TimeoutError"):
                raise EngineUnavailable(f"ZooKeeper at {','.join(self.hosts)}: no answer in {self.timeout:.1f}s") from None
            raise

    def _client(self):
        client = self.client
        if client is None or self.session is None:
            raise EngineUnavailable("no ZooKeeper session")
        return client

    # ---- sessions (leases)

    def grant(self, ttl: int) -> tuple[int, float]:
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        with self._lock:
            old, self.client, self.session = self.client, None, None
        if old is not None:  # its session ended (kazoo may have started another on it: end that)
            _stop(old)
        client = KazooClient(hosts=",".join(self.hosts), timeout=float(ttl),
                             connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5),
                             logger=self.logger)
        client.last_zxid = self.last_zxid  # never a server behind what we have read
        try:
            client.start(timeout=max(self.timeout, 1.0))
            session = client.client_id[0]
            for name in (*zkplan.DIRS, zkplan.FENCE_DIR):
                client.ensure_path(self._path(name))
            client.create(self._path(zkplan.fence_key(session)), b"", ephemeral=True)
        except Exception as e:  # noqa: BLE001 (kazoo's start raises its handler's own timeout class)
            _stop(client)
            raise EngineUnavailable(f"ZooKeeper at {','.join(self.hosts)}: no session ({type(e).__name__} {e})") from None
        negotiated = self.timeouts.get(session)
        if negotiated is None:  # fail safe: a right must not rest on a timeout we guessed
            _stop(client)
            raise EngineUnavailable(f"ZooKeeper session {session:x}: could not learn the session timeout the server agreed to")
        with self._lock:
            self.client, self.session = client, session
        return session, negotiated / 1000.0

    def keepalive(self, lease: int) -> float:
        if lease != self.session or self.client is None:
            raise LeaseGone(f"session {lease:x}")
        client = self.client
        if client.client_id is None or client.client_id[0] != lease:
            raise LeaseGone(f"session {lease:x}: the client moved on to another session")
        from kazoo.exceptions import NoNodeError

        try:
            stat = self._call(client.exists_async, self._path(zkplan.fence_key(lease)))
        except NoNodeError:
            stat = None
        if stat is None:
            raise LeaseGone(f"session {lease:x}: expired")
        return self.timeouts[lease] / 1000.0

    def revoke(self, lease: int) -> None:
        """End the session now (a leave): ZooKeeper deletes its ephemeral znodes at once."""
        with self._lock:
            client = self.client if lease == self.session else None
            if client is not None:
                self.client, self.session = None, None
        if client is not None:
            _stop(client)

    def drop(self, lease: int, ttl: float) -> None:
        """Stop counting on `lease`, but let its znodes live as long as the engine would have
        kept them had we stopped renewing (kazoo pings by itself, so the session is closed
        after a full `ttl` from now, past any right that rests on it)."""
        with self._lock:
            client = self.client if lease == self.session else None
            if client is not None:
                self.client, self.session = None, None
        if client is not None:
            # the right rests on the timeout the server agreed to, which may be above `ttl`
            timer = threading.Timer(max(ttl, self.timeouts.get(lease, 0) / 1000.0), _stop, (client,))
            timer.daemon = True
            timer.start()

    # ---- reads

    def _collect(self, client) -> zkplan.Collect:
        from kazoo.exceptions import NoNodeError

        w = self._on_change  # one callable: kazoo keeps a set of them per znode
        containers, nodes, complete = [], {}, True
        listed = {}
        for name in ("", *zkplan.DIRS):
            children, stat = self._call(client.get_children_async, self._path(name), watch=w, include_data=True)
            containers.append((name, stat.pzxid, stat.cversion))
            listed[name] = sorted(children)
        keys = [k for k in listed[""] if k not in (*zkplan.DIRS, zkplan.FENCE_DIR)]
        for name in zkplan.DIRS:
            keys += [f"{name}/{k}" for k in listed[name]]
        pending = [(k, client.get_async(self._path(k), watch=w)) for k in keys]  # pipelined, answered in order
        for key, result in pending:
            try:
                data, stat = self._get(result)
            except NoNodeError:
                complete = False
                continue
            nodes[key] = zkplan.Znode(data.decode("utf-8", "replace"), stat.czxid, stat.mzxid, stat.version,
                                      stat.ephemeralOwner)
        return zkplan.Collect(tuple(containers), nodes, complete)

    def _on_change(self, _event):
        self.changed.set()

    def range(self) -> tuple[int, dict]:
        client = self._client()
        previous = None
        for i in range(COLLECTS):
            collect = self._collect(client)
            self.cache = collect.nodes
            got = zkplan.snapshot(previous, collect)
            if got is not None:
                self.last_zxid = max(self.last_zxid, got[0])
                return got
            previous = collect
        raise EngineUnavailable(f"the ring under {self.root} kept changing over {COLLECTS} reads")

    def wait(self, after: int, seconds: float) -> bool:
        fired = self.changed.wait(seconds)
        self.changed.clear()
        return fired

    # ---- writes

    def txn(self, compare: list[tuple], success: list[tuple]) -> bool:
        client = self._client()
        try:
            ops = zkplan.plan(compare, success, self.cache, self.session)
        except zkplan.Stale as e:
            log.debug("transaction not sent: %s", e)
            return False
        t = client.transaction()
        for op in ops:
            kind, key = op[0], self._path(op[1])
            if kind == "check":
                t.check(key, op[2])
            elif kind == "create":
                t.create(key, op[2].encode("utf-8"), ephemeral=op[3])
            elif kind == "set":
                t.set_data(key, op[2].encode("utf-8"), op[3])
            else:
                t.delete(key, op[2])
        results = self._call(t.commit_async)
        return not any(isinstance(r, Exception) for r in results)


def _stop(client) -> None:
    try:
        client.stop()
        client.close()
    except Exception as e:  # closing is best effort: the session then ends by its timeout
        log.debug("closing a ZooKeeper client: %s", e)
