"""Find the Python snippets of README.md and docs/**/*.md (used by test_snippets.py).

A snippet is a fenced block whose info string is ``python`` or ``py``. Each one must run
on its own, as a new user would paste it into a file. A block that cannot (it needs
other machines, or it is a fragment of a larger program) carries a marker on the line
just above its fence, with the reason, which the test checks is given:

    <!-- no-run: needs three machines at 10.0.0.1-3 -->

The marker is an HTML comment, so it does not show on the rendered page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)[^`]*$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    no_run: str | None  # the reason given by a no-run marker, or None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """README.md and every Markdown file under docs/, whoever wrote it."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def snippets(path: Path) -> list[Snippet]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].lower()
        end = i + 1
        while end < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        if info in ("python", "py"):
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
            marker = NO_RUN.match(lines[i - 1]) if i > 0 else None
            found.append(Snippet(path, i + 1, "\n".join(body) + "\n", marker["reason"].strip() if marker else None))
        i = end + 1
    return found


def all_snippets() -> list[Snippet]:
    return [s for path in documents() for s in snippets(path)]
