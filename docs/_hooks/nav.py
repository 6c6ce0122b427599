"""MkDocs hook: a page under docs/ that mkdocs.yml's nav does not list is added to the
nav under "More", titled by its first heading, instead of being left out (which the
strict build refuses). Several people write pages; none should vanish from the site or
break its build because the nav was not edited in the same change."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _listed(nav: Any) -> set[str]:
    found: set[str] = set()
    items = nav if isinstance(nav, list) else [nav]
    for item in items:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                found |= _listed(value)
    return found


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ")


def unlisted_pages(docs_dir: Path, nav: Any) -> list[str]:
    listed = _listed(nav)
    pages = (p.relative_to(docs_dir).as_posix() for p in sorted(docs_dir.rglob("*.md")))
    return [p for p in pages if not p.startswith("_") and p not in listed]


def on_config(config: Any, **_: Any) -> Any:
    nav = config.get("nav")
    if nav:
        docs_dir = Path(config["docs_dir"])
        extra = [{_title(docs_dir / page): page} for page in unlisted_pages(docs_dir, nav)]
        if extra:
            config["nav"] = [*nav, {"More": extra}]
    return config
