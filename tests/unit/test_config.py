"""Config: env defaults, kwargs win, ring-election's units, and errors naming name and value."""

import pytest

from ringfast.config import Config
from ringfast.errors import ConfigError


def test_defaults_follow_ring_election():
    c = Config.from_env({})
    assert (c.num_partitions, c.heartbeat_interval, c.failure_timeout, c.reconnect_time, c.monitoring_port) == (10, 1.0, 3.0, 3.0, 9000)
    assert c.quorum == "majority" and c.host is None and not c.leader_owns_partitions  # HOST chosen at start
    assert Config.load({}).monitoring_port is None  # embedded: monitoring only when asked for


def test_env_values_in_milliseconds_and_kwargs_win():
    env = {"NUM_PARTITIONS": "64", "HEART_BEAT_FREQUENCY": "250", "HEART_BEAT_CHECK_FREQUENCY": "900",
           "SEED_NODES": "10.0.0.1:7000, 10.0.0.2:7000,", "PORT": "7000", "HOST": "10.0.0.2"}
    c = Config.from_env(env, num_partitions=12)
    assert c.num_partitions == 12
    assert (c.heartbeat_interval, c.failure_timeout) == (0.25, 0.9)
    assert c.seeds == ("10.0.0.1:7000", "10.0.0.2:7000")
    assert c.node_id == "10.0.0.2:7000" and c.priority == 1  # its place in the seed list
    assert c.quorum_size() == 2


def test_quorum_settings():
    seeds = "a:1,b:1,c:1,d:1,e:1"
    assert Config.from_env({"SEED_NODES": seeds}).quorum_size() == 3
    assert Config.load({"RINGFAST_SEED_NODES": seeds, "RINGFAST_QUORUM": "none"}).quorum_size() == 1
    assert Config.from_env({"SEED_NODES": seeds, "RINGFAST_QUORUM": "4"}).quorum_size() == 4


