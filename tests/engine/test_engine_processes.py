"""`ringfast node --backend etcd|zookeeper` processes against a real engine: kill -9 and SIGSTOP of a
member. Its partitions move only once its right has surely ended (the journals prove it),
and a frozen member gives them up itself when it wakes. Every process is stopped by its pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ringfast.clock import now
from support import wait_for


TTL = 2.0  # RINGFAST_HEART_BEAT_CHECK_FREQUENCY=2000 -> leases (sessions) of 2 s, renewed every 2/3 s


class Proc:
    def __init__(self, engine, name, tmp_path, priority):
        self.name = name
        self.journal = tmp_path / f"{name}.jsonl"
        env = {**os.environ, "RINGFAST_BACKEND": engine.backend, "RINGFAST_ENGINE": engine.endpoints, "NODE_ID": name,
               "PRIORITY": str(priority), "NUM_PARTITIONS": "8", "RINGFAST_CLUSTER": "procs",
               "HEART_BEAT_FREQUENCY": "200", "HEART_BEAT_CHECK_FREQUENCY": str(int(TTL * 1000)),
               "RINGFAST_JOURNAL": str(self.journal), "MONITORING_PORT": "off", "LOG_LEVEL": "warning"}
        self.log = open(tmp_path / f"{name}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "ringfast", "node"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.killed_at: float | None = None

    def records(self):
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line.endswith("}")]

    def held(self):
        out = {}
        for r in self.records():
            for p in r.get("partitions", []):
                if r["event"] == "assigned":
                    out[p] = r["t"]
                elif r["event"] == "revoked":
                    out.pop(p, None)
        return out

    def kill(self):
        self.killed_at = now()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()




def spans(procs):
    """(partition, process, start, end of its right) from the journals; a killed process's
    right ran at least until its kill + lease - one keepalive period - a margin."""
    out = []
    for pr in procs:
        open_ = {}
        for r in pr.records():
            for p in r.get("partitions", []):
                if r["event"] == "assigned":
                    open_[p] = r["t"]
                elif r["event"] == "revoked" and p in open_:
                    out.append((p, pr.name, open_.pop(p), r.get("expired_at") or r["t"]))
        end = float("inf") if pr.killed_at is None else pr.killed_at + TTL * 0.95 - TTL / 3 - 0.1
        out += [(p, pr.name, t, end) for p, t in open_.items()]
    return out


def overlaps(procs):
    s = spans(procs)
    return [(a, b) for a in s for b in s if a[0] == b[0] and a[1] < b[1] and a[2] < b[3] and b[2] < a[3]]


def all_owned(procs, live):
    held = [p for pr in live for p in pr.held()]
    return sorted(held) == list(range(8))


@pytest.mark.long  # (about 10 s for both: .ci/run runs it with the long tests)
@pytest.mark.parametrize("fault", ["kill", "sigstop"])
def test_a_member_that_dies_or_freezes_loses_its_partitions_only_after_its_right(engine, tmp_path, fault):
    procs = [Proc(engine, f"m{i}", tmp_path, i) for i in range(3)]
    try:
        wait_for(lambda: all_owned(procs, procs), 20, "every partition owned once")
        victim = next(pr for pr in procs[1:] if pr.held())  # a follower with partitions
        theirs = set(victim.held())
        rest = [pr for pr in procs if pr is not victim]
        t0 = time.monotonic()
        if fault == "kill":
            victim.kill()
        else:
            os.kill(victim.proc.pid, signal.SIGSTOP)
        wait_for(lambda: theirs <= {p for pr in rest for p in pr.held()}, 10, "its partitions moved")
        moved_after = time.monotonic() - t0
        assert moved_after >= TTL * 0.95 - TTL / 3 - 0.1, moved_after  # not before the engine ended its lease
        if fault == "sigstop":
            os.kill(victim.proc.pid, signal.SIGCONT)
            # on waking it gives up what it held, dated when its right ended
            wait_for(lambda: not (set(victim.held()) & theirs), 10, "the frozen member let go when it woke")
            late = [r for r in victim.records() if r["event"] == "revoked" and r.get("reason") == "lease_expired"]
            assert late and all(r["expired_at"] < r["t"] for r in late)
        wait_for(lambda: all_owned(procs, rest if fault == "kill" else procs), 15, "every partition owned again")
        assert not overlaps(procs), overlaps(procs)
    finally:
        for pr in procs:
            if pr.proc.poll() is None:
                pr.stop()
