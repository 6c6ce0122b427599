"""Node configuration: keyword arguments, with environment variables as defaults.

Two sources of environment defaults:

- :meth:`Config.load` (what an embedded ``Node(...)`` uses) reads only ``RINGFAST_``-prefixed
  names (``RINGFAST_PORT``, ``RINGFAST_SEED_NODES``...): generic names such as ``PORT`` and
  ``HOST`` belong to the platform hosting the application (Heroku, Cloud Run and others set
  ``PORT`` for the web server), and must not silently become the cluster's.
- :meth:`Config.from_env` (``ringfast node`` and ``Node.from_env()``) also reads
  ring-election's bare names (``PORT``, ``SEED_NODES``, ``NODE_ID``...); a ``RINGFAST_`` name
  wins over its bare twin.

ring-election's names keep their meaning and units (milliseconds for the timings). The
keywords of ``ringfast.Node`` and ``ringfast.aio.Node`` are defined here too (NODE_KEYWORDS:
a setting with a unit says it in its name, ``failure_timeout_ms``). Every value is checked
here, so a bad one fails with its name and value instead of deep inside.
Nothing here touches the network: host names stay as written (see ``addresses.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigError
from .limits import check_wire_limits

log = logging.getLogger(__name__)

MAX_PARTITIONS = 2**31 - 1
DEFAULT_MONITORING_PORT = 9000  # ring-election's, for `ringfast node` and Node.from_env()

# ring-election variables ringfast has no equivalent for: said once at start (from_env), so a
# migrated deployment does not silently lose what they used to do (docs/migrating-from-ring-election.md)
IGNORED_RING_ELECTION = {
    "LEADER_MODE": "there is no designated leader: the seed nodes elect one",
    "TIME_TO_BECOME_SEED": "there is no seed promotion: the seed nodes are SEED_NODES",
    "MAX_INACTIVE_TIME": "failure detection and the lease both use HEART_BEAT_CHECK_FREQUENCY",
}


def parse_address(text: str, what: str) -> tuple[str, int]:
    """'host:port' -> (host, port); IPv6 as '[::1]:port'."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port:
        raise ConfigError(f"{what}={text!r}: expected host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{what}={text!r}: port {port!r} is not a number") from None
    if not 1 <= number <= 65535:
        raise ConfigError(f"{what}={text!r}: port must be in [1, 65535]")
    return host, number


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normal_host(host: str) -> str:
    """Host names compare case-insensitively and with or without the root's trailing dot
    (DNS does), so `Node-A.` and `node-a` name the same voter."""
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") and len(host) > 1 else host


