"""The configuration page's table is built from the code (docs/_hooks/settings_table.py, from
the rows of ringfast.settings, which `ringfast node --help` shows too):
every setting of ringfast.config.FIELDS appears, with the keyword, unit and default the
code has, and ringfast.Node and ringfast.aio.Node take (and document) a typed keyword for
each (tests/unit/test_node_keywords.py: the same for both)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

import ringfast
import ringfast.aio
from ringfast.config import FIELDS
from ringfast.keywords import UNIT_NAMES
from ringfast.settings import NOT_EMBEDDED

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "_hooks"))
import settings_table  # noqa: E402


def test_one_row_per_setting_in_the_code_order():
    rows = settings_table.settings_rows()
    assert [(r["keyword"], r["env"]) for r in rows] == [(entry[0], entry[1]) for entry in FIELDS]


def test_units_and_defaults_come_from_the_code():
    rows = {r["keyword"]: r for r in settings_table.settings_rows()}
    assert rows["failure_timeout"]["node"] == "failure_timeout_ms" and rows["failure_timeout"]["default"] == "`3000` ms"
    assert rows["heartbeat_interval"]["flag"] == "--heartbeat-ms"
    assert rows["handler_timeout"]["node"] == "handler_timeout_s" and rows["handler_timeout"]["default"] == "`10` s"
    assert rows["num_partitions"]["default"] == "`10`" and rows["monitoring_port"]["default"] == "off (`ringfast node`: `9000`)"
    assert rows["leader_owns_partitions"]["default"] == "`false`"
    assert "the lease" in rows["failure_timeout"]["meaning"]


@pytest.mark.parametrize("node", [ringfast.Node, ringfast.Node.from_env, ringfast.aio.Node])
def test_every_setting_but_the_cli_only_ones_is_a_typed_keyword(node):
    params = inspect.signature(node).parameters
    for entry in FIELDS:
        kw, env = entry[0], entry[1]
        if kw in NOT_EMBEDDED:
            continue
        node_kw = UNIT_NAMES.get(kw, kw)
        assert node_kw in params, f"{env}: {node.__qualname__} has no keyword for {kw}"
        assert params[node_kw].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[node_kw].annotation != inspect.Parameter.empty


def test_a_setting_without_a_documented_keyword_fails_the_build(monkeypatch):
    monkeypatch.setattr("ringfast.config.FIELDS", [*FIELDS, ("new_thing", "RINGFAST_NEW_THING", str)])
    with pytest.raises(ValueError, match="'new_thing' \\(RINGFAST_NEW_THING\\) has no documented keyword"):
        settings_table.settings_rows()


def test_the_page_gets_the_table():
    page = (Path(settings_table.__file__).parents[1] / "reference" / "configuration.md").read_text()
    assert settings_table.MARKER in page
    out = settings_table.on_page_markdown(page)
    assert settings_table.MARKER not in out and (
        "| `RINGFAST_HEART_BEAT_CHECK_FREQUENCY` (`ringfast node`: also `HEART_BEAT_CHECK_FREQUENCY`)"
        " | `failure_timeout_ms` | `--check-ms` | `3000` ms |" in out
    )
    assert "`Node(...)` and `aio.Node(...)` keyword" in out


def test_the_settings_added_since_the_readme_table_have_rows():
    rows = {r["keyword"]: r for r in settings_table.settings_rows()}
    assert rows["monitoring_hosts"]["env"] == "RINGFAST_MONITORING_HOSTS"
    assert rows["monitoring_hosts"]["node"] == "monitoring_hosts" and "DNS rebinding" in rows["monitoring_hosts"]["meaning"]
    assert rows["advertise"]["flag"] == "--advertise" and "seeds" in rows["advertise"]["default"]
    assert rows["node_id"]["default"] == "advertised `host:port`"
    assert "mode 600 or 400" in rows["secret_file"]["meaning"]
