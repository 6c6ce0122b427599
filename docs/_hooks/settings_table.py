"""MkDocs hook: the configuration table, built from the code at every docs build.

Rows come from the settings table ``ringfast.config.FIELDS`` (keyword, environment
variable), defaults from :class:`ringfast.Config`, flags from ``ringfast.cli``, the typed
keyword of ``ringfast.Node`` and ``ringfast.aio.Node`` with its unit from
``ringfast.config.NODE_KEYWORDS``, and its meaning from the docstring of
:class:`ringfast.Node` (tests/unit/test_node_keywords.py holds ``aio.Node``'s to the same
text). A setting added to FIELDS without a documented keyword fails the build (and
tests/docs/test_settings_table.py), so the page cannot fall behind the code.

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
# Settings an embedded node has no use for (ringfast.config.NOT_EMBEDDED), said here for
# the table; a Node refuses them as keywords.
NOT_EMBEDDED = {
    "log_level": "`ringfast node`'s log level: debug, info, warning, error or critical "
                 "(an embedded node leaves logging to the application)",
}
UNITS = {"_ms": "ms", "_s": "s", "_bytes": "bytes"}


def _node_keywords() -> dict[str, str]:
    """Config keyword -> the keyword of Node(...) and aio.Node(...) (it carries the unit in
    its name), for the keywords ringfast.Node takes."""
    import ringfast
    from ringfast.config import NODE_KEYWORDS

    params = inspect.signature(ringfast.Node).parameters
    return {config_kw: kw for kw, config_kw in NODE_KEYWORDS.items() if kw in params}


def _meanings() -> dict[str, str]:
    """Node keyword -> its text in the docstring's Args section."""
    import ringfast

    doc = inspect.getdoc(ringfast.Node) or ""
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


def _default(keyword: str, node_keyword: str, value: Any) -> str:
    if keyword in DERIVED:
        return DERIVED[keyword]
    if value is None or value in ((), {}):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if node_keyword.endswith("_ms"):
        return f"`{value * 1000:g}` ms"
    if node_keyword.endswith("_s"):
        return f"`{value:g}` s"
    if node_keyword.endswith("_bytes"):
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
    if set(NOT_EMBEDDED) != set(config.NOT_EMBEDDED):
        raise ValueError(f"NOT_EMBEDDED says {sorted(NOT_EMBEDDED)}, ringfast.config {sorted(config.NOT_EMBEDDED)}")
    node_of, meanings, flags = _node_keywords(), _meanings(), _flags()
    rows = []
    for entry in FIELDS:  # (keyword, environment variable, parser, ...)
        keyword, env = entry[0], entry[1]
        node_kw = node_of.get(keyword)
        if keyword in NOT_EMBEDDED:
            node_kw, meanings[""] = "", NOT_EMBEDDED[keyword]
        elif node_kw is None or node_kw not in meanings:
            raise ValueError(f"setting {keyword!r} ({env}) has no documented keyword in ringfast.Node")
        unit = next((u for suffix, u in UNITS.items() if node_kw.endswith(suffix)), "")
        default = _default(keyword, node_kw, defaults.get(keyword))
        if keyword == "host" and defaults.get("host") is None:
            default = "chosen at start ([Addresses](#addresses))"
        cli_port = getattr(config, "DEFAULT_MONITORING_PORT", None)
        if keyword == "monitoring_port" and defaults.get(keyword) is None and cli_port:
            default = f"off (`ringfast node`: `{cli_port}`)"
        rows.append({
            "keyword": keyword, "node": node_kw, "env": env, "env_names": _env_names(env),
            "flag": flags.get(keyword, ""), "unit": unit, "default": default, "meaning": meanings[node_kw],
        })
    return rows


def settings_table() -> str:
    lines = [
        "| environment variable | `Node(...)` and `aio.Node(...)` keyword | `ringfast node` flag | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for r in settings_rows():
        flag = f"`{r['flag']}`" if r["flag"] else ""
        node_kw = f"`{r['node']}`" if r["node"] else "(none)"
        lines.append(f"| {r['env_names']} | {node_kw} | {flag} | {r['default']} | {r['meaning']} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, settings_table()) if MARKER in markdown else markdown