@pytest.mark.parametrize(
    "env, match",
    [
        ({"NUM_PARTITIONS": "abc"}, "NUM_PARTITIONS='abc'"),
        ({"NUM_PARTITIONS": "0"}, "NUM_PARTITIONS='0'"),
        ({"SEED_NODES": "host-without-port"}, "SEED_NODES='host-without-port': expected host:port"),
        ({"SEED_NODES": "h:99999"}, "SEED_NODES='h:99999'"),
        ({"PORT": "-3"}, "PORT='-3'"),
        ({"HEART_BEAT_FREQUENCY": "fast"}, "HEART_BEAT_FREQUENCY='fast'"),
        ({"HEART_BEAT_FREQUENCY": "5000"}, "must be shorter than HEART_BEAT_CHECK_FREQUENCY"),
        ({"MONITORING_PORT": "x"}, "MONITORING_PORT='x'"),
        ({"RINGFAST_QUORUM": "most"}, "RINGFAST_QUORUM='most'"),
        ({"RINGFAST_QUORUM": "5", "SEED_NODES": "a:1"}, "more than the 1 seed nodes"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud'"),
        ({"RINGFAST_LEADER_OWNS_PARTITIONS": "maybe"}, "RINGFAST_LEADER_OWNS_PARTITIONS='maybe'"),
    ],
)
def test_bad_values_name_the_variable_and_value(env, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_env(env)
    prefixed = {k if k.startswith("RINGFAST_") else "RINGFAST_" + k: v for k, v in env.items()}
    with pytest.raises(ConfigError, match=match.replace(next(iter(env)), next(iter(prefixed)))):
        Config.load(prefixed)  # an embedded node names the variable it read


def test_routes_map_identities_to_connect_addresses():
    c = Config.load({"RINGFAST_ROUTES": "127.0.0.1:7001=127.0.0.1:17001, [::1]:7002=[::1]:17002"})
    assert c.routes == {"127.0.0.1:7001": "127.0.0.1:17001", "[::1]:7002": "[::1]:17002"}
    with pytest.raises(ConfigError, match="RINGFAST_ROUTES='a:1'"):
        Config.load({"RINGFAST_ROUTES": "a:1"})


def test_unknown_keyword_is_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        Config.load({}, partitions=3)


@pytest.mark.parametrize(
    "quorum, seeds, unsafe",
    [
        ("majority", 5, False),
        ("3", 5, False),
        ("2", 5, True),
        ("2", 4, True),
        ("3", 4, False),
        ("none", 3, True),
        ("none", 1, False),  # one voter: there is nobody to split from
        ("1", 1, False),
    ],
)
def test_a_quorum_of_at_most_half_the_seeds_is_named_unsafe(quorum, seeds, unsafe):
    env = {"SEED_NODES": ",".join(f"10.0.0.{i}:7000" for i in range(seeds)), "RINGFAST_QUORUM": quorum}
    warnings = Config.from_env(env).unsafe_settings()
    assert bool(warnings) is unsafe
    if unsafe:
        assert f"RINGFAST_QUORUM={quorum}" in warnings[0] and f"of the {seeds} seed nodes" in warnings[0]


def test_an_embedded_node_reads_only_ringfast_names():
    # a platform's PORT (the web server's) must not become the cluster port of a library node
    env = {"PORT": "8080", "HOST": "10.9.9.9", "NODE_ID": "web", "SEED_NODES": "x:1", "LOG_LEVEL": "debug",
           "MONITORING_PORT": "9100", "RINGFAST_NUM_PARTITIONS": "12"}
    c = Config.load(env)
    assert (c.port, c.host, c.node_id, c.seeds, c.log_level, c.monitoring_port) == (0, None, None, (), "info", None)
    assert c.num_partitions == 12
    c = Config.load({"RINGFAST_PORT": "7001", "RINGFAST_HOST": "10.0.0.5", "RINGFAST_SEED_NODES": "10.0.0.5:7001",
                     "RINGFAST_NODE_ID": "w1", "RINGFAST_MONITORING_PORT": "9100"})
    assert (c.port, c.host, c.node_id, c.seeds, c.monitoring_port, c.priority) == (7001, "10.0.0.5", "w1", ("10.0.0.5:7001",), 9100, 0)


def test_from_env_reads_ring_election_names_and_the_prefixed_one_wins():
    c = Config.from_env({"PORT": "7001", "RINGFAST_PORT": "7002", "SEED_NODES": "a:7001", "NODE_ID": "n1"})
    assert (c.port, c.seeds, c.node_id) == (7002, ("a:7001",), "n1")
    with pytest.raises(ConfigError, match="RINGFAST_PORT='x'"):
        Config.from_env({"PORT": "7001", "RINGFAST_PORT": "x"})


def test_seed_names_are_kept_as_written_and_compared_without_case():
    c = Config.from_env({"SEED_NODES": "RingFast-0.RingFast:7001, ringfast-1.ringfast.:7001,10.0.0.3:7001,ringfast-0.ringfast:7001",
                         "PORT": "7001", "RINGFAST_ADVERTISE": "ringfast-1.RINGFAST"})
    assert c.seeds == ("ringfast-0.ringfast:7001", "ringfast-1.ringfast:7001", "10.0.0.3:7001")
    assert c.address == "ringfast-1.ringfast:7001" and c.priority == 1 and c.node_id == "ringfast-1.ringfast:7001"


@pytest.mark.parametrize("advertise, address", [
    ("node-a", "node-a:7001"), ("node-a:17001", "node-a:17001"), ("10.0.0.1", "10.0.0.1:7001"),
    ("[fd00::1]:7002", "[fd00::1]:7002"), ("fd00::1", "[fd00::1]:7001"), ("[fd00::1]", "[fd00::1]:7001"),
])
def test_the_advertised_address_takes_the_port_unless_it_has_one(advertise, address):
    assert Config.load({}, port=7001, advertise=advertise).address == address


@pytest.mark.parametrize("bad", ["a b", "x:port", "a,b", "h:0"])
def test_a_bad_advertised_address_names_the_setting(bad):
    with pytest.raises(ConfigError, match="RINGFAST_ADVERTISE="):
        Config.load({"RINGFAST_ADVERTISE": bad})


def test_ignored_ring_election_variables_are_named_by_from_env_only():
    env = {"LEADER_MODE": "1", "TIME_TO_BECOME_SEED": "500", "MAX_INACTIVE_TIME": "9000", "NODE_ENV": "dev"}
    said = Config.from_env(env).ignored_variables()
    assert [w.split("=")[0] for w in said] == ["LEADER_MODE", "TIME_TO_BECOME_SEED", "MAX_INACTIVE_TIME"]
    assert "LEADER_MODE='1' is ignored" in said[0]
    assert Config.load(env).ignored_variables() == []  # an embedded node does not read bare names at all
