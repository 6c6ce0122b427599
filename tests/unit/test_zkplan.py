"""The mapping of the engine vocabulary onto ZooKeeper (engine/zkplan.py): what each
comparison becomes, when a transaction is not sent at all, when the session fence is
checked, and when two collects are one state."""

from __future__ import annotations

import pytest

from ringfast.engine import zkplan
from ringfast.engine.zkplan import Collect, PlanError, Stale, Znode, fence_key, plan, snapshot

S = 0x1234  # our session
CACHE = {
    "epoch": Znode('{"epoch":7}', 10, 30, 4, 0),
    "table": Znode("{}", 11, 40, 9, 0),
    "leader": Znode('{"id":"a"}', 30, 30, 0, S),
    "member/a": Znode("{}", 20, 41, 3, S),
    "member/b": Znode("{}", 21, 42, 1, 0x999),
}


def test_absent_keys_become_creates_and_a_leased_put_is_fenced():
    ops = plan([("create", "leader", "==", 0), ("mod", "epoch", "==", 30)],
               [("put", "leader", "L", S), ("put", "epoch", "E", None)], CACHE, S)
    assert ops == [("check", fence_key(S), 0), ("create", "leader", "L", True), ("set", "epoch", "E", 4)]


def test_a_table_write_checks_the_leader_s_version_and_our_session():
    ops = plan([("create", "leader", "==", 30), ("mod", "table", "==", 40)], [("put", "table", "T", None)], CACHE, S)
    assert ops == [("check", fence_key(S), 0), ("check", "leader", 0), ("set", "table", "T", 9)]


def test_the_first_table_is_a_create_and_needs_no_fence_of_its_own():
    cache = {k: v for k, v in CACHE.items() if k != "table"}
    ops = plan([("create", "leader", "==", 30), ("mod", "table", "==", 0)], [("put", "table", "T", None)], cache, S)
    assert ops[-1] == ("create", "table", "T", False) and ops[0] == ("check", fence_key(S), 0)


@pytest.mark.parametrize(("compare", "success", "why"), [
    ([("mod", "table", "==", 39)], [("put", "table", "T", None)], "mod revision is not 39"),  # changed since
    ([("create", "leader", "==", 29)], [], "create revision is not 29"),  # another leader's key
    ([("mod", "config", "==", 5)], [("put", "config", "C", None)], "mod revision is not 5"),  # gone from the cache
    ([("create", "member/b", "==", 21)], [("put", "member/b", "M", 0x999)], "not ours"),  # another session's znode
    ([("create", "member/a", "==", 0)], [("put", "member/a", "M", 0x777)], "not ours now"),  # an old lease of ours
])
def test_a_comparison_that_cannot_hold_is_not_sent(compare, success, why):
    with pytest.raises(Stale, match=why):
        plan(compare, success, CACHE, S)


def test_without_a_session_nothing_that_rests_on_one_is_sent():
    with pytest.raises(Stale):
        plan([("create", "member/a", "==", 20)], [("put", "member/a", "M", S)], CACHE, None)


@pytest.mark.parametrize(("compare", "success", "why"), [
    ([("create", "table", "==", 11)], [("put", "table", "T", None)], "persistent znode"),
    ([("mod", "table", "<", 40)], [], "only create/mod =="),
    ([("version", "table", "==", 9)], [], "only create/mod =="),
    ([("create", "x", "==", 0)], [], "absence comparison without a put"),
    ([], [("put", "table", "T", None)], "without a comparison"),
    ([("mod", "table", "==", 40)], [("put", "table", "T", S)], "to or from a session"),
    ([], [("lock", "table")], "not put or delete"),
])
def test_requests_outside_the_mapping_are_refused(compare, success, why):
    with pytest.raises(PlanError, match=why):
        plan(compare, success, CACHE, S)


def test_a_delete_carries_the_version_it_was_compared_at():
    assert plan([("mod", "table", "==", 40)], [("delete", "table")], CACHE, S) == [("delete", "table", 9)]


def _collect(**changes):
    nodes = dict(CACHE)
    nodes.update(changes)
    return Collect((("", 42, 6), (zkplan.MEMBER_DIR, 42, 4)), nodes)


def test_two_equal_collects_are_the_ring_at_its_highest_zxid():
    rev, entries = snapshot(_collect(), _collect())
    assert rev == 42
    assert entries["member/a"].lease == S and entries["table"].lease is None
    assert entries["table"].mod_revision == 40 and entries["member/a"].create_revision == 20


def test_collects_that_differ_or_missed_a_child_are_no_state():
    assert snapshot(None, _collect()) is None
    assert snapshot(_collect(), _collect(table=Znode("{}", 11, 43, 10, 0))) is None
    missed = Collect(_collect().containers, _collect().nodes, complete=False)
    assert snapshot(missed, _collect()) is None and snapshot(_collect(), missed) is None
    moved = Collect((("", 42, 6), (zkplan.MEMBER_DIR, 44, 5)), dict(CACHE))  # a member came and went
    assert snapshot(_collect(), moved) is None


def test_a_deleted_member_still_raises_the_revision():
    # the member container's pzxid records the delete, so a view never goes back in revision
    gone = {k: v for k, v in CACHE.items() if k != "member/b"}
    after = Collect((("", 42, 6), (zkplan.MEMBER_DIR, 50, 5)), gone)
    rev, entries = snapshot(after, after)
    assert rev == 50 and "member/b" not in entries
