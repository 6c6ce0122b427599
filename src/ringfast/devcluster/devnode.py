"""One node of the dev-cluster: its process, its files, and what its journal says."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field


def last_line(path: str) -> str:
    """The last non-blank line of a log file (read from its last 4 KiB), or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


@dataclass
class DevNode:
    index: int  # 1-based
    port: int
    monitoring_port: int
    journal: str
    log: str
    proc: subprocess.Popen | None = None
    state: str = "dead"  # running | paused | stopping | dead
    pids: list[int] = field(default_factory=list)  # every process started for this node
    exit_status: str | None = None
    after_exit: str | None = None  # "restart": start again once the process has exited
    kill_at: float | None = None  # SIGKILL at this monotonic time if still alive (graceful stop)
    role: str | None = None
    leader: str | None = None
    epoch: int | None = None
    partitions: set = field(default_factory=set)
    journal_start: int = 0  # what the journal held before this dev-cluster (a kept --dir): not replayed
    _jf: object = None
    _partial: bytes = b""

    @property
    def id(self) -> str:
        return f"n{self.index}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused", "stopping")

    def reset_view(self):
        self.role = self.leader = self.epoch = None
        self.partitions = set()

    def read_journal(self) -> list[dict]:
        if self._jf is None:
            try:
                self._jf = open(self.journal, "rb")
            except FileNotFoundError:
                return []
            self._jf.seek(self.journal_start)
        data = self._jf.read()
        if not data:
            return []
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def close(self):
        if self._jf is not None:
            self._jf.close()
            self._jf = None

    def last_log_line(self) -> str:
        return last_line(self.log)

    def info(self) -> dict:
        return {
            "id": self.id, "pid": self.pid, "pids": list(self.pids), "state": self.state,
            "port": self.port, "monitoring_port": self.monitoring_port,
            "role": self.role, "leader": self.leader, "epoch": self.epoch,
            "partitions": sorted(self.partitions), "exit": self.exit_status,
        }
