"""benchmarks/failover.py and benchmarks/perf_report.py, their own logic: ring-election's
settings and how its /status is judged, medians with trials that did not converge, the
targets' verdicts, the Markdown, the README's marker block, and the Node.js launcher (with
a stand-in package: no npm needed). The real run is tests/cluster/test_bench_failover_run.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import failover  # noqa: E402
import perf_report  # noqa: E402

# ---------------------------------------------------------------------- ring-election's settings


def test_default_profile_is_ring_elections_own_defaults_and_both_spellings_are_set():
    env = failover.ring_election_env(3001, 9001, ["127.0.0.1:3000", "127.0.0.1:3001"], 10, 1000, 3000)
    assert env["PORT"] == "3001" and env["MONITORING_PORT"] == "9001"
    assert env["SEED_NODES"] == "127.0.0.1:3000,127.0.0.1:3001"
    assert env["NUM_PARTITIONS"] == "10"
    # the README's names and what 0.0.11's code reads
    assert env["HEART_BEAT_FREQUENCY"] == env["HEARTH_BEAT_FREQUENCY"] == "1000"
    assert env["HEART_BEAT_CHECK_FREQUENCY"] == env["HEARTH_BEAT_CHECK_FREQUENCY"] == "3000"
    assert env["MAX_INACTIVE_TIME"] == "3000"  # the failure timeout is the check
    assert env["TIME_TO_RECONNECT"] == "3000" and env["TIME_TO_BECOME_SEED"] == "1000"  # its defaults


def test_fast_profile_scales_every_timing():
    env = failover.ring_election_env(1, 2, ["h:1"], 10, *failover.PROFILES["fast"])
    assert (env["HEARTH_BEAT_FREQUENCY"], env["MAX_INACTIVE_TIME"], env["TIME_TO_RECONNECT"],
            env["TIME_TO_BECOME_SEED"]) == ("100", "500", "500", "100")


# ---------------------------------------------------------------------- judging ring-election


def _leader_status(own_port, members):
    return [{"partitions": parts, "hostname": "h", "port": own_port, "id": f"x{i}", "priority": i + 1}
            for i, parts in enumerate(members)] + [{"partitions": [], "hostname": "h", "port": str(own_port)}]


def _follower_status(leader_port, members):
    return [{"partitions": parts, "id": f"x{i}"} for i, parts in enumerate(members)] + [
        {"partitions": [], "hostname": "127.0.0.1", "port": str(leader_port)}]


def _settled_cluster():
    members = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    obs = {"n1": (3000, _leader_status(3000, members), None)}
    for name, port, parts in (("n2", 3001, members[0]), ("n3", 3002, members[1]), ("n4", 3003, members[2])):
        obs[name] = (port, _follower_status(3000, members), list(reversed(parts)))
    return obs


def test_ring_election_settled():
    ok, leader, reason = failover.ring_election_verdict(_settled_cluster(), 10)
    assert ok and leader == "n1", reason


def test_ring_election_two_leaders_is_not_settled():
    obs = _settled_cluster()
    obs["n4"] = (3003, _leader_status(3003, []), None)  # ran out of seeds: leads alone
    ok, _, reason = failover.ring_election_verdict(obs, 10)
    assert not ok and "leaders differ" in reason


def test_ring_election_dead_leader_or_no_status_is_not_settled():
    obs = _settled_cluster()
    del obs["n1"]  # followers still name it
    assert not failover.ring_election_verdict(obs, 10)[0]
    obs = _settled_cluster()
    obs["n3"] = (3002, None, [4, 5, 6])  # /status answered 500 (not connected yet)
    ok, _, reason = failover.ring_election_verdict(obs, 10)
    assert not ok and "no /status from n3" in reason


def test_ring_election_lost_or_doubled_partitions_are_not_settled():
    obs = _settled_cluster()
    port, status, _ = obs["n4"]
    obs["n4"] = (port, status, [7, 8])  # 9 owned by nobody (and the leader's view differs)
    assert not failover.ring_election_verdict(obs, 10)[0]
    members = [[0, 1, 2, 3], [3, 4, 5, 6], [7, 8, 9]]
    obs = {"n1": (3000, _leader_status(3000, members), None),
           "n2": (3001, _follower_status(3000, members), members[0]),
           "n3": (3002, _follower_status(3000, members), members[1]),
           "n4": (3003, _follower_status(3000, members), members[2])}
    ok, _, reason = failover.ring_election_verdict(obs, 10)
    assert not ok and "each of range(10) once" in reason


def test_ring_election_null_in_a_list_is_no_partition_and_a_missing_member_counts():
    members = [[0, 1, 2, 3, 4, None], [5, 6, 7, 8, 9]]
    obs = {"n1": (3000, _leader_status(3000, members), None),
           "n2": (3001, _follower_status(3000, members), members[0]),
           "n3": (3002, _follower_status(3000, members), members[1])}
    assert failover.ring_election_verdict(obs, 10)[0]
    obs["n1"] = (3000, _leader_status(3000, members + [[]]), None)  # still lists a dead follower
    ok, _, reason = failover.ring_election_verdict(obs, 10)
    assert not ok and "3 members, 2 followers" in reason


# ---------------------------------------------------------------------- medians and targets


def test_median_counts_a_trial_that_did_not_converge_as_infinitely_slow():
    assert failover.median_or_none([1.0, None, 3.0]) == 3.0
    assert failover.median_or_none([1.0, None, None]) is None
    assert failover.median_or_none([]) is None
    s = failover.summarize([failover.Trial(start=1.0, boot=0.5, leader_kill=0.2, follower_kill=3.1),
                            failover.Trial(start=2.0, boot=1.5, leader_kill=None),
                            failover.Trial(start=3.0, boot=1.0, leader_kill=0.4, follower_kill=3.3)])
    assert s["runs"] == 3 and s["start"] == 2.0 and s["leader_kill"] == 0.4 and s["leader_kill_converged"] == 2
    assert s["follower_kill"] == 3.3 and s["follower_kill_converged"] == 2  # 3.1, never, 3.3
    assert s["after_boot"] == 0.5


def _summary(start, leader, follower, runs=5):
    return {"runs": runs, "start": start, "leader_kill": leader, "follower_kill": follower, "boot": 0.5,
            "after_boot": None if start is None else start - 0.5,
            "start_converged": runs, "leader_kill_converged": runs, "follower_kill_converged": runs,
            "boot_converged": runs}


RESULTS = {
    "default": {"ringfast-state": _summary(0.9, 0.31, 3.2), "ringfast": _summary(3.0, 0.2, 3.31),
                "ring-election": _summary(None, 3.0, 4.0)},
    "fast": {"ringfast-state": _summary(1.1, 0.15, 0.8), "ringfast": _summary(0.6, None, 0.5)},
}


def test_targets_pass_and_miss_at_their_limits():
    got = {(t["profile"], t["system"], t["what"].split(" ")[0] + " " + t["what"].split(" ")[1]): t
           for t in failover.targets(RESULTS)}
    v = {k: t["verdict"] for k, t in got.items()}
    assert v[("default", "ringfast-state", "leader kill")] == "MISS"  # 0.31 > 0.3
    assert v[("default", "ringfast-state", "cold start")] == "PASS"  # 0.9 <= 1.0
    assert v[("default", "ringfast-state", "follower kill")] == "PASS"  # 3.2 <= 3.3
    assert v[("default", "ringfast", "leader kill")] == "PASS"
    assert v[("default", "ringfast", "cold start")] == "PASS"  # 3.0 <= one failure timeout
    assert v[("default", "ringfast", "follower kill")] == "MISS"  # 3.31 > 3.3
    assert v[("fast", "ringfast-state", "leader kill")] == "PASS"  # 0.15 <= 0.15
    assert v[("fast", "ringfast-state", "cold start")] == "MISS"  # 1.1 > 1.0
    assert v[("fast", "ringfast", "leader kill")] == "MISS"  # did not converge
    assert v[("fast", "ringfast", "cold start")] == "MISS"  # 0.6 > 0.5
    assert got[("fast", "ringfast", "follower kill")]["limit"] == pytest.approx(0.8)
    assert not any(t["system"] == "ring-election" for t in got.values())
    assert len(got) == 12


def _report():
    return {"nodes": 5, "results": RESULTS, "targets": failover.targets(RESULTS), "ring_election": "0.0.11",
            "machine": {"cpu": "Some CPU", "cores": 2, "python": "3.11.7", "node": "v20.0.0",
                        "ringfast": "0.1.0 (core: cython)", "date": "2030-01-01 00:00 UTC"},
            "command": "python benchmarks/failover.py --runs 5", "leader_kill_after": "0"}


def test_markdown_tables_side_by_side_with_ratios():
    md = failover.markdown_tables(_report())
    lines = md.splitlines()
    header = next(x for x in lines if x.startswith("| event |"))
    assert header.split(" | ")[1:4] == ["ringfast, state dir", "ringfast, no state dir", "ring-election"]
    assert "ringfast, state dir / ring-election" in header
    leader_default = next(x for x in lines if x.startswith("| leader kill"))
    # 0.31 / 3.0 and 0.2 / 3.0
    assert leader_default.rstrip(" |").endswith("0.10 | 0.07")
    start_default = next(x for x in lines if x.startswith("| cold start"))
    assert "did not converge" in start_default and start_default.rstrip(" |").endswith("n/a | n/a")
    fast_table = md.split("**fast profile**")[1]
    assert "not run" in fast_table  # no ring-election in the fast profile here
    assert "| default | ringfast, state dir | cold start with a state dir | 0.900 s (0.400 s after boot) |" in md
    assert md.count("| MISS |") == 5 and md.count("| PASS |") == 7
    line = failover.machine_line(_report()["machine"], "0.0.11")
    assert line == ("Measured on Some CPU, 2 cores, Python 3.11.7, Node.js v20.0.0, ringfast 0.1.0 (core: cython), "
                    "ring-election 0.0.11, 2030-01-01 00:00 UTC.")


def test_machine_reads_the_cpu_model_and_cores():
    m = failover.machine()
    assert m["cores"] == os.cpu_count() and m["cpu"] and m["python"] and m["date"].endswith("UTC")


def test_bad_arguments_exit_2():
    for argv in (["--timings", "slow"], ["--systems", "zookeeper"], ["--runs", "0"], ["--leader-kill-after", "x"],
                 ["--nodes", "4"]):
        with pytest.raises(SystemExit) as e:
            failover.parse_args(argv)
        assert e.value.code == 2
    assert failover.kill_after("lease", 3000) == 3.0 and failover.kill_after("0.5", 3000) == 0.5


# ---------------------------------------------------------------------- perf_report: page and README block


def _perf():
    return {"command": "python benchmarks/perf_report.py --runs 5",
            "failover": _report(),
            "kill-later": {"results": {"default": {"ringfast-state": _summary(0.9, 0.18, 3.1)}}},
            "cpu": {"followers": 200, "seconds": 10, "cpu_percent": 5.4, "rss_mib": 60},
            "scale": {"error": "SystemExit: scale: timed out waiting for the ring to settle"},
            "assign": {"partitions": 100_000, "members": 1000, "repeat": 7, "core": "cython",
                       "scratch": 0.0031, "leave": 0.0009, "join": 0.0012}}


def test_readme_block_replaces_only_between_the_markers():
    text = "# x\n\nbefore\n\n<!-- perf:start -->\nold table\n<!-- perf:end -->\n\nafter\n"
    block = perf_report.readme_block(_perf())
    out = perf_report.replace_block(text, block)
    assert out.startswith("# x\n\nbefore\n\n<!-- perf:start -->") and out.endswith("<!-- perf:end -->\n\nafter\n")
    assert "old table" not in out
    assert perf_report.replace_block(out, block) == out  # idempotent
    assert "| leader kill -9 -> every partition owned again (1000/3000 ms) | 0.310 s | 0.200 s | 3.000 s |" in out
    assert "5.4% of a core" in out and "3.10 ms from scratch" in out
    assert "[docs/performance.md](docs/performance.md)" in out
    for bad in ("no markers", "<!-- perf:end --> <!-- perf:start -->",
                "<!-- perf:start --><!-- perf:end --><!-- perf:start --><!-- perf:end -->"):
        with pytest.raises(ValueError):
            perf_report.replace_block(bad, block)


def test_the_real_readme_has_one_block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    perf_report.replace_block(text, perf_report.readme_block(_perf()))


def test_page_is_generated_plain_markdown_and_says_how_to_regenerate():
    page = perf_report.page(_perf())
    assert page.startswith("# Performance\n")
    assert "generated" in page.split("##")[0] and "`python benchmarks/perf_report.py --runs 5`" in page
    assert "```" not in page  # nothing for tests/docs to run
    assert "Measured on Some CPU, 2 cores" in page
    assert "| default | 0.310 s | 0.180 s |" in page  # the leader killed at once / later
    assert "**5.4% of one core**" in page
    assert "Memory per node: not measured: SystemExit: scale: timed out" in page
    assert "| after one member leaves | 0.90 ms |" in page


def test_write_updates_both_files(tmp_path):
    docs, readme = tmp_path / "performance.md", tmp_path / "README.md"
    readme.write_text("a\n<!-- perf:start -->\n<!-- perf:end -->\nb\n")
    perf_report.write(_perf(), str(docs), str(readme))
    assert docs.read_text().startswith("# Performance")
    assert readme.read_text().startswith("a\n<!-- perf:start -->\n<!-- generated by benchmarks/perf_report.py")


def test_committed_page_is_in_the_nav_and_says_it_is_generated():
    assert "performance.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "generated by benchmarks/perf_report.py" in text and "```" not in text


def test_regenerating_command_leaves_out_where_a_copy_was_kept():
    assert perf_report.regenerating("python benchmarks/perf_report.py --runs 5 --json /tmp/r.json ") == \
        "python benchmarks/perf_report.py --runs 5"
    assert perf_report.regenerating("python benchmarks/perf_report.py --json=/tmp/r.json --runs 5") == \
        "python benchmarks/perf_report.py --runs 5"


# ---------------------------------------------------------------------- the Node.js launcher


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_launcher_starts_a_follower_with_monitoring_from_a_given_package(tmp_path):
    pkg = tmp_path / "node_modules" / "ring-election"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "ring-election", "version": "0.0.0", "main": "index.js"}')
    (pkg / "index.js").write_text(
        "module.exports = {follower: {\n"
        "  createClient: () => console.log(JSON.stringify({called: 'createClient', seeds: process.env.SEED_NODES})),\n"
        "  startMonitoring: () => console.log(JSON.stringify({called: 'startMonitoring',"
        " port: process.env.MONITORING_PORT})),\n"
        "}};\n")
    env = {**os.environ, **failover.ring_election_env(3001, 9001, ["127.0.0.1:3000"], 10, 1000, 3000),
           "RING_ELECTION_DIR": str(tmp_path)}
    out = subprocess.run(["node", failover.LAUNCHER], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines[0] == {"called": "createClient", "seeds": "127.0.0.1:3000"}
    assert lines[1] == {"called": "startMonitoring", "port": "9001"}
    assert lines[2]["event"] == "started" and lines[2]["port"] == "3001"
    assert lines[-1]["event"] == "exit"

    env.pop("RING_ELECTION_DIR")
    out = subprocess.run(["node", failover.LAUNCHER], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "RING_ELECTION_DIR" in out.stderr
