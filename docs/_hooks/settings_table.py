"""MkDocs hook: the configuration table, built from the code at every docs build.

The rows come from ``ringfast.settings.settings_rows()``: one per setting of the settings
table ``ringfast.config.FIELDS`` (keyword, environment variable), with defaults from
:class:`ringfast.Config`, flags from ``ringfast.keywords.flag_of``, the typed keyword of
``ringfast.Node`` and ``ringfast.aio.Node`` with its unit from
``ringfast.keywords.NODE_KEYWORDS``, and its meaning from the docstring of
:class:`ringfast.Node`. ``ringfast node --help`` is made from the same rows. A setting
added to FIELDS without a documented keyword fails the build (and
tests/docs/test_settings_table.py), so the page cannot fall behind the code.

A page asks for the table with the line ``<!-- ringfast:settings-table -->``.
"""

from __future__ import annotations

from typing import Any

from ringfast.settings import settings_rows

MARKER = "<!-- ringfast:settings-table -->"


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
