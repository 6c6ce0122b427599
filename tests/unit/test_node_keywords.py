"""ringfast.Node(...), ringfast.Node.from_env(...) and ringfast.aio.Node(...) take the same
settings keywords (ringfast.keywords.NODE_KEYWORDS): same names, order, types, defaults and
documentation, the unit in the name where there is one. The names without their unit that
Node(...) used to take are refused with the keyword to write instead."""

from __future__ import annotations

import inspect
import re

import pytest

import ringfast
import ringfast.aio
from ringfast.config import FIELDS, Config
from ringfast.keywords import NODE_KEYWORDS, NOT_EMBEDDED, UNIT_NAMES
from ringfast.errors import ConfigError

NODES = {"ringfast.Node": ringfast.Node, "ringfast.Node.from_env": ringfast.Node.from_env,
         "ringfast.aio.Node": ringfast.aio.Node}
NOT_SETTINGS = {"self", "cls", "config", "mode", "clock"}


def settings_params(function) -> list[inspect.Parameter]:
    return [p for name, p in inspect.signature(function).parameters.items() if name not in NOT_SETTINGS]


def documented(cls) -> dict[str, str]:
    """keyword -> its text in the Args section of the class docstring."""
    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    name = None
    for line in doc.split("Args:", 1)[1].splitlines():
        m = re.match(r"^    (\w+): (.*)$", line)
        if m:
            name, out[m[1]] = m[1], m[2]
        elif name and line.startswith("        "):
            out[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return out


def test_the_keywords_are_the_settings_of_the_table_with_their_units():
    assert list(NODE_KEYWORDS.values()) == [kw for kw, _, _ in FIELDS if kw not in NOT_EMBEDDED]
    for keyword, setting in NODE_KEYWORDS.items():
        assert keyword == setting or keyword.startswith(setting + "_") and keyword.rsplit("_", 1)[1] in ("ms", "s", "bytes")


@pytest.mark.parametrize("name", NODES)
def test_each_node_takes_exactly_the_settings_keywords(name):
    params = settings_params(NODES[name])
    assert {p.name for p in params} == set(NODE_KEYWORDS)
    for p in params:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, p
        assert p.default is None, p  # None: not given, so the environment, then the default
        assert p.annotation is not inspect.Parameter.empty, p


def test_the_nodes_signatures_carry_the_same_settings():
    """Same names in the same order, same annotations: ringfast.Node and ringfast.aio.Node
    cannot drift apart."""
    reference = [(p.name, p.kind, p.annotation, p.default) for p in settings_params(ringfast.Node)]
    for name, function in NODES.items():
        assert [(p.name, p.kind, p.annotation, p.default) for p in settings_params(function)] == reference, name


def test_the_other_parameters():
    node = inspect.signature(ringfast.Node).parameters
    assert list(node)[:2] == ["config", "mode"] and node["config"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert node["clock"].kind is inspect.Parameter.KEYWORD_ONLY
    assert node["mode"].annotation == inspect.signature(ringfast.Node.from_env).parameters["mode"].annotation
    assert inspect.signature(ringfast.aio.Node).parameters["config"].kind is inspect.Parameter.KEYWORD_ONLY


def test_both_nodes_document_every_keyword_alike():
    node, aio = documented(ringfast.Node), documented(ringfast.aio.Node)
    for keyword in NODE_KEYWORDS:
        assert node.get(keyword), f"ringfast.Node does not document {keyword}"
        assert aio.get(keyword) == node[keyword], f"ringfast.aio.Node documents {keyword} otherwise"
    assert set(node) == set(inspect.signature(ringfast.Node).parameters)  # config, mode, clock too
    assert set(aio) == set(inspect.signature(ringfast.aio.Node).parameters)


def test_the_units_in_the_names_are_the_units_of_the_values():
    keywords = dict(heartbeat_interval_ms=100, failure_timeout_ms=500, reconnect_time_ms=250, handler_timeout_s=2,
                    rejoin_grace_s=7, max_frame_size_bytes=65536, monitoring_port="off",
                    seeds=["127.0.0.1:7001", "127.0.0.1:7002"], num_partitions=12, quorum="majority")
    cfg = ringfast.Node(**keywords).config
    assert (cfg.heartbeat_interval, cfg.failure_timeout, cfg.reconnect_time) == (0.1, 0.5, 0.25)  # seconds
    assert (cfg.handler_timeout, cfg.rejoin_grace, cfg.max_frame_size) == (2.0, 7.0, 65536)
    assert cfg.monitoring_port is None and cfg.seeds == ("127.0.0.1:7001", "127.0.0.1:7002")
    assert ringfast.aio.Node(**keywords).config == cfg
    # what Config.load makes of the settings-table names, in the environment's units
    assert Config.load({}, **{NODE_KEYWORDS[k]: v for k, v in keywords.items()}) == cfg


def test_from_env_reads_ring_elections_names_and_the_keywords_win(monkeypatch):
    monkeypatch.setenv("PORT", "7009")
    monkeypatch.setenv("HEART_BEAT_CHECK_FREQUENCY", "900")
    node = ringfast.Node.from_env(heartbeat_interval_ms=100, num_partitions=5, mode="thread")
    cfg = node.config
    assert (cfg.port, cfg.failure_timeout, cfg.heartbeat_interval, cfg.num_partitions) == (7009, 0.9, 0.1, 5)
    assert cfg.monitoring_port == 9000 and node.mode == "thread"
    assert ringfast.Node.from_env(failure_timeout_ms=4000).config.failure_timeout == 4.0  # over the 900 of the env
    assert ringfast.Node(monitoring_port="off").config.port == 0  # an embedded node reads no bare PORT


@pytest.mark.parametrize("name", NODES)
@pytest.mark.parametrize("old, new, unit", [
    ("heartbeat_interval", "heartbeat_interval_ms", "milliseconds"),
    ("failure_timeout", "failure_timeout_ms", "milliseconds"),
    ("reconnect_time", "reconnect_time_ms", "milliseconds"),
    ("handler_timeout", "handler_timeout_s", "seconds"),
    ("rejoin_grace", "rejoin_grace_s", "seconds"),
    ("max_frame_size", "max_frame_size_bytes", "bytes"),
])
def test_a_name_without_its_unit_is_refused_with_the_one_to_write(name, old, new, unit):
    assert UNIT_NAMES[old] == new
    with pytest.raises(ConfigError, match=rf"^{old}=500: say {new}=500 \({unit}, as {old} was\)$") as raised:
        NODES[name](**{old: 500, "monitoring_port": "off"})
    assert isinstance(raised.value, ValueError)


def test_every_name_without_its_unit_is_said_at_once():
    with pytest.raises(ConfigError, match=r"^heartbeat_interval=100: say heartbeat_interval_ms=100 .*; "
                                          r"failure_timeout=500: say failure_timeout_ms=500 "):
        ringfast.Node(heartbeat_interval=100, failure_timeout=500)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", NODES)
def test_log_level_is_refused_with_what_to_do_instead(name):
    with pytest.raises(ConfigError, match=r"^log_level='debug': a Node takes no log_level .*getLogger\('ringfast'\)"):
        NODES[name](log_level="debug")


def test_a_misspelt_keyword_is_pythons_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'failur_timeout_ms'"):
        ringfast.Node(failur_timeout_ms=500)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", NODES)
def test_a_bad_value_names_the_keyword_as_written(name):
    with pytest.raises(ConfigError, match=r"^handler_timeout_s=0: must be in \[0.001, 86400\] s$"):
        NODES[name](handler_timeout_s=0)
    with pytest.raises(ConfigError, match=r"^failure_timeout_ms='soon': expected a number of milliseconds$"):
        NODES[name](failure_timeout_ms="soon")


def test_a_config_and_keywords_together_are_refused():
    for make in (lambda: ringfast.Node(Config.load({}), port=7001, num_partitions=4),
                 lambda: ringfast.aio.Node(config=Config.load({}), port=7001, num_partitions=4)):
        with pytest.raises(ConfigError, match=r"^Node\(config=...\) takes no other settings; also got num_partitions, port$"):
            make()
    cfg = Config.load({}, num_partitions=4)
    assert ringfast.Node(cfg, mode="thread").config is cfg
