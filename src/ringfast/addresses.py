"""Where a node listens, and the address the others know it by.

Two addresses, as Kafka's ``listeners``/``advertised.listeners``: the bind address
(``HOST``) and the advertised one (``RINGFAST_ADVERTISE``), which is the node's address in
the protocol. Voters are the seed entries as the operator wrote them (``ringfast-0.ringfast:7001``):
names are resolved at every connect attempt (``connections.Peer``), never here once for good, so
a node that comes back with a new IP under the same name keeps its vote.

At start (:func:`settle`) the node's own advertised address is made comparable with the seed
entries: when it was not given, the seed entry that names this machine (its host name, or a
name that resolves to its bind address, with its port) becomes the advertised address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

import gevent.socket

from .config import Config, default_priority, format_address, parse_address, parse_advertise, replace
from .errors import ConfigError

log = logging.getLogger(__name__)

WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """By its text only (no lookup): `localhost`, 127.0.0.0/8, ::1."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def lookup(host: str, port: int) -> list[str]:
    """The IP addresses of `host`, IPv4 first (as most clusters use); [] if it does not resolve."""
    try:  # gevent's resolver: a slow DNS server must not stall the hub (an embedding app's too)
        infos = gevent.socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return list(dict.fromkeys(info[4][0] for info in infos))


def route_source(ip: str) -> str | None:
    """The local address the kernel would send from to reach `ip` (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((ip, 9))
            return s.getsockname()[0]
    except OSError:
        return None


def bind_host(cfg: Config) -> str:
    """HOST, or when unset: loopback if everything is on loopback, all interfaces if an
    advertised address says how the others reach us, else the local address that routes to
    the seeds. Raises ConfigError (exit 2 in ``ringfast node``) when none can be found."""
    if cfg.host is not None:
        if cfg.host in WILDCARDS and not cfg.advertise:
            raise ConfigError(
                f"HOST={cfg.host!r} listens on every interface but is no address the others can reach this "
                "node at: set RINGFAST_ADVERTISE (--advertise) to this node's name or address, or HOST to that address"
            )
        return cfg.host
    hosts = [parse_address(s, "SEED_NODES")[0] for s in cfg.seeds]
    if cfg.advertise:
        advertised = parse_advertise(cfg.advertise, "RINGFAST_ADVERTISE")[0]
        return "127.0.0.1" if is_loopback(advertised) and all(map(is_loopback, hosts)) else "0.0.0.0"
    if all(map(is_loopback, hosts)):
        return "127.0.0.1"
    for seed in cfg.seeds:
        host, port = parse_address(seed, "SEED_NODES")
        for ip in lookup(host, port):
            source = route_source(ip)
            if source is not None:
                log.info("HOST is not set: listening on %s, the address that routes to seed %s", source, seed)
                return source
    raise ConfigError(
        f"HOST is not set and the seed nodes ({', '.join(cfg.seeds)}) are not on loopback, and none of them "
        "resolves yet to find this machine's address on their network: set HOST (--host) to this machine's "
        "address, or RINGFAST_ADVERTISE (--advertise) to the name the others reach it by"
    )


def _names_this_machine(host: str) -> bool:
    """`host` is this machine's host name, its full name, or a leading part of it
    (`ringfast-0.ringfast` for a pod whose full name is `ringfast-0.ringfast.ns.svc.cluster.local`)."""
    short = socket.gethostname().lower()
    full = socket.getfqdn().lower()
    if host in (short, full):
        return True
    return "." in host and (full + ".").startswith(host + ".") and host.split(".")[0] == short.split(".")[0]


def own_seed(cfg: Config, bound: str, port: int) -> str | None:
    """The seed entry that names this node: its port, and a host that is this machine's
    name or resolves (now, best effort) to the address it listens on."""
    candidates = [s for s in cfg.seeds if parse_address(s, "SEED_NODES")[1] == port]
    for seed in candidates:
        if _names_this_machine(parse_address(seed, "SEED_NODES")[0]):
            return seed
    for seed in candidates:
        host = parse_address(seed, "SEED_NODES")[0]
        if is_ip(host):
            continue  # an address that is not ours as written is someone else's
        if bound in lookup(host, port):
            return seed
    return None


def settle(cfg: Config, bound: str, port: int) -> Config:
    """The configuration as the node runs it: bind address and port, advertised address,
    and the node id and priority derived from them unless they were given."""
    changes: dict = {"host": bound, "port": port}
    if cfg.advertise:
        host, adv_port = parse_advertise(cfg.advertise, "RINGFAST_ADVERTISE")
        address = format_address(host, adv_port or port)
    else:
        address = format_address(bound, port)
        if address not in cfg.seeds:
            address = own_seed(cfg, bound, port) or address
    changes["advertise"] = address
    if not cfg.node_id_given:
        changes["node_id"] = address
    if not cfg.priority_given:
        changes["priority"] = default_priority(address, cfg.seeds)
    return replace(cfg, **changes)

