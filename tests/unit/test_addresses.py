"""Bind vs advertised address, and a node's own seed entry, decided at start (addresses.py)."""

import socket

import pytest

from ringfast import addresses
from ringfast.config import Config
from ringfast.errors import ConfigError


def settled(bound="127.0.0.1", port=7001, **kw):
    return addresses.settle(Config.load({}, **kw), bound, port)


@pytest.mark.parametrize("seeds", ["", "127.0.0.1:7001,localhost:7002,[::1]:7003", "127.0.0.2:7001"])
def test_unset_host_is_loopback_when_the_seeds_are(seeds):
    assert addresses.bind_host(Config.load({}, seeds=seeds or None)) == "127.0.0.1"


def test_unset_host_with_remote_seeds_is_the_address_that_routes_to_them(monkeypatch):
    monkeypatch.setattr(addresses, "lookup", lambda host, port: {"node-b": ["192.0.2.7"]}.get(host, []))
    monkeypatch.setattr(addresses, "route_source", lambda ip: "192.0.2.1" if ip == "192.0.2.7" else None)
    cfg = Config.load({}, port=7001, seeds="node-a:7001,node-b:7001")  # node-a does not resolve yet
    assert addresses.bind_host(cfg) == "192.0.2.1"


def test_unset_host_with_unresolvable_remote_seeds_stops_with_what_to_set(monkeypatch):
    monkeypatch.setattr(addresses, "lookup", lambda host, port: [])
    with pytest.raises(ConfigError) as e:
        addresses.bind_host(Config.load({}, port=7001, seeds="node-a:7001,node-b:7001"))
    msg = str(e.value)
    assert msg.startswith("HOST is not set and the seed nodes (node-a:7001, node-b:7001) are not on loopback")
    assert "set HOST (--host)" in msg and "RINGFAST_ADVERTISE (--advertise)" in msg


def test_an_advertised_address_lets_the_node_listen_everywhere_or_on_loopback():
    assert addresses.bind_host(Config.load({}, seeds="node-a:7001", advertise="node-a")) == "0.0.0.0"
    assert addresses.bind_host(Config.load({}, seeds="localhost:7001", advertise="localhost")) == "127.0.0.1"
    assert addresses.bind_host(Config.load({}, host="0.0.0.0", advertise="node-a")) == "0.0.0.0"


def test_a_wildcard_host_without_an_advertised_address_is_refused():
    with pytest.raises(ConfigError, match=r"HOST='0\.0\.0\.0' listens on every interface.*RINGFAST_ADVERTISE"):
        addresses.bind_host(Config.load({}, host="0.0.0.0"))


def test_the_seed_entry_that_resolves_to_the_bind_address_becomes_the_advertised_one(monkeypatch):
    monkeypatch.setattr(addresses, "lookup", lambda host, port: {"node-a": ["10.0.0.1"], "node-b": ["10.0.0.2"]}[host])
    c = settled("10.0.0.2", 7001, host="10.0.0.2", seeds="node-a:7001,node-b:7001")
    assert (c.address, c.node_id, c.priority, c.host) == ("node-b:7001", "node-b:7001", 1, "10.0.0.2")
    other_port = settled("10.0.0.2", 7002, host="10.0.0.2", seeds="node-a:7001,node-b:7001")
    assert other_port.address == "10.0.0.2:7002" and other_port.priority == 2  # not listed: after the seeds


def test_host_name_seeds_on_one_machine_are_told_apart_by_port():
    seeds = "localhost:7001,localhost:7002,localhost:7003"
    c = settled(port=7002, seeds=seeds)
    assert (c.address, c.priority) == ("localhost:7002", 1)
    assert settled(port=7002, seeds=seeds, priority=3).priority == 3  # a given priority is kept
    assert settled(port=7002, seeds=seeds, node_id="n2").node_id == "n2"


def test_this_machines_host_name_in_the_seeds_is_its_entry(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "ringfast-1")
    monkeypatch.setattr(socket, "getfqdn", lambda: "ringfast-1.ringfast.default.svc.cluster.local")
    monkeypatch.setattr(addresses, "lookup", lambda host, port: [])  # the pods' records are not there yet
    seeds = "ringfast-0.ringfast:7001,ringfast-1.ringfast:7001,ringfast-2.ringfast:7001"
    assert settled("10.1.2.3", 7001, host="10.1.2.3", seeds=seeds).address == "ringfast-1.ringfast:7001"
    assert settled("10.1.2.3", 7001, host="10.1.2.3", seeds="ringfast-1:7001").address == "ringfast-1:7001"
    # a name that only shares the first label is someone else's
    assert settled("10.1.2.3", 7001, host="10.1.2.3", seeds="ringfast-1.other:7001").address == "10.1.2.3:7001"


def test_an_explicit_advertised_address_is_kept_even_when_not_a_seed():
    c = settled("0.0.0.0", 7001, host="0.0.0.0", advertise="node-z", seeds="node-a:7001")
    assert (c.address, c.priority, c.host) == ("node-z:7001", 1, "0.0.0.0")
