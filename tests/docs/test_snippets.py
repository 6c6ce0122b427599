"""Every Python snippet in README.md and docs/**/*.md runs, each on its own in a fresh
interpreter and an empty directory (see snippets.py for the no-run marker).

Most snippets spend their time waiting for a ring to form, so they run a few at a time,
all of them once per test session; each test then reports its own snippet's outcome.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from snippets import Snippet, all_snippets, documents, snippets

SNIPPETS = all_snippets()
RUNNABLE = [s for s in SNIPPETS if s.no_run is None]
AT_ONCE = 4


def _run(snippet: Snippet) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="ringfast-snippet-") as tmp:
        script = Path(tmp) / "snippet.py"
        script.write_text(snippet.code, encoding="utf-8")
        try:
            return subprocess.run([sys.executable, str(script)], cwd=tmp, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as e:  # the child is killed by subprocess.run
            return subprocess.CompletedProcess(e.cmd, -9, str(e.stdout or ""), f"timed out after {e.timeout}s")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        return dict(zip((s.name for s in RUNNABLE), pool.map(_run, RUNNABLE)))


@pytest.mark.parametrize("snippet", RUNNABLE, ids=lambda s: s.name)
def test_snippet_runs(snippet, outcomes):
    proc = outcomes[snippet.name]
    assert proc.returncode == 0, f"{snippet.name} failed:\n{snippet.code}\n{proc.stdout}\n{proc.stderr[-4000:]}"


def test_exempt_snippets_say_why_and_still_compile():
    for snippet in (s for s in SNIPPETS if s.no_run is not None):
        assert len(snippet.no_run) >= 10, f"{snippet.name}: a no-run marker needs its reason"
        compile(snippet.code, snippet.name, "exec")


def test_every_document_is_scanned_and_the_readme_has_snippets():
    names = {p.name for p in documents()}
    assert {"README.md", "operations.md", "monitoring.md"} <= names
    assert any(s.path.name == "README.md" and s.no_run is None for s in SNIPPETS)


def test_extraction(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text(textwrap.dedent("""\
        text
        ```python
        print(1)
        ```
        ```sh
        echo no
        ```
        <!-- no-run: needs three machines -->
        ```py
        connect()
        ```
        - a list item:

          ```python
          x = 2
          ```
        ````python
        s = '''```'''
        ````
        """), encoding="utf-8")
    found = [(s.line, s.code, s.no_run) for s in snippets(doc)]
    assert found == [(2, "print(1)\n", None), (9, "connect()\n", "needs three machines"),
                     (14, "x = 2\n", None), (17, "s = '''```'''\n", None)]
