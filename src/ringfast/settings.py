"""The settings in words, built from the code: one row per setting of ``config.FIELDS``.

Each row gives the setting's keyword, the keyword of ``ringfast.Node`` and
``ringfast.aio.Node`` (with its unit, ``keywords.NODE_KEYWORDS``), its environment
variable, the flag of ``ringfast node`` (``keywords.flag_of``), its default (from
:class:`ringfast.Config`) and its meaning (from the Args of :class:`ringfast.Node`'s
docstring; tests/unit/test_node_keywords.py holds ``aio.Node``'s to the same text).

``ringfast node --help`` (ringfast.cli) and the configuration table of the documentation
(docs/_hooks/settings_table.py) are both made from these rows, so a setting added to
FIELDS appears in both at once; one without a documented keyword raises ValueError here,
which fails the docs build and tests/docs/test_settings_table.py. The texts are Markdown
(`plain()` strips it for a terminal).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

# Defaults computed when a node starts, said in words.
DERIVED = {
    "node_id": "advertised `host:port`",
    "advertise": "`host`, or this node's entry in `seeds` ([Addresses](#addresses))",
    "priority": "position in `seeds`",
    "monitoring_host": "`host`",
    "rejoin_grace": "3 x failure timeout",
    "port": "`0` (any free port)",
}
# The meaning of the settings an embedded node has no use for (keywords.NOT_EMBEDDED): a
# Node refuses them as keywords, so its docstring does not say them.
NOT_EMBEDDED = {
    "log_level": "`ringfast node`'s log level: debug, info, warning, error or critical "
                 "(an embedded node leaves logging to the application)",
}
UNITS = {"_ms": "ms", "_s": "s", "_bytes": "bytes"}


def _node_keywords() -> dict[str, str]:
    """Config keyword -> the keyword of Node(...) and aio.Node(...) (it carries the unit in
    its name), for the keywords ringfast.Node takes."""
    from .keywords import NODE_KEYWORDS
    from .node import Node

    params = inspect.signature(Node).parameters
    return {config_kw: kw for kw, config_kw in NODE_KEYWORDS.items() if kw in params}


def _meanings() -> dict[str, str]:
    """Node keyword -> its text in the docstring's Args section."""
    from .node import Node

    doc = inspect.getdoc(Node) or ""
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
    from .config import prefixed

    if prefixed(variable) == variable:
        return f"`{variable}`"
    return f"`{prefixed(variable)}` (`ringfast node`: also `{variable}`)"


def settings_rows() -> list[dict[str, str]]:
    """One row per setting of ringfast.config.FIELDS, in its order: keyword, node (the Node
    keyword; "" for a setting a Node does not take), env (the variable as in FIELDS),
    env_names (every name it is read under, Markdown), flag, unit, default and
    cli_default (Markdown; they differ where `ringfast node` has its own default) and
    meaning (Markdown)."""
    from . import keywords
    from .config import DEFAULT_MONITORING_PORT, FIELDS, Config
    from .keywords import flag_of

    defaults = {}
    for f in dataclasses.fields(Config):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    if set(NOT_EMBEDDED) != set(keywords.NOT_EMBEDDED):
        raise ValueError(f"NOT_EMBEDDED says {sorted(NOT_EMBEDDED)}, ringfast.keywords {sorted(keywords.NOT_EMBEDDED)}")
    node_of, meanings = _node_keywords(), _meanings()
    rows = []
    for keyword, env, *_ in FIELDS:  # (keyword, environment variable, parser)
        node_kw = node_of.get(keyword)
        if keyword in NOT_EMBEDDED:
            node_kw, meaning = "", NOT_EMBEDDED[keyword]
        elif node_kw is None or node_kw not in meanings:
            raise ValueError(f"setting {keyword!r} ({env}) has no documented keyword in ringfast.Node")
        else:
            meaning = meanings[node_kw]
        unit = next((u for suffix, u in UNITS.items() if node_kw.endswith(suffix)), "")
        default = cli_default = _default(keyword, node_kw, defaults.get(keyword))
        if keyword == "host" and defaults.get("host") is None:
            default = cli_default = "chosen at start ([Addresses](#addresses))"
        if keyword == "monitoring_port" and defaults.get(keyword) is None:
            default, cli_default = f"off (`ringfast node`: `{DEFAULT_MONITORING_PORT}`)", f"`{DEFAULT_MONITORING_PORT}`"
        rows.append({
            "keyword": keyword, "node": node_kw, "env": env, "env_names": _env_names(env),
            "flag": flag_of(keyword), "unit": unit, "default": default, "cli_default": cli_default,
            "meaning": meaning,
        })
    return rows


def plain(markdown: str) -> str:
    """Markdown as a terminal shows it: no backticks, links as their text, and a link that
    is only a pointer to another section, "([Addresses](#addresses))", left out."""
    text = re.sub(r" ?\(\[[^\[\]]+\]\([^()]*\)\)", "", markdown)
    text = re.sub(r"\[([^\[\]]+)\](?:\([^()]*\)|\[[^\[\]]*\])", r"\1", text)
    return text.replace("`", "")