def parse_advertise(text: str, what: str) -> tuple[str, int | None]:
    """'host' or 'host:port' (IPv6 in brackets when a port follows) -> (host, port or None)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return normal_host(text[1:-1]), None
    if text.count(":") == 1 or text.startswith("["):
        host, port = parse_address(text, what)
        return normal_host(host), port
    if not text or any(c.isspace() or c in "/,=" for c in text):
        raise ConfigError(f"{what}={text!r}: expected a host name or address, optionally with :port")
    return normal_host(text), None


@dataclass(frozen=True)
class Config:
    """Everything a node needs to know; build with :meth:`Config.load`.

    Timings are stored in seconds. ``failure_timeout`` (ring-election's
    HEART_BEAT_CHECK_FREQUENCY) is also the lease: a follower that has not had a heartbeat
    answered for that long gives up its partitions.
    """

    node_id: str | None = None  # None: the advertised "host:port", fixed once the port is bound
    host: str | None = None  # bind address; None: chosen at start (see addresses.bind_host)
    port: int = 0
    # how the others reach this node: its address in the protocol, compared with the seed
    # entries ("host" or "host:port"; None: the bind address, or this node's seed entry)
    advertise: str | None = None
    seeds: tuple[str, ...] = ()
    priority: int = 0
    num_partitions: int = 10
    heartbeat_interval: float = 1.0
    failure_timeout: float = 3.0
    reconnect_time: float = 3.0
    monitoring_port: int | None = None  # off unless asked for (from_env: 9000)
    monitoring_host: str | None = None
    quorum: str | int = "majority"
    leader_owns_partitions: bool = False
    cluster_name: str = "ringfast"
    handler_timeout: float = 10.0
    rejoin_grace: float | None = None  # None: 3 x failure_timeout
    max_frame_size: int = 4 * 1024 * 1024
    journal: str | None = None
    secret_file: str | None = None  # shared cluster secret (never on the command line in clear)
    tls_cert: str | None = None  # this node's certificate chain (PEM)...
    tls_key: str | None = None  # ...its private key...
    tls_ca: str | None = None  # ...and the CA that signs every member's certificate
    state_dir: str | None = None
    log_level: str = "info"
    backend: str = "builtin"  # where the ring's state lives: "builtin" (the nodes' own protocol), "etcd" or "zookeeper"
    engine: str | None = None  # the engine's endpoints: "http://host:2379,..." (etcd), "host:2181,..." (ZooKeeper)
    monitoring_hosts: tuple[str, ...] = ()  # [harden] more Host names /status answers to ("*": any)
    # False when Config.load derived `priority` from the seed list: it is derived again once
    # host names in the seeds are resolved to addresses
    priority_given: bool = field(default=True, compare=False, repr=False)
    node_id_given: bool = field(default=True, compare=False, repr=False)
    routes: Mapping[str, str] = field(default_factory=dict, compare=False)
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def address(self) -> str:
        """This node's address in the protocol (what the seed entries are compared with)."""
        host, port = parse_advertise(self.advertise, "RINGFAST_ADVERTISE") if self.advertise else (None, None)
        return format_address(host or self.host or "127.0.0.1", port or self.port)

    def quorum_size(self) -> int:
        """How many voters (seed nodes) a leader must hear, itself included."""
        if self.quorum == "none":
            return 1
        if self.quorum == "majority":
            return len(self.seeds) // 2 + 1 if self.seeds else 1
        return int(self.quorum)

    def unsafe_settings(self) -> list[str]:
        """Settings that allow two leaders at once, each with what makes it unsafe."""
        voters = len(self.seeds)
        if voters < 2 or self.quorum == "majority":
            return []
        size = self.quorum_size()
        if size > voters // 2:
            return []
        return [
            f"RINGFAST_QUORUM={self.quorum}: a leader needs {size} of the {voters} seed nodes, not a "
            f"majority ({voters // 2 + 1}), so both sides of a network split can elect one and own "
            "the same partitions"
        ]

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **kwargs) -> Config:
        """Keyword arguments win; missing ones come from the ``RINGFAST_`` names in `env`
        (default ``os.environ``). What an embedded ``Node(...)`` uses.

        The keywords are the settings' names without a unit, in the environment's units:
        ``failure_timeout=500`` is 500 ms, ``handler_timeout=10`` is 10 s (a ``Node``
        takes them as ``failure_timeout_ms=500`` and ``handler_timeout_s=10``). The
        Config holds every timing in seconds (``config.failure_timeout == 0.5``)."""
        env = os.environ if env is None else env
        return _build(cls, env, kwargs, bare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs) -> Config:
        """As :meth:`load`, and ring-election's bare names too (``PORT``, ``SEED_NODES``...),
        with its monitoring port 9000 by default: ``ringfast node`` and ``Node.from_env()``."""
        env = os.environ if env is None else env
        return _build(cls, env, kwargs, bare=True)

    def ignored_variables(self) -> list[str]:
        """ring-election variables set in the environment that ringfast does not use."""
        return [f"{name}={self.extra[name]!r} is ignored: {why}" for name, why in IGNORED_RING_ELECTION.items()
                if name in self.extra]


# (keyword, environment variable, parser, default). Timings in env are milliseconds.
def _int(lo: int, hi: int):
    def parse(name, raw):
        if isinstance(raw, bool):
            raise ConfigError(f"{name}={raw!r}: expected an integer")
        try:
            value = int(raw) if not isinstance(raw, int) else raw
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={raw!r}: expected an integer in [{lo}, {hi}]") from None
        if not lo <= value <= hi:
            raise ConfigError(f"{name}={raw!r}: must be in [{lo}, {hi}]")
        return value

    return parse


def _seconds(from_ms: bool, lo: float, hi: float):
    def parse(name, raw):
        if isinstance(raw, bool):
            raise ConfigError(f"{name}={raw!r}: expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={raw!r}: expected a number of {'milliseconds' if from_ms else 'seconds'}") from None
        if from_ms:
            value /= 1000.0
        if not (math.isfinite(value) and lo <= value <= hi):
            unit = "ms" if from_ms else "s"
            scale = 1000 if from_ms else 1
            raise ConfigError(f"{name}={raw!r}: must be in [{lo * scale:.10g}, {hi * scale:.10g}] {unit}")
        return value

    return parse


def _bool(name, raw):
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def _text(name, raw):
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{name}={raw!r}: must be a non-empty string")
    return raw.strip()


def _optional_text(name, raw):
    return None if raw in (None, "") else _text(name, raw)


