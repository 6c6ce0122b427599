"""Each example in examples/ run as a user would (a subprocess), its effects checked.

The scheduler and the cache are checked from what they leave behind (the SQLite file,
a JSON dump), not only from what they print.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import ringfast

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name, *args, timeout=300):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def processes_mentioning(text):
    """Pids of live processes whose command line contains `text` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


# ---------------------------------------------------------------------------- scheduler


@pytest.mark.parametrize("mode", ["kill", pytest.param("stop", marks=pytest.mark.long),
                                  pytest.param("pause", marks=pytest.mark.long)])
def test_scheduler_runs_each_job_once_per_tick_across_failover(tmp_path, mode):
    db_path = tmp_path / "runs.db"
    out = run_example("scheduler.py", "--workers", 4, "--jobs", 40, "--partitions", 12, "--ticks", 36,
                      "--tick", 0.25, "--failover", 12, "--failover-mode", mode, "--db", db_path)
    assert "scheduler: OK" in out
    assert processes_mentioning(str(db_path)) == [], "a worker outlived the example"

    db = sqlite3.connect(db_path)
    meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    cfg, failover = meta["config"], meta["failover"]
    runs = db.execute("SELECT job, tick, partition, worker, token, at FROM runs ORDER BY rowid").fetchall()

    # Exactly once: every job in every tick (late runs catch up), never twice.
    counts = Counter((job, tick) for job, tick, *_ in runs)
    assert [k for k, c in counts.items() if c > 1] == []
    assert set(counts) == {(f"job-{n}", t) for n in range(cfg["jobs"]) for t in range(cfg["ticks"])}
    for job, tick, p, *_ in runs:
        assert p == ringfast.partition(job, cfg["partitions"])

    # Fencing: in commit order, the tokens that wrote a partition never go down.
    by_partition = {}
    for _, _, p, _, token, _ in runs:
        by_partition.setdefault(p, []).append(token)
    for p, tokens in by_partition.items():
        assert tokens == sorted(tokens), f"partition {p}: a lower token wrote after a higher one"

    victim, failed_at = failover["worker"], failover["at"]
    lease, hb = cfg["lease_ms"] / 1000, cfg["heartbeat_ms"] / 1000
    margin = max(0.02, 0.05 * lease)
    refused = db.execute("SELECT partition, worker, token FROM refused").fetchall()
    for p in failover["partitions"]:
        mine = [i for i, r in enumerate(runs) if r[2] == p and r[3] == victim]
        others = [i for i, r in enumerate(runs) if r[2] == p and r[3] != victim and r[5] > failed_at]
        assert others, f"nobody took partition {p} over"
        if mode == "kill":
            assert all(runs[i][5] <= failed_at for i in mine), f"{victim} ran partition {p} after it died"
        if mode == "stop":
            # It keeps its partitions until stop() has handed them off: no run of it after that.
            assert all(i < others[0] for i in mine), f"{victim} ran partition {p} after its successor"
        takeover = runs[others[0]][5] - failed_at
        if mode == "stop":
            # A graceful leave hands off at once: the next tick (half a tick later) runs on time.
            assert takeover < 1.0, takeover
        else:
            # A crash or a freeze: the partition moves only once the lease has surely run out,
            # i.e. at last heartbeat + lease + margin; the last heartbeat went out at most one
            # interval before the failure (plus scheduling delay on a loaded machine).
            assert lease + margin - hb - 0.2 <= takeover <= lease + margin + 2.0, takeover
    if mode == "pause":
        # Woken up, the frozen worker still believed it held its partitions: its writes were
        # refused, because a newer token had written meanwhile.
        stale = [(p, t) for p, w, t in refused if w == victim]
        assert stale, out
        for p, t in stale:
            assert p in failover["partitions"] and t < max(by_partition[p])
    else:
        assert refused == []


# ---------------------------------------------------------------------------- cache


