"""A docs page missing from mkdocs.yml's nav is added under "More" (docs/_hooks/nav.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import nav  # noqa: E402


def test_unlisted_pages_go_under_more(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "_hooks").mkdir()
    for page, text in [("index.md", "# Home"), ("kubernetes.md", "# Deploying on Kubernetes\n\ntext"),
                       ("reference/api.md", "# API"), ("_hooks/notes.md", "# internal")]:
        (tmp_path / page).write_text(text)
    config = {"docs_dir": str(tmp_path), "nav": [{"Home": "index.md"}, {"Reference": [{"API": "reference/api.md"}]}]}
    out = nav.on_config(config)
    assert out["nav"][-1] == {"More": [{"Deploying on Kubernetes": "kubernetes.md"}]}