def _seeds(name, raw):
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        host, port = parse_address(item, name) if isinstance(item, str) else item
        out.append(format_address(normal_host(host), port))  # kept as written: names are resolved per connect
    return tuple(dict.fromkeys(out))  # order kept (it sets default priorities), duplicates dropped


def _routes(name, raw):
    """'addr=connect_addr,...': reach a node known as `addr` by connecting to `connect_addr`
    (port forwarding, NAT, or a fault-injecting proxy in tests). Identities stay `addr`."""
    if isinstance(raw, Mapping):
        items = list(raw.items())
    else:
        items = []
        for item in str(raw).split(","):
            if not item.strip():
                continue
            left, sep, right = item.partition("=")
            if not sep:
                raise ConfigError(f"{name}={raw!r}: expected addr=connect_addr pairs")
            items.append((left, right))
    out = {}
    for left, right in items:
        lhost, lport = parse_address(left, name)
        rhost, rport = parse_address(right, name)
        out[format_address(normal_host(lhost), lport)] = format_address(normal_host(rhost), rport)
    return out


def _host(name, raw):
    return normal_host(_text(name, raw))


def _advertise(name, raw):
    host, port = parse_advertise(_text(name, raw), name)
    return host if port is None else format_address(host, port)


def _quorum(name, raw):
    text = str(raw).strip().lower()
    if text in ("majority", "none"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected 'majority', 'none' or a number of nodes") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r}: a quorum needs at least 1 node")
    return value


def _monitoring_port(name, raw):
    if raw is None or str(raw).strip().lower() in ("", "off", "none", "-1"):
        return None
    return _int(0, 65535)(name, raw)


def _log_level(name, raw):
    text = str(raw).strip().lower()
    if text not in ("debug", "info", "warning", "warn", "error", "critical"):
        raise ConfigError(f"{name}={raw!r}: expected debug, info, warning, error or critical")
    return "warning" if text == "warn" else text


FIELDS = [
    ("host", "HOST", _host),
    ("advertise", "RINGFAST_ADVERTISE", _advertise),
    ("port", "PORT", _int(0, 65535)),
    ("seeds", "SEED_NODES", _seeds),
    ("num_partitions", "NUM_PARTITIONS", _int(1, MAX_PARTITIONS)),
    ("heartbeat_interval", "HEART_BEAT_FREQUENCY", _seconds(True, 0.005, 3600)),
    ("failure_timeout", "HEART_BEAT_CHECK_FREQUENCY", _seconds(True, 0.02, 3600)),
    ("reconnect_time", "TIME_TO_RECONNECT", _seconds(True, 0.001, 3600)),
    ("monitoring_port", "MONITORING_PORT", _monitoring_port),
    ("monitoring_host", "MONITORING_HOST", _optional_text),
    ("quorum", "RINGFAST_QUORUM", _quorum),
    ("leader_owns_partitions", "RINGFAST_LEADER_OWNS_PARTITIONS", _bool),
    ("cluster_name", "RINGFAST_CLUSTER", _text),
    ("handler_timeout", "RINGFAST_HANDLER_TIMEOUT", _seconds(False, 0.001, 86400)),
    ("rejoin_grace", "RINGFAST_REJOIN_GRACE", _seconds(False, 0, 86400)),
    ("max_frame_size", "RINGFAST_MAX_FRAME", _int(4096, 1 << 30)),
    ("journal", "RINGFAST_JOURNAL", _optional_text),
    ("secret_file", "RINGFAST_SECRET_FILE", _optional_text),
    ("tls_cert", "RINGFAST_TLS_CERT", _optional_text),
    ("tls_key", "RINGFAST_TLS_KEY", _optional_text),
    ("tls_ca", "RINGFAST_TLS_CA", _optional_text),
    ("state_dir", "RINGFAST_STATE_DIR", _optional_text),
    ("log_level", "LOG_LEVEL", _log_level),
    ("monitoring_hosts", "RINGFAST_MONITORING_HOSTS", lambda name, raw: _host_names(name, raw)),  # [harden]
    ("routes", "RINGFAST_ROUTES", _routes),
    ("backend", "RINGFAST_BACKEND", lambda name, raw: _backend(name, raw)),
    ("engine", "RINGFAST_ENGINE", _optional_text),
    ("node_id", "NODE_ID", _text),
    ("priority", "PRIORITY", _int(-(2**31), 2**31 - 1)),
]
ENV_NAMES = {kw: env for kw, env, _ in FIELDS}  # ring-election's name where it has one