def test_cache_keeps_every_entry_once_across_join_and_leave(tmp_path):
    dump_path = tmp_path / "cache.json"
    out = run_example("cache.py", "--nodes", 3, "--entries", 300, "--partitions", 16,
                      "--handoff-dir", tmp_path / "handoff", "--dump", dump_path)
    assert "cache: OK" in out
    dump = json.loads(dump_path.read_text())
    owners_by_phase = {}
    for phase in ("fill", "join", "leave"):
        held, acked = dump[phase], dump[phase + "_acked"]
        owner_of_partition = {}
        where = {}
        for node, partitions in held.items():
            for p, entries in partitions.items():
                assert p not in owner_of_partition, f"{phase}: partition {p} on two nodes"
                owner_of_partition[p] = node
                for key, value in entries.items():
                    assert ringfast.partition(key, 16) == int(p), f"{phase}: {key} in the wrong partition"
                    where.setdefault(key, []).append((node, value))
        assert sorted(map(int, owner_of_partition)) == list(range(16)), phase
        assert len(acked) == 300
        for key, value in acked.items():
            assert len(where.get(key, [])) == 1, f"{phase}: {key} held by {where.get(key)}"
            assert where[key][0][1] == value, f"{phase}: {key} lost an acknowledged update"
        owners_by_phase[phase] = owner_of_partition
    # The join gave the new node a share; the leave took the leaving node's share away.
    assert "n3" not in owners_by_phase["fill"].values() and "n3" in owners_by_phase["join"].values()
    left = re.search(r"cache: (n\d) left", out).group(1)
    assert left in owners_by_phase["join"].values() and left not in dump["leave"]
    # The writer really raced the handoffs: some values changed in each phase.
    assert dump["fill_acked"] != dump["join_acked"] != dump["leave_acked"]


# ---------------------------------------------------------------------------- gevent / threads


def test_threaded_app_keeps_its_ring_with_a_busy_main_thread():
    out = run_example("threaded_app.py", "--nodes", 3, "--seconds", 3)
    assert "threaded_app: OK" in out
    assert re.search(r"main thread busy for 3 s \(\d+ spins\); leader and leases kept: True", out), out
    assert "every node agrees: True" in out
    assert "on the main thread: 0" in out
    m = re.search(r"stopped (t\d); its partitions (\[.*?\]) now held by (.*)", out)
    assert m and m.group(2) != "[]", out


def test_gevent_app_runs_in_the_applications_hub():
    out = run_example("gevent_app.py", "--nodes", 3, "--seconds", 2)
    assert "gevent_app: OK" in out
    assert "node modes: ['gevent']" in out
    assert re.search(r"/status of g0 says leader g\d, 3 members", out), out
    assert re.search(r"stopped leader (g\d); new leader (g\d), epoch grew: True", out), out
    assert "all ran as greenlets: True" in out
    m = re.search(r"application greenlet ran (\d+) times", out)
    assert m and int(m.group(1)) > 20, out


# ---------------------------------------------------------------------------- asyncio


def test_asyncio_worker_runs_each_partition_on_one_worker_through_join_and_leave():
    from support import free_ports

    out = run_example("asyncio_worker.py", "--workers", 3, "--keys", 120, "--partitions", 12, "--seconds", 0.5,
                      "--ports", ",".join(map(str, free_ports(4))))
    assert "asyncio_worker: OK" in out
    shares = dict(re.findall(r"asyncio_worker: (start|join|leave): partitions per worker (\{.*?\}); keys visited 120/120", out))
    assert list(shares) == ["start", "join", "leave"], out
    assert shares["start"] == "{'w0': 4, 'w1': 4, 'w2': 4}"
    assert shares["join"] == "{'w0': 3, 'w1': 3, 'w2': 3, 'w3': 3}"  # the newcomer got its share
    left = re.search(r"asyncio_worker: (w\d) left", out).group(1)
    assert left not in shares["leave"] and sorted(map(int, re.findall(r": (\d+)", shares["leave"]))) == [4, 4, 4]
    assert "two workers on one partition: []; writes refused: 0" in out
