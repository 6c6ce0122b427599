"""The journal checker (journal.py) on synthetic journals: it must pass a legal handoff and
flag an overlap, a reassignment before a killed node's lease ran out, a token that does not
grow and two leaders in one epoch; gaps (G2) are measured from the holders' ends."""

from __future__ import annotations

import json

import pytest

from journal import Journals, read_lines, window_figures

LEASE = 0.5
HOLD = 0.3  # killed_hold: lease - 2 heartbeats


def assigned(t, node, tokens, epoch=5):
    return {"t": t, "node": node, "event": "assigned", "partitions": sorted(tokens), "epoch": epoch,
            "tokens": {str(p): tok for p, tok in tokens.items()}}


def revoked(t, node, tokens, reason="rebalance", epoch=5, expired_at=None):
    rec = {"t": t, "node": node, "event": "revoked", "partitions": sorted(tokens), "epoch": epoch,
           "reason": reason, "tokens": {str(p): tok for p, tok in tokens.items()}}
    if expired_at is not None:
        rec["expired_at"] = expired_at
    return rec


def role(t, node, event, epoch, leader=None):
    return {"t": t, "node": node, "event": event, "epoch": epoch, "leader": leader}


def harness(t, node, action, incarnation):
    return {"t": t, "node": node, "event": "harness", "action": action, "incarnation": incarnation}


def check(**journals):
    return Journals(journals, killed_hold=HOLD, horizon=100.0)


def kinds(violations):
    return sorted(v.kind for v in violations)


def test_legal_handoff_passes_and_gaps_are_measured():
    j = check(
        A=[harness(0.0, "A", "start", 1), assigned(1.0, "A", {3: 10, 4: 11}), revoked(2.0, "A", {3: 10})],
        B=[harness(0.0, "B", "start", 1), assigned(2.25, "B", {3: 20})],  # after A's handler returned
    )
    assert j.violations() == []
    j.assert_safe()
    assert j.owners(3) == ["A", "B"] and j.owners(4) == ["A"]
    assert j.gaps(since=1.5) == {3: [(2.0, 2.25)], 4: []}
    assert j.unowned_windows(since=1.5) == {3: pytest.approx(0.25)}
    assert window_figures({3: 0.25, 4: 0.75, 5: 0.5}) == (0.5, 0.75)


def test_overlap_is_flagged():
    j = check(
        A=[assigned(1.0, "A", {3: 10}), revoked(2.0, "A", {3: 10})],
        B=[assigned(1.9, "B", {3: 20})],  # 0.1 s before A let go
    )
    assert kinds(j.violations()) == ["overlap"]
    with pytest.raises(AssertionError, match=r"(?s)overlap.*partition 3.*holds of the partitions"):
        j.assert_safe()


def test_lease_expiry_ends_the_hold_at_expired_at():
    # A was frozen: it journals the revoke at 5.0, but its right to act ended at 2.5
    ok = check(
        A=[assigned(1.0, "A", {3: 10}), revoked(5.0, "A", {3: 10}, "lease_expired", expired_at=2.5)],
        B=[assigned(2.6, "B", {3: 20})],
    )
    assert ok.violations() == []
    assert ok.gaps(since=2.0)[3] == [(2.5, 2.6)]
    early = check(
        A=[assigned(1.0, "A", {3: 10}), revoked(5.0, "A", {3: 10}, "lease_expired", expired_at=2.5)],
        B=[assigned(2.4, "B", {3: 20})],
    )
    assert kinds(early.violations()) == ["overlap"]


def test_a_killed_node_keeps_its_claim_for_killed_hold():
    base = [harness(0.0, "A", "start", 1), assigned(1.0, "A", {3: 10}), harness(2.0, "A", "kill", 1)]
    late = check(A=base, B=[assigned(2.0 + HOLD + 0.01, "B", {3: 20})])
    assert late.violations() == []
    # the gap is measured from the kill (when A stopped acting), not from its claim's end
    assert late.unowned_windows(since=2.0) == {3: pytest.approx(HOLD + 0.01)}
    early = check(A=base, B=[assigned(2.1, "B", {3: 20})])  # the leader did not wait
    assert kinds(early.violations()) == ["overlap"]
    assert "killed" in str(early.violations()[0])


def test_incarnations_of_one_node_are_told_apart():
    # A is killed and restarted; its new process gets partition 3 after the old one's claim
    a = [
        harness(0.0, "A", "start", 1), assigned(1.0, "A", {3: 10}), harness(2.0, "A", "kill", 1),
        harness(2.1, "A", "start", 2), assigned(3.0, "A", {3: 20}),
    ]
    j = check(A=a)
    assert j.violations() == []
    assert [(h.incarnation, h.how) for h in j.by_partition()[3]] == [(1, "killed"), (2, "held")]
    # ... but not before the old one's claim ran out
    a[-1] = assigned(2.2, "A", {3: 20})
    assert kinds(check(A=a).violations()) == ["overlap"]


def test_tokens_must_grow_per_partition():
    j = check(
        A=[assigned(1.0, "A", {3: 10, 4: 10}), revoked(2.0, "A", {3: 10, 4: 10})],
        B=[assigned(3.0, "B", {3: 9, 4: 11})],
    )
    found = j.token_violations()
    assert kinds(found) == ["token-not-growing"] and "partition 3" in str(found[0])


def test_one_leader_per_epoch():
    ok = check(A=[role(1.0, "A", "leader", 5, "A"), role(2.0, "A", "follower", 6, "B")],
               B=[role(1.0, "B", "follower", 5, "A"), role(1.9, "B", "candidate", 5), role(2.0, "B", "leader", 6, "B")])
    assert ok.violations() == []
    bad = check(A=[role(1.0, "A", "leader", 5, "A")], B=[role(1.5, "B", "leader", 5, "B")])
    assert kinds(bad.violations()) == ["two-leaders"]
    regress = check(A=[role(1.0, "A", "follower", 6, "B"), role(2.0, "A", "leader", 5, "A")])
    assert kinds(regress.violations()) == ["epoch-regression"]
    # a new process may start lower
    assert check(A=[role(1.0, "A", "follower", 6, "B"), harness(1.5, "A", "start", 2),
                    role(2.0, "A", "follower", 5, "C")]).violations() == []


def test_anomalies():
    j = check(
        A=[assigned(1.0, "A", {3: 10}), revoked(2.0, "A", {4: 7}), revoked(2.5, "A", {3: 11}),
           assigned(3.0, "A", {5: 12}), harness(4.0, "A", "exit", 1)],
        B=[{"malformed": "not json"}],
    )
    assert kinds(j.violations()) == ["exited-holding", "malformed", "revoke-token", "revoke-unheld"]


def test_read_lines(tmp_path):
    f = tmp_path / "n1.journal.jsonl"
    f.write_text(json.dumps(assigned(1.0, "n1", {0: 1})) + "\n\n{broken\n" + '{"t": 2.0, "no')
    # the unfinished last line is being written: not read yet, not malformed
    assert read_lines(f) == [assigned(1.0, "n1", {0: 1}), {"malformed": "{broken"}]
    assert read_lines(tmp_path / "missing") == []


def test_never_held_and_still_unowned_partitions_are_gaps():
    j = Journals({"A": [assigned(1.0, "A", {0: 1}), revoked(2.0, "A", {0: 1})]}, killed_hold=HOLD,
                 horizon=5.0, num_partitions=2)
    assert j.gaps(since=1.5) == {0: [(2.0, 5.0)], 1: [(1.5, 5.0)]}