def prefixed(name: str) -> str:
    """The ``RINGFAST_`` name an embedded node reads for a setting (``PORT`` -> ``RINGFAST_PORT``)."""
    return name if name.startswith("RINGFAST_") else "RINGFAST_" + name


def default_priority(address: str, seeds: tuple[str, ...]) -> int:
    """ring-election's order: the position in the seed list; nodes not listed come after."""
    return seeds.index(address) if address in seeds else len(seeds)


def _build(cls, env, kwargs, bare, said=None):
    """`said`: the name the caller gave each keyword under, for the error messages
    (``failure_timeout_ms`` for ``failure_timeout`` when it comes from a Node)."""
    unknown = set(kwargs) - set(ENV_NAMES)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    said = said or {}
    values = {}
    for kw, var, parse in FIELDS:
        names = [prefixed(var)] + ([var] if bare and var != prefixed(var) else [])
        if kwargs.get(kw) is not None:
            values[kw] = parse(said.get(kw, kw), kwargs[kw])
            continue
        for name in names:  # RINGFAST_PORT wins over PORT
            if env.get(name) not in (None, ""):
                values[kw] = parse(name, env[name])
                break
    if bare:
        values.setdefault("monitoring_port", DEFAULT_MONITORING_PORT)
        values["extra"] = {k: env[k] for k in IGNORED_RING_ELECTION if env.get(k) not in (None, "")}
    seeds = values.get("seeds", ())
    values["node_id_given"] = "node_id" in values
    values["priority_given"] = "priority" in values
    if "node_id" not in values or "priority" not in values:
        # what can be said before start; addresses.settle says it again once the address is known
        own = cls(host=values.get("host"), port=values.get("port", 0), advertise=values.get("advertise")).address
        if values.get("port"):
            values.setdefault("node_id", own)
        values.setdefault("priority", default_priority(own, seeds))
    if values.get("heartbeat_interval", 1.0) >= values.get("failure_timeout", 3.0):
        hb, ft = values.get("heartbeat_interval", 1.0), values.get("failure_timeout", 3.0)
        raise ConfigError(
            f"HEART_BEAT_FREQUENCY ({hb * 1000:g} ms) must be shorter than HEART_BEAT_CHECK_FREQUENCY ({ft * 1000:g} ms)"
        )
    tls = [values.get(k) for k in ("tls_cert", "tls_key", "tls_ca")]
    if any(tls) and not all(tls):
        raise ConfigError(
            "RINGFAST_TLS_CERT, RINGFAST_TLS_KEY and RINGFAST_TLS_CA go together (mutual TLS): "
            f"got cert={tls[0]!r}, key={tls[1]!r}, ca={tls[2]!r}"
        )
    if values.get("rejoin_grace") is None:
        values["rejoin_grace"] = 3 * values.get("failure_timeout", 3.0)
    quorum = values.get("quorum", "majority")
    if isinstance(quorum, int) and seeds and quorum > len(seeds):
        raise ConfigError(f"RINGFAST_QUORUM={quorum}: more than the {len(seeds)} seed nodes")
    backend = values.get("backend", "builtin")
    if backend != "builtin" and not values.get("engine"):
        example = "127.0.0.1:2181" if backend == "zookeeper" else "http://127.0.0.1:2379"
        raise ConfigError(f"RINGFAST_BACKEND={backend}: set RINGFAST_ENGINE to the engine's endpoints (e.g. {example})")
    if backend == "etcd":
        from .engine.etcd import parse_endpoints

        parse_endpoints(values["engine"])
    elif backend == "zookeeper":
        from .engine.zookeeper import parse_hosts

        parse_hosts(values["engine"])
    cfg = cls(**values)
    check_wire_limits(cfg)
    return cfg


def replace(config: Config, **changes) -> Config:
    return dataclasses.replace(config, **changes)


# ----------------------------------------------------------------------------------------
# [harden] Settings that are valid one by one but would fail later, on the wire or in a log
# line, with no word about the setting: refused at start instead (Node() and `ringfast node`,
# which exits with status 2). The checks of the whole are in limits.py.

def _host_names(name, raw):
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{name}={raw!r}: expected host names separated by commas")
        text = item.strip().lower()
        if text and (text != "*" and (" " in text or "/" in text)):
            raise ConfigError(f"{name}={raw!r}: {item.strip()!r} is not a host name")
        if text:
            out.append(text)
    return tuple(out)


BACKENDS = ("builtin", "etcd", "zookeeper")


def _backend(name, raw):
    text = str(raw).strip().lower()
    if text not in BACKENDS:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(BACKENDS)}")
    return text
