"""Every transcript (tests/transcripts/*.txt) as one test; and the runner catches a wrong one."""

import re
from pathlib import Path

import pytest

import runner

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.txt"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path):
    runner.check(path)


def test_there_are_transcripts():
    assert len(FILES) >= 10


def test_the_internals_page_quotes_a_transcript_as_it_is():
    page = (HERE.parents[1] / "docs" / "internals.md").read_text()
    example = re.search(r"```text\n(# n3 voted.*?)```", page, re.S)[1]
    assert example in (HERE / "election.txt").read_text()


SCRIPT = """\
# a comment
cluster n1 n2 n3
----
{summary}

start n1
----
n1: started as n1, epoch floor 1000
"""


def summary():
    return runner.World().run("cluster n1 n2 n3")[0]


def test_a_wrong_expectation_fails_with_a_diff(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.REWRITE, raising=False)
    path = tmp_path / "wrong.txt"
    path.write_text(SCRIPT.format(summary=summary()).replace("epoch floor 1000", "epoch floor 999"))
    with pytest.raises(AssertionError) as e:
        runner.check(path)
    assert "-n1: started as n1, epoch floor 999\n+n1: started as n1, epoch floor 1000" in str(e.value)
    path.write_text(SCRIPT.format(summary=summary()))
    runner.check(path)  # the right one passes


def test_a_missing_line_fails_too(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.REWRITE, raising=False)
    path = tmp_path / "short.txt"
    path.write_text(SCRIPT.format(summary=summary()).replace("n1: started as n1, epoch floor 1000\n", ""))
    with pytest.raises(AssertionError, match=r"\+n1: started as n1"):
        runner.check(path)


def test_rewrite_mode_writes_what_the_runner_gives(tmp_path, monkeypatch):
    monkeypatch.setenv(runner.REWRITE, "1")
    path = tmp_path / "stale.txt"
    path.write_text("cluster n1 n2 n3\n----\nstale\n\nstart n1\n----\n")
    runner.check(path)
    assert path.read_text() == SCRIPT.format(summary=summary()).replace("# a comment\n", "")
    monkeypatch.delenv(runner.REWRITE)
    runner.check(path)


def test_a_bad_command_names_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("cluster n1 n2 n3\n----\n\nfly n1\n----\n")
    with pytest.raises(runner.ScriptError, match=r"bad.txt:4: fly n1: .*unknown command"):
        runner.check(path)


def test_drop_and_heal():
    w = runner.World()
    w.run("cluster n1 n2 n3")
    w.run("start n1 n2")
    w.run("advance 0.125")
    assert w.run("tick n1") == ["n1->n2 hello e=0", "n1->n3 hello e=0"]  # n3 is scripted: shown only
    assert w.run("drop n1->* kind=hello") == ["dropped n1->n2 hello e=0"]
    assert w.run("net") == []
    w.run("cut n1 n2")
    w.run("tick n2")
    assert w.run("deliver") == ["n2->n1 hello e=0 (cut)"]
    w.run("heal")
    w.run("advance 0.125")
    w.run("tick n2")
    assert w.run("deliver") == ["n2->n1 hello e=0", "n1->n2 leader_is e=0 leader=-"]
