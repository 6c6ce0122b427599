"""Config: env defaults, kwargs win, ring-election's units, and errors naming name and value."""

import pytest

from ringfast.config import Config
from ringfast.errors import ConfigError


def test_defaults_follow_ring_election():
    c = Config.load({})
    assert (c.num_partitions, c.heartbeat_interval, c.failure_timeout, c.reconnect_time, c.monitoring_port) == (10, 1.0, 3.0, 3.0, 9000)
    assert c.quorum == "majority" and c.host == "127.0.0.1" and not c.leader_owns_partitions


def test_env_values_in_milliseconds_and_kwargs_win():
    env = {"NUM_PARTITIONS": "64", "HEART_BEAT_FREQUENCY": "250", "HEART_BEAT_CHECK_FREQUENCY": "900",
           "SEED_NODES": "10.0.0.1:7000, 10.0.0.2:7000,", "PORT": "7000", "HOST": "10.0.0.2"}
    c = Config.load(env, num_partitions=12)
    assert c.num_partitions == 12
    assert (c.heartbeat_interval, c.failure_timeout) == (0.25, 0.9)
    assert c.seeds == ("10.0.0.1:7000", "10.0.0.2:7000")
    assert c.node_id == "10.0.0.2:7000" and c.priority == 1  # its place in the seed list
    assert c.quorum_size() == 2


def test_quorum_settings():
    seeds = "a:1,b:1,c:1,d:1,e:1"
    assert Config.load({"SEED_NODES": seeds}).quorum_size() == 3
    assert Config.load({"SEED_NODES": seeds, "RINGFAST_QUORUM": "none"}).quorum_size() == 1
    assert Config.load({"SEED_NODES": seeds, "RINGFAST_QUORUM": "4"}).quorum_size() == 4


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
        Config.load(env)


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
    warnings = Config.load(env).unsafe_settings()
    assert bool(warnings) is unsafe
    if unsafe:
        assert f"RINGFAST_QUORUM={quorum}" in warnings[0] and f"of the {seeds} seed nodes" in warnings[0]


def test_an_explicit_priority_is_kept_when_seed_names_are_resolved():
    from ringfast.node import _resolved

    seeds = "localhost:7001,localhost:7002,localhost:7003"
    given = _resolved(Config.load({}, port=7002, seeds=seeds, priority=3))  # 3 == len(seeds)
    assert given.priority == 3
    derived = _resolved(Config.load({}, port=7002, seeds=seeds))
    assert derived.priority == 1  # its place in the list, found once the names are addresses
    twice = _resolved(Config.load({}, port=7009, seeds="localhost:7001,127.0.0.1:7001,localhost:7002"))
    assert twice.seeds == ("127.0.0.1:7001", "127.0.0.1:7002") and twice.priority == 2  # after the listed ones
