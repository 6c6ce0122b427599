"""The node's two files: the event journal and the state file (highest epoch, last vote).

A failing disk (full, read-only, an I/O error) must never stop a state change half way,
so neither class raises once the node runs: each write says whether it worked. What the
node does about a failure differs (see docs/operations.md, "When the disk fails"):

- the journal is a record for people and checkers, not for the protocol: the node carries
  on without it, counts each lost record, logs once per outage, and when writes work again
  writes a ``journal_gap`` record saying how many were lost. Lines are whole or absent: a
  short write is cut back, so a reader never sees half a record.
- the state file is what keeps a restarted voter from voting twice in one epoch: the
  protocol asks for it to be written *before* it votes or runs for an epoch, and does
  neither when the write fails (ringfast.ring).

At start both are checked (a bad path or an unwritable directory is a ConfigError, which
``ringfast node`` turns into exit status 2 with the setting named).
"""

from __future__ import annotations

import errno
import json
import logging
import os

from .assumptions import voter_change_refusal
from .errors import ConfigError

log = logging.getLogger(__name__)

STATE_FILE = "ringfast-state.json"


class Journal:
    """Appends one JSON object per line; `write` returns False (and counts) instead of raising."""

    def __init__(self, path: str, on_failure=None):
        self.path = path
        self._on_failure = on_failure or (lambda error: None)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise ConfigError(f"RINGFAST_JOURNAL={path!r}: cannot open it for appending: {e.strerror or e}") from None
        self.lost = 0  # records lost in the current outage
        self.failures = 0  # records lost in all

    def fileno(self) -> int:
        return self._fd

    def write(self, record: dict) -> bool:
        if self._fd < 0:
            return False
        data = _line(record)
        if self.lost:  # back after an outage: say what is missing before going on
            data = _line({"t": record.get("t"), "node": record.get("node"), "event": "journal_gap",
                          "lost": self.lost}) + data
        try:
            start = os.fstat(self._fd).st_size
        except OSError:
            start = None
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
        except OSError as e:
            if start is not None:
                try:  # cut back a partial line, so that readers only ever see whole records
                    os.ftruncate(self._fd, start)
                except OSError:
                    pass
            self.failures += 1
            self.lost += 1
            if self.lost == 1:
                log.error("journal %s: write failed (%s); carrying on without it until writes work again "
                          "(lost records are counted in ringfast_journal_write_failures_total)",
                          self.path, e.strerror or e)
            self._on_failure(e)
            return False
        if self.lost:
            log.warning("journal %s: writing again after %d lost records", self.path, self.lost)
            self.lost = 0
        return True

    def close(self):
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1


def _line(record: dict) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")


class StateFile:
    """``<state dir>/ringfast-state.json``, replaced atomically (write, fsync, rename)."""

    def __init__(self, directory: str, on_failure=None, voters=None, quorum: int | None = None):
        self.directory = directory
        self.path = os.path.join(directory, STATE_FILE)
        self.failing = False  # the last write failed (logged once per outage)
        self._on_failure = on_failure or (lambda: None)  # counted at every failed write
        # The voter set and quorum this node runs with, written with every record: at the
        # next start, a change that allows a second quorum beside this one is refused.
        self.voters = sorted(voters) if voters is not None else None
        self.quorum = quorum

    def check(self) -> int | None:
        """At start: the directory exists (made if missing) and takes a write; returns the
        persisted epoch, if any. Any problem is a ConfigError naming RINGFAST_STATE_DIR."""
        what = f"RINGFAST_STATE_DIR={self.directory!r}"
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{what}: cannot create the directory: {e.strerror or e}") from None
        if not os.path.isdir(self.directory):
            raise ConfigError(f"{what}: not a directory")
        epoch = None
        record: dict = {}
        if os.path.exists(self.path):
            try:
                with open(self.path, encoding="utf-8") as f:
                    record = json.load(f)
                epoch = None if record["epoch"] is None else int(record["epoch"])  # None: voters only
                old_voters, old_quorum = record.get("voters"), record.get("quorum")
                if old_voters is not None:
                    old_voters, old_quorum = [str(v) for v in old_voters], int(old_quorum)
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"{what}: unreadable state file {self.path}: {e}") from None
            if old_voters is not None and self.voters is not None and self.quorum is not None:
                why = voter_change_refusal(old_voters, old_quorum, self.voters, self.quorum)
                if why is not None:
                    raise ConfigError(f"{why} ({what} remembers the old set)")
        probe = os.path.join(self.directory, f".ringfast-write-check-{os.getpid()}")
        try:
            _write_synced(probe, b"ok\n")
            os.remove(probe)
        except OSError as e:
            raise ConfigError(f"{what}: the directory does not take writes: {e.strerror or e}") from None
        if self.voters is not None and (record.get("voters"), record.get("quorum")) != (self.voters, self.quorum):
            # The next start compares with this set, not the older one: each step of a change
            # made one voter at a time is compared with the step before it. Recorded at once,
            # also by a node that never voted (epoch null: it stays fresh): the danger is a
            # node running other voters than the cluster, whatever it did before.
            if not self.save(epoch, record.get("voted")):
                raise ConfigError(f"{what}: cannot record the new voter set in {self.path}")
        return epoch

    def save(self, epoch: int | None, voted) -> bool:
        """Write {"epoch", "voted", "voters", "quorum"}; False if the disk refused (logged once per outage)."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            tmp = self.path + ".tmp"
            record = {"epoch": epoch, "voted": voted}
            if self.voters is not None:
                record.update(voters=self.voters, quorum=self.quorum)
            _write_synced(tmp, json.dumps(record).encode("utf-8"))
            os.replace(tmp, self.path)
        except OSError as e:
            if not self.failing:
                log.error("state dir %s: cannot record epoch %d (%s): this node neither votes nor runs for "
                          "leader until it can (counted in ringfast_state_write_failures_total)",
                          self.directory, epoch, e.strerror or e)
            self.failing = True
            self._on_failure()
            return False
        if self.failing:
            log.warning("state dir %s: writes work again (epoch %d recorded)", self.directory, epoch)
            self.failing = False
        return True


def forget_voters(directory: str) -> bool:
    """Drop the voter set a state dir remembers (keeping its epoch and vote): the override
    for a voter change StateFile.check refuses, for when no node of the other set runs.
    True if there was one to drop."""
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as e:
        raise ConfigError(f"RINGFAST_STATE_DIR={directory!r}: unreadable state file {path}: {e}") from None
    if not isinstance(record, dict) or "voters" not in record:
        return False
    record.pop("voters")
    record.pop("quorum", None)
    _write_synced(path + ".tmp", json.dumps(record).encode("utf-8"))
    os.replace(path + ".tmp", path)
    return True


def _write_synced(path: str, data: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
