"""The cluster harness itself: its checkers on synthetic samples (they must catch a real
overlap and must not flag a legal handoff), wait_for, free_ports, and the process mechanics
(start, kill, pause, stop, restart, add, close, log tails) driven through the same Popen path
against a stand-in node (tests/cluster/standin_node.py, stdlib only). No ringfast node needed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convergence import settled
from leadership import LeadershipMonitor
from nodes import tail
from ownership import OwnershipMonitor, parse_partitions_answer
from support import free_ports, wait_for

STANDIN = [sys.executable, str(Path(__file__).with_name("standin_node.py"))]
DEADLINE = 20.0


def kinds(violations):
    return sorted(v.kind for v in violations)


def offline(n=10):
    return OwnershipMonitor(None, num_partitions=n)


# ---------------------------------------------------------------------------------------------
# OwnershipMonitor.violations() on synthetic samples


def test_legal_handoff_is_not_flagged():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("A", 2.0, 3.0, {3: 100})
    m.add_sample("A", 4.0, 5.0, {})  # revoked
    m.add_sample("B", 3.5, 4.5, {})
    m.add_sample("B", 6.0, 7.0, {3: 200})  # assigned after
    m.add_sample("B", 8.0, 9.0, {3: 200})
    assert m.violations() == []
    m.assert_no_double_ownership()
    assert m.tokens_only_grow()


def test_handoff_racing_the_polls_is_not_flagged():
    # B's answer arrives while A's last "held" answer is still in flight: the two answers'
    # windows overlap, yet nothing proves an instant where both held the partition.
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("A", 2.0, 3.0, {3: 100})  # A's state read somewhere in [2, 3]
    m.add_sample("B", 2.5, 3.5, {3: 200})  # B's somewhere in [2.5, 3.5]
    m.add_sample("A", 4.0, 5.0, {})
    m.add_sample("B", 4.0, 5.0, {3: 200})
    assert m.violations() == []


def test_overlap_inside_a_continuous_hold_is_flagged():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("B", 2.0, 3.0, {3: 200})  # B holds 3 while ...
    m.add_sample("A", 4.0, 5.0, {3: 100})  # ... A held it throughout [1, 4] (same token)
    found = m.violations()
    assert kinds(found) == ["double-ownership"]
    assert "partition 3" in str(found[0]) and "A#1" in str(found[0]) and "B#1" in str(found[0])
    with pytest.raises(AssertionError, match="double-ownership"):
        m.assert_no_double_ownership()


def test_overlap_needs_both_boundaries():
    # b was sent before A's first answer came back: A may have got p only after B's read.
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("B", 0.5, 1.5, {3: 200})
    m.add_sample("A", 4.0, 5.0, {3: 100})
    assert m.violations() == []
    # ... and symmetric at the end
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("B", 3.5, 4.5, {3: 200})
    m.add_sample("A", 4.0, 5.0, {3: 100})
    assert m.violations() == []


def test_a_new_token_in_between_breaks_the_proof():
    # A's token changed: it may have lost p and got it back, so no continuous hold is proven.
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("B", 2.0, 3.0, {3: 150})
    m.add_sample("A", 4.0, 5.0, {3: 200})
    assert m.violations() == []


def test_a_sample_without_the_partition_breaks_the_run():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {3: 100})
    m.add_sample("A", 1.5, 1.9, {})
    m.add_sample("B", 2.0, 3.0, {3: 150})
    m.add_sample("A", 4.0, 5.0, {3: 100})
    # Not proof of overlap, but A got p back with a token it already had: contract broken.
    assert kinds(m.violations()) == ["token-reuse"]


def test_two_certain_holds_that_overlap_are_flagged():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {7: 100})
    m.add_sample("A", 5.0, 6.0, {7: 100})  # A certainly held 7 during [1, 5]
    m.add_sample("B", 0.4, 4.5, {7: 200})  # a slow answer: no single-sample proof ...
    m.add_sample("B", 4.6, 7.0, {7: 200})  # ... but B certainly held 7 during [4.5, 4.6]
    assert kinds(m.violations()) == ["double-ownership"]


def test_same_node_different_process_is_compared_too():
    # The old process (incarnation 1) still holding while the restarted one holds.
    m = offline()
    m.add_sample("A", 0.0, 1.0, {2: 100}, incarnation=1)
    m.add_sample("A", 2.0, 3.0, {2: 300}, incarnation=2)
    m.add_sample("A", 4.0, 5.0, {2: 100}, incarnation=1)
    assert kinds(m.violations()) == ["double-ownership"]


def test_out_of_range_and_malformed_answers_are_flagged():
    m = offline(n=4)
    m.add_sample("A", 0.0, 1.0, {4: 1})
    m.add_sample("A", 2.0, 3.0, {-1: 1})
    m.add_sample("A", 4.0, 5.0, [1], tokens={})  # no token
    assert kinds(m.violations()) == ["malformed", "out-of-range", "out-of-range"]
    parts, tokens, epoch, problems = parse_partitions_answer({"partitions": [1, 1], "tokens": {"1": 5}, "epoch": 3})
    assert parts == (1, 1) and tokens == {1: 5} and epoch == 3 and problems
    assert parse_partitions_answer("nope")[3]


def test_many_samples_are_checked_quickly():
    m = offline(n=100)
    t = 0.0
    for i in range(3000):
        for node, base in (("A", 0), ("B", 50)):
            m.add_sample(node, t, t + 0.01, {p: 1 for p in range(base, base + 50)})
            t += 0.02
    start = time.monotonic()
    assert m.violations() == [] and m.tokens_only_grow()
    assert time.monotonic() - start < 10


# ---------------------------------------------------------------------------------------------
# token_regressions()


def test_token_going_back_is_flagged():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {5: 10})
    m.add_sample("B", 2.0, 3.0, {5: 9})
    assert kinds(m.token_regressions()) == ["token-regression"]
    assert not m.tokens_only_grow()
    with pytest.raises(AssertionError, match="went backwards"):
        m.assert_tokens_only_grow()


def test_token_compared_only_with_answers_received_before_sending():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {5: 10})
    m.add_sample("B", 0.5, 3.0, {5: 9})  # sent before A's answer arrived: order unknown
    assert m.token_regressions() == []
    m.add_sample("C", 1.0, 2.0, {5: 9})  # received == sent boundary: not strictly before
    assert m.token_regressions() == []


def test_other_partitions_do_not_interfere():
    m = offline()
    m.add_sample("A", 0.0, 1.0, {5: 10})
    m.add_sample("B", 2.0, 3.0, {6: 9})
    assert m.token_regressions() == []


# ---------------------------------------------------------------------------------------------
# LeadershipMonitor


def test_one_leader_per_epoch():
    m = LeadershipMonitor(None)
    m.add_sample("n1", 0, 1, 5, "leader", "n1")
    m.add_sample("n2", 0, 1, 5, "follower", "n1")
    m.add_sample("n2", 2, 3, 6, "leader", "n2")
    m.add_sample("n3", 2, 3, 6, "candidate", None)
    assert m.violations() == []
    m.assert_one_leader_per_epoch()


def test_two_leaders_in_one_epoch_are_flagged():
    m = LeadershipMonitor(None)
    m.add_sample("n1", 0, 1, 5, "leader", "n1")
    m.add_sample("n2", 0, 1, 5, "leader", "n2")
    assert kinds(m.violations()) == ["conflicting-leaders", "two-leaders"]
    with pytest.raises(AssertionError, match="two-leaders"):
        m.assert_one_leader_per_epoch()


def test_epoch_regression_and_inconsistent_claims_are_flagged():
    m = LeadershipMonitor(None)
    m.add_sample("n1", 0, 1, 6, "follower", "n2")
    m.add_sample("n1", 2, 3, 5, "leader", "n2")
    assert kinds(m.violations()) == ["epoch-regression", "inconsistent"]
    m = LeadershipMonitor(None)
    m.add_sample("n1", 0, 1, 6, "follower", "n2", incarnation=1)
    m.add_sample("n1", 2, 3, 5, "follower", "n2", incarnation=2)  # a new process may start lower
    assert m.violations() == []


# ---------------------------------------------------------------------------------------------
# wait_for, free_ports, tail


def test_wait_for_returns_the_truthy_value():
    calls = []

    def pred():
        calls.append(1)
        return len(calls) >= 3 and {"ok": len(calls)}

    assert wait_for(pred, 5, interval=0.001) == {"ok": 3}


def test_wait_for_times_out_naming_what_it_awaited_and_the_last_value():
    start = time.monotonic()
    with pytest.raises(AssertionError) as err:
        wait_for(lambda: [], 0.2, "never happens", interval=0.01)
    assert time.monotonic() - start < 2
    assert "waiting for never happens" in str(err.value) and "last value: []" in str(err.value)
    with pytest.raises(AssertionError, match="computed late"):
        wait_for(lambda: 0, 0.05, what=lambda: "computed late")


def test_wait_for_lets_exceptions_through_unless_told_to_retry_them():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")
        return "up"

    with pytest.raises(ConnectionRefusedError):  # a bug, or a deliberate fast failure
        wait_for(flaky, 5, interval=0.001)
    assert len(calls) == 1
    assert wait_for(flaky, 5, interval=0.001, retry_on=(OSError,)) == "up"
    with pytest.raises(AssertionError, match=r"last value: ConnectionRefusedError\('never'\)"):
        wait_for(lambda: (_ for _ in ()).throw(ConnectionRefusedError("never")), 0.05, retry_on=(OSError,))


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(20)
    assert len(set(ports)) == 20
    socks = []
    try:
        for p in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            socks.append(s)
    finally:
        for s in socks:
            s.close()


def test_tail(tmp_path):
    f = tmp_path / "x.log"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(f, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""


# ---------------------------------------------------------------------------------------------
# process mechanics against the stand-in node


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_standin_cluster_lifecycle(cluster_factory):
    c = cluster_factory(n=3, partitions=10, command=STANDIN)
    own = OwnershipMonitor(c).start()
    lead = LeadershipMonitor(c).start()
    assert c.start() == ["n1", "n2", "n3"]
    s = wait_for(lambda: settled(c, 3), DEADLINE, what="3 stand-ins to settle")
    assert s.leader == "n1" and c.leader() == "n1"
    assert s.owned["n1"] == [] and sorted(len(v) for v in s.owned.values()) == [0, 5, 5]
    assert c.status("n2")["node"]["address"] == c.nodes["n2"].address
    assert "--id n1" in c.log_path("n1").read_text()  # harness header line

    # kill -9 the leader
    epoch = s.epoch
    c.kill("n1")
    assert c.live() == ["n2", "n3"] and not c.running("n1") and c.status("n1") is None
    s = wait_for(lambda: settled(c, ["n2", "n3"]), DEADLINE, what="a settled ring after the leader kill")
    assert s.leader == "n2" and s.epoch > epoch and s.owned["n3"] == list(range(10))

    # pause/resume: a paused node is not live, but still a member for the stand-in
    c.pause("n3")
    assert c.live() == ["n2"] and c.running("n3")
    assert c.status("n3", timeout=0.3) is None
    c.resume("n3")
    wait_for(lambda: settled(c, 2), DEADLINE)

    # restart with the same id and ports, add a node
    c.restart("n1")
    s = wait_for(lambda: settled(c, 3), DEADLINE, what="a settled ring after the restart")
    assert s.leader == "n1"
    new = c.add_node()
    assert new == "n4" and c.nodes["n4"].seeds == c.seeds and c.nodes["n4"].address not in c.seeds
    s = wait_for(lambda: settled(c, 4), DEADLINE, what="a settled ring after the add")
    assert sorted(len(v) for v in s.owned.values()) == [0, 3, 3, 4]

    # graceful stop
    assert c.stop("n3") < 10 and c.exit_code("n3") == 0
    wait_for(lambda: settled(c, ["n1", "n2", "n4"]), DEADLINE)

    own.stop()
    lead.stop()
    assert own.count() > 20 and lead.count() > 20
    own.assert_no_double_ownership()
    own.assert_tokens_only_grow()
    lead.assert_one_leader_per_epoch()
    assert len(c.nodes["n1"].procs) == 2

    pids = [p.pid for node in c.nodes.values() for p in node.procs]
    c.pause("n2")
    c.close()
    c.close()  # idempotent
    assert not any(alive(p) for p in pids)
    with pytest.raises(RuntimeError):
        c.start("n1")


def test_stop_asserts_exit_code_zero(cluster_factory):
    c = cluster_factory(n=1, command=STANDIN, env={"STANDIN_EXIT_CODE": "3"})
    c.start()
    wait_for(lambda: c.status("n1"), DEADLINE)
    with pytest.raises(AssertionError, match="exited with 3"):
        c.stop("n1")


def test_stop_kills_a_node_that_ignores_sigterm(cluster_factory):
    c = cluster_factory(n=1, command=STANDIN, env={"STANDIN_IGNORE_TERM": "1"})
    c.start()
    wait_for(lambda: c.status("n1"), DEADLINE)
    with pytest.raises(AssertionError, match="did not exit"):
        c.stop("n1", timeout=0.5)
    assert not c.running("n1")


def test_node_env_is_clean(cluster_factory, monkeypatch):
    monkeypatch.setenv("NUM_PARTITIONS", "abc")  # would break the node if it leaked
    monkeypatch.setenv("RINGFAST_QUORUM", "7")
    c = cluster_factory(n=1, command=STANDIN)
    c.start()
    assert wait_for(lambda: c.status("n1"), DEADLINE)["num_partitions"] == 10


def test_a_nodes_own_args_come_last_and_win(cluster_factory):
    c = cluster_factory(n=2, command=STANDIN)
    c.nodes["n2"].args = ["--partitions", "11"]
    assert c.argv("n2")[-2:] == ["--partitions", "11"] and "11" not in c.argv("n1")
    c.start("n2")
    assert wait_for(lambda: c.status("n2"), DEADLINE)["num_partitions"] == 11


def test_failure_report_carries_node_logs(tmp_path):
    """A failing cluster test shows the last lines of each node's log (run in a child pytest
    over a copy of this directory's conftest and harness)."""
    here = Path(__file__).parent
    work = tmp_path / "inner"
    work.mkdir()
    helpers = [h for h in here.glob("*.py") if not h.name.startswith("test_")]  # conftest, harness
    for helper in helpers + [here.parent / "support.py"]:
        (work / helper.name).write_text(helper.read_text())
    (work / "test_inner.py").write_text(
        "from support import wait_for\n"
        f"STANDIN = {STANDIN!r}\n"
        "def test_fails(cluster_factory):\n"
        "    c = cluster_factory(n=2, command=STANDIN)\n"
        "    c.start()\n"
        "    wait_for(lambda: c.status('n1') and c.status('n2'), 20)\n"
        "    assert False, 'boom'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(work), str(work)],
        cwd=work, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "ringfast node logs" in out, out
    assert "standin n1: joined" in out and "standin n2: joined" in out, out


def test_a_node_that_dies_on_its_own_fails_fast(cluster_factory):
    c = cluster_factory(n=2, command=STANDIN, extra_args=("--partitions", "abc"))
    c.start()
    start = time.monotonic()
    # both nodes exit with status 2: the harness reports whichever it sees first
    with pytest.raises(AssertionError, match=r"exited without being asked.*'n[12]': 2") as err:
        wait_for(lambda: settled(c, 2), DEADLINE)
    assert time.monotonic() - start < DEADLINE / 2
    assert "invalid --partitions='abc'" in str(err.value)  # the node's log comes with it


def test_monitor_catches_a_real_overlap_through_polling(cluster_factory):
    """End to end: stand-ins that keep reporting a lost partition for 1.5 s after a join moved
    it. The monitor, polling over HTTP, must prove the double ownership."""
    c = cluster_factory(n=3, command=STANDIN, env={"STANDIN_STALE_MS": "1500"})
    own = OwnershipMonitor(c).start()
    c.start()
    wait_for(lambda: settled(c, 3), DEADLINE)  # (joins one by one may already overlap)
    c.add_node()  # n4 takes partitions from n2 and n3, which go on reporting them
    found = wait_for(
        lambda: [v for v in own.violations() if "n4#1" in str(v)],
        DEADLINE,
        what="the overlap with n4 to be detected",
    )
    assert {v.kind for v in own.violations()} == {"double-ownership"}, found
    own.stop()
    with pytest.raises(AssertionError, match="double-ownership"):
        own.assert_no_double_ownership()
