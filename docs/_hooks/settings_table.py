"""MkDocs hook: the configuration table, built from the code at every docs build.

Rows come from the settings table ``ringfast.config.FIELDS`` (keyword, environment
variable), defaults from :class:`ringfast.Config`, flags from ``ringfast.cli``, and the
typed keyword, its unit and its meaning from the docstring of :class:`ringfast.aio.Node`.
A setting added to FIELDS without a documented ``aio.Node`` keyword fails the build
(and tests/docs/test_settings_table.py), so the page cannot fall behind the code.

A page asks for the table with the line ``<!-- ringfast:settings-table -->``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

MARKER = "<!-- ringfast:settings-table -->"

# Defaults computed when a node starts, said in words.
DERIVED = {
    "node_id": "advertised `host:port`",
    "advertise": "`host`, or this node's entry in `seeds` ([Addresses](#addresses))",
    "priority": "position in `seeds`",
    "monitoring_host": "`host`",
    "rejoin_grace": "3 x failure timeout",
    "port": "`0` (any free port)",
}
# Settings an embedded node has no use for, so aio.Node does not take them.
NOT_EMBEDDED = {
    "log_level": "`ringfast node`'s log level: debug, info, warning, error or critical "
                 "(an embedded node leaves logging to the application)",
}
UNITS = {"_ms": "ms", "_s": "s", "_bytes": "bytes"}


def _aio_keywords() -> dict[str, str]:
    """Config keyword -> aio.Node keyword (the latter carries the unit in its name)."""
    from ringfast import aio

    params = [p for p in inspect.signature(aio.Node).parameters if p != "config"]
    return {aio._RENAMED.get(p, p): p for p in params}


def _meanings() -> dict[str, str]:
    """aio.Node keyword -> its text in the docstring's Args section."""
    from ringfast import aio

    doc = inspect.getdoc(aio.Node) or ""
    args = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    meanings: dict[str, str] = {}
    name = None
    for line in args.splitlines():
        m = re.match(r"^    (\w+): (.*)$", line)
        if m:
            name = m[1]
            meanings[name] = m[2].strip()
        elif name and line.startswith("        "):
            meanings[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return meanings


def _flags() -> dict[str, str]:
    from ringfast import cli

    flags = {dest: flag for flag, dest, _ in getattr(cli, "NODE_FLAGS", [])}
    flags.update({dest: flag for flag, dest, _ in getattr(cli, "MS_FLAGS", [])})
    return flags


def _default(keyword: str, aio_keyword: str, value: Any) -> str:
    if keyword in DERIVED:
        return DERIVED[keyword]
    if value is None or value in ((), {}):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if aio_keyword.endswith("_ms"):
        return f"`{value * 1000:g}` ms"
    if aio_keyword.endswith("_s"):
        return f"`{value:g}` s"
    if aio_keyword.endswith("_bytes"):
        return f"`{value}` bytes" + (f" ({value // 2**20} MiB)" if value % 2**20 == 0 else "")
    return f"`{value}`"


def _env_names(variable: str) -> str:
    """The variable(s) a setting is read from: where config.py says an embedded node reads
    a `RINGFAST_` name and `ringfast node` also the bare one, both."""
    from ringfast import config

    prefixed = getattr(config, "prefixed", None)
    if prefixed is None or prefixed(variable) == variable:
        return f"`{variable}`"
    return f"`{prefixed(variable)}` (`ringfast node`: also `{variable}`)"


def settings_rows() -> list[dict[str, str]]:
    """One row per setting of ringfast.config.FIELDS, in its order."""
    from ringfast import config
    from ringfast.config import FIELDS, Config

    defaults = {}
    for f in dataclasses.fields(Config):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    aio_of, meanings, flags = _aio_keywords(), _meanings(), _flags()
    rows = []
    for entry in FIELDS:  # (keyword, environment variable, parser, ...)
        keyword, env = entry[0], entry[1]
        aio_kw = aio_of.get(keyword)
        if keyword in NOT_EMBEDDED:
            aio_kw, meanings[""] = "", NOT_EMBEDDED[keyword]
        elif aio_kw is None or aio_kw not in meanings:
            raise ValueError(f"setting {keyword!r} ({env}) has no documented keyword in ringfast.aio.Node")
        unit = next((u for suffix, u in UNITS.items() if aio_kw.endswith(suffix)), "")
        default = _default(keyword, aio_kw, defaults.get(keyword))
        if keyword == "host" and defaults.get("host") is None:
            default = "chosen at start ([Addresses](#addresses))"
        cli_port = getattr(config, "DEFAULT_MONITORING_PORT", None)
        if keyword == "monitoring_port" and defaults.get(keyword) is None and cli_port:
            default = f"off (`ringfast node`: `{cli_port}`)"
        rows.append({
            "keyword": keyword, "aio": aio_kw, "env": env, "env_names": _env_names(env),
            "flag": flags.get(keyword, ""), "unit": unit, "default": default, "meaning": meanings[aio_kw],
        })
    return rows


def settings_table() -> str:
    lines = [
        "| environment variable | `Node(...)` keyword | `aio.Node(...)` keyword | `ringfast node` flag | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for r in settings_rows():
        flag = f"`{r['flag']}`" if r["flag"] else ""
        aio_kw = f"`{r['aio']}`" if r["aio"] else ""
        lines.append(f"| {r['env_names']} | `{r['keyword']}` | {aio_kw} | {flag} | {r['default']} | {r['meaning']} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, settings_table()) if MARKER in markdown else markdown
