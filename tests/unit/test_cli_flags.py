"""`ringfast node`'s flags are generated from the settings table (ringfast.config.FIELDS):
every setting has a flag, every flag is a setting (but --exit-mode, which is what the
command does on a signal), and a flag's value reaches the Config as its keyword would."""

from __future__ import annotations

import argparse

import pytest

from ringfast import cli, settings
from ringfast.config import FIELDS, Config
from ringfast.keywords import FLAGS
from ringfast.errors import ConfigError

COMMAND_ONLY = {"--exit-mode"}  # not a node setting: leave or restart on SIGTERM/SIGINT
MEANINGS, NODE_KEYWORDS_OF = settings._meanings, settings._node_keywords  # before any monkeypatch


def node_flags() -> dict[str, str]:
    """flag -> dest of every option of `ringfast node` but --help."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    node = sub.choices["node"]
    return {flag: action.dest for action in node._actions for flag in action.option_strings
            if not isinstance(action, argparse._HelpAction)}


def test_every_setting_has_a_flag_and_every_flag_is_a_setting():
    flags = node_flags()
    settings = {kw for kw, _, _ in FIELDS}
    assert {dest for flag, dest in flags.items() if flag not in COMMAND_ONLY} == settings
    assert set(flags) - COMMAND_ONLY == set(FLAGS.values())
    assert all(flags[FLAGS[kw]] == kw for kw in settings)
    assert len(set(FLAGS.values())) == len(FLAGS), "two settings share a flag"


def test_the_names_ringfast_node_always_had_are_kept():
    old = {"--id", "--host", "--advertise", "--port", "--seeds", "--priority", "--partitions", "--monitoring-port",
           "--monitoring-host", "--quorum", "--cluster", "--journal", "--secret-file", "--tls-cert", "--tls-key",
           "--tls-ca", "--state-dir", "--log-level", "--heartbeat-ms", "--check-ms", "--reconnect-ms", "--exit-mode"}
    assert old <= set(node_flags())


def test_a_new_setting_gets_a_flag_named_by_its_node_keyword(monkeypatch):
    monkeypatch.setattr("ringfast.config.FIELDS", [*FIELDS, ("new_thing_s", "RINGFAST_NEW_THING", str)])
    monkeypatch.setattr(settings, "_node_keywords", lambda: {**NODE_KEYWORDS_OF(), "new_thing_s": "new_thing_s"})
    monkeypatch.setattr(settings, "_meanings", lambda: {**MEANINGS(), "new_thing_s": "something new."})
    assert node_flags()["--new-thing-s"] == "new_thing_s"
    assert " ".join(help_of("--new-thing-s").split()) == "something new. [RINGFAST_NEW_THING; default: none]"


def test_derived_flag_names_carry_the_unit():
    assert FLAGS["handler_timeout"] == "--handler-timeout-s" and FLAGS["max_frame_size"] == "--max-frame-size-bytes"
    assert FLAGS["leader_owns_partitions"] == "--leader-owns-partitions" and FLAGS["log_level"] == "--log-level"


def test_help_is_the_settings_meaning_with_its_variables_and_default():
    text = " ".join(help_of("--check-ms").split())
    assert "the lease" in text and "[HEART_BEAT_CHECK_FREQUENCY or RINGFAST_HEART_BEAT_CHECK_FREQUENCY; default: 3000 ms]" in text
    assert "[MONITORING_PORT or RINGFAST_MONITORING_PORT; default: 9000]" in " ".join(help_of("--monitoring-port").split())
    assert "`" not in cli.build_parser().format_help() + help_of("--advertise")


def config_from(*argv: str) -> Config:
    return cli._node_config(cli.build_parser().parse_args(["node", *argv]))


def test_flags_reach_the_config_in_their_units(monkeypatch):
    for kw, env, _ in FIELDS:
        for name in (env, "RINGFAST_" + env):
            monkeypatch.delenv(name, raising=False)
    cfg = config_from("--heartbeat-ms", "100", "--check-ms", "500", "--handler-timeout-s", "2.5",
                      "--max-frame-size-bytes", "65536", "--leader-owns-partitions", "true",
                      "--routes", "127.0.0.1:7001=127.0.0.1:8001", "--monitoring-hosts", "a,b")
    assert (cfg.heartbeat_interval, cfg.failure_timeout, cfg.handler_timeout) == (0.1, 0.5, 2.5)
    assert cfg.max_frame_size == 65536 and cfg.leader_owns_partitions is True
    assert cfg.routes == {"127.0.0.1:7001": "127.0.0.1:8001"} and cfg.monitoring_hosts == ("a", "b")


def test_a_flag_wins_over_both_names_of_its_variable(monkeypatch):
    monkeypatch.setenv("HEART_BEAT_CHECK_FREQUENCY", "900")
    monkeypatch.setenv("RINGFAST_HEART_BEAT_CHECK_FREQUENCY", "800")
    monkeypatch.setenv("RINGFAST_HEART_BEAT_FREQUENCY", "100")
    assert config_from("--check-ms", "500").failure_timeout == 0.5


@pytest.mark.parametrize("argv, said", [
    (["--check-ms", "soon"], "--check-ms='soon'"),
    (["--handler-timeout-s", "-1"], "--handler-timeout-s='-1'"),
    (["--leader-owns-partitions", "maybe"], "--leader-owns-partitions='maybe'"),
    (["--partitions", "0"], "--partitions='0'"),
])
def test_a_bad_flag_is_named(argv, said):
    with pytest.raises(ConfigError) as err:
        config_from(*argv)
    assert str(err.value).startswith(said)


def help_of(flag: str) -> str:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a.help for a in sub.choices["node"]._actions if flag in a.option_strings)

