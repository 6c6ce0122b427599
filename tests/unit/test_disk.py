"""A failing disk never raises into the protocol: the journal carries on without it (whole
lines, a gap record when it is back), the state file says False, and the ring then neither
votes nor runs for an epoch it could not record."""

import json
import logging
import os

import pytest

from ringfast.disk import Journal, StateFile
from ringfast.errors import ConfigError
from test_ring import IO, SEEDS, Conn, make, msg


def fail_writes(fd):
    """Point `fd` at /dev/full (every write: ENOSPC); returns a function that undoes it."""
    saved = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    os.close(full)

    def restore():
        os.dup2(saved, fd)
        os.close(saved)

    return restore


def test_journal_carries_on_through_a_full_disk_and_records_the_gap(tmp_path, caplog):
    path = tmp_path / "journal"
    failures = []
    j = Journal(str(path), on_failure=failures.append)
    assert j.write({"t": 1, "event": "a"})
    restore = fail_writes(j.fileno())
    with caplog.at_level(logging.ERROR, logger="ringfast.disk"):
        assert not j.write({"t": 2, "event": "b"})
        assert not j.write({"t": 3, "event": "c"})
    assert len(failures) == 2 and all(isinstance(e, OSError) for e in failures)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # once per outage
    restore()
    assert j.write({"t": 4, "event": "d"})
    j.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["a", "journal_gap", "d"]
    assert records[1]["lost"] == 2 and j.failures == 2


def test_journal_on_dev_full_never_raises():
    j = Journal("/dev/full")
    assert not j.write({"t": 0, "event": "x"})
    assert j.failures == 1
    j.close()


def test_journal_in_a_missing_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"RINGFAST_JOURNAL=.*nowhere.*cannot open"):
        Journal(str(tmp_path / "nowhere" / "journal"))


def test_state_dir_that_is_a_file_is_a_config_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"RINGFAST_STATE_DIR=.*f'"):
        StateFile(str(tmp_path / "f")).check()


def test_state_dir_that_takes_no_writes_is_a_config_error(tmp_path, monkeypatch):
    import ringfast.disk as disk

    def refuse(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(disk, "_write_synced", refuse)
    with pytest.raises(ConfigError, match=r"RINGFAST_STATE_DIR=.*does not take writes: No space left"):
        StateFile(str(tmp_path)).check()


def test_state_file_save_says_false_and_recovers(tmp_path, caplog):
    s = StateFile(str(tmp_path))
    assert s.check() is None
    (tmp_path / "ringfast-state.json.tmp").mkdir()  # the write cannot happen: a real OSError
    with caplog.at_level(logging.ERROR, logger="ringfast.disk"):
        assert s.save(5, [5, "n1"]) is False
        assert s.save(6, [6, "n1"]) is False
    assert len(caplog.records) == 1
    (tmp_path / "ringfast-state.json.tmp").rmdir()
    assert s.save(7, [7, "n1"]) is True
    assert s.check() == 7


def test_state_dir_refuses_a_voter_change_that_allows_a_second_quorum(tmp_path):
    five = ["a:1", "b:1", "c:1", "d:1", "e:1"]
    StateFile(str(tmp_path), voters=five, quorum=3).save(1200, [1200, "n1"])
    # two voters swapped at once: {a, b, c} with the old set and {c, x, y}... with the new
    swapped = ["a:1", "b:1", "c:1", "x:1", "y:1"]
    with pytest.raises(ConfigError, match=r"SEED_NODES changed.*removed d:1, e:1, added x:1, y:1.*RINGFAST_STATE_DIR="):
        StateFile(str(tmp_path), voters=swapped, quorum=3).check()
    # one voter at a time is allowed (a removal, then an addition: a replacement in one
    # step is two changes), and each step is compared with the one before it
    four = ["a:1", "b:1", "c:1", "d:1"]
    assert StateFile(str(tmp_path), voters=four, quorum=3).check() == 1200
    assert json.loads((tmp_path / "ringfast-state.json").read_text())["voters"] == four
    five_again = four + ["x:1"]
    assert StateFile(str(tmp_path), voters=five_again, quorum=3).check() == 1200
    with pytest.raises(ConfigError, match=r"removed d:1, added y:1"):
        StateFile(str(tmp_path), voters=swapped[:4] + ["y:1"], quorum=3).check()  # a replacement at once
    # the epoch and the vote stay as they were
    assert json.loads((tmp_path / "ringfast-state.json").read_text())["voted"] == [1200, "n1"]


def test_a_state_file_without_a_voter_set_accepts_any(tmp_path):
    (tmp_path / "ringfast-state.json").write_text(json.dumps({"epoch": 1300, "voted": None}))
    assert StateFile(str(tmp_path), voters=["a:1"], quorum=1).check() == 1300


class RefusingIO(IO):
    def persist(self, epoch, voted):
        self.events.append(("persist", epoch))
        return False


def test_no_vote_for_an_epoch_the_state_dir_did_not_take():
    ring, clock, io = make(2)
    ring.storage = ring.driver.world = refusing = RefusingIO()
    clock.now += 1.5  # past the start-up vote block
    before = (ring.epoch, ring.vote_floor, ring.voted)
    epoch = ring._next_epoch() + 5
    ring.receive(Conn(SEEDS[0]), "vote_req", msg("n1", epoch, addr=SEEDS[0], priority=0, pre=False))
    assert ("persist", epoch) in refusing.events  # it tried
    [(_, vote)] = refusing.of_kind("vote")
    assert vote["granted"] is False
    assert (ring.epoch, ring.vote_floor, ring.voted) == before  # nothing changed half way


def test_no_candidacy_for_an_epoch_the_state_dir_did_not_take():
    ring, clock, io = make(0)
    ring.storage = ring.driver.world = refusing = RefusingIO()
    before = (ring.epoch, ring.vote_floor, ring.voted)
    clock.now += 5
    ring._start_real_election(clock())
    ring.flush()
    assert ring.role == "follower"
    assert (ring.epoch, ring.vote_floor, ring.voted) == before
    assert not refusing.of_kind("vote_req")  # asked nobody


FULL_DISK_SCRIPT = r"""
import json, os, sys
from ringfast.disk import Journal, StateFile
d = sys.argv[1]
filler = os.path.join(d, "filler")
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, b"x" * 4096)
except OSError:
    pass
os.ftruncate(fd, os.fstat(fd).st_size - 4096)  # one free page: room for two records and part of a third
os.close(fd)
j = Journal(os.path.join(d, "journal"))
big = "y" * 1400
results = [j.write({"t": i, "event": "e", "pad": big}) for i in range(4)]
state = StateFile(os.path.join(d, "state"))
saved = state.save(7, [7, "n1"])
os.remove(filler)
results.append(j.write({"t": 9, "event": "back"}))
lines = open(os.path.join(d, "journal")).read().splitlines()
print(json.dumps({"results": results, "saved": saved, "saved_after": state.save(8, [8, "n1"]),
                  "events": [json.loads(line)["event"] for line in lines], "lost": json.loads(lines[-2]).get("lost")}))
"""


def test_a_journal_on_a_full_filesystem_keeps_whole_lines(tmp_path):
    """A real full disk: a 64 KiB tmpfs in a private mount namespace (root and unshare needed)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a small tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK_SCRIPT)
    cp = subprocess.run(["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{mnt}" && exec "{sys.executable}" "{script}" "{mnt}"'],
                        capture_output=True, text=True, timeout=60)
    if cp.returncode != 0 and "mount" in cp.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {cp.stderr.strip()}")
    assert cp.returncode == 0, cp.stderr
    out = json.loads(cp.stdout)
    assert out["results"] == [True, True, False, False, True]  # the third was written in part, then cut back
    assert out["saved"] is False and out["saved_after"] is True
    assert out["events"] == ["e", "e", "journal_gap", "back"] and out["lost"] == 2
