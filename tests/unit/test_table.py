"""The leader's partition table (ringfast.table): the lifecycle allows what TRANSITIONS lists
and nothing else, and check() finds a table that lost its invariants."""

import itertools

import pytest

from ringfast.table import TRANSITIONS, InvariantError, PartitionTable, Slot, token_of

EPOCH = 7


def table(until=0.0, n=4):
    return PartitionTable(n, EPOCH, until)


def in_state(state: Slot) -> PartitionTable:
    """A one-slot table brought to `state` through legal moves only."""
    t = table()
    if state is Slot.WAITING:
        t = table(until=10.0)
    elif state is Slot.FREE:
        assert t.assignable(0, 0.0, "a")
    elif state is Slot.RESERVED:
        t.assign(0, "a", 0.0)
        t.numbered(0, 1)
        t.released(0, 1.0, reserve_until=5.0)
    else:
        t.assign(0, "a", 0.0)
        t.numbered(0, 1)
        if state in (Slot.OWNED, Slot.REVOKING):
            t.confirmed(0)
        if state is Slot.REVOKING:
            t.revoke(0, 1.0, 2)
    assert t.slots[0].state is state
    t.check()
    return t


def move(t: PartitionTable, event: str) -> None:
    """Drive `event` through the public method that makes it."""
    calls = {
        "assign": lambda: (t.assign(0, "a", 0.5), t.numbered(0, 4)),
        "confirmed": lambda: t.confirmed(0),
        "revoke": lambda: t.revoke(0, 2.0, 3),
        "released": lambda: t.released(0, 2.0),
        "released_for_restart": lambda: t.released(0, 2.0, reserve_until=9.0),
        "lost": lambda: t.lost(0, 4.0),
        # made by assignable() when time has passed: see the tests of waits and graces below
        "lease_ended": lambda: t._move(0, "lease_ended"),
        "grace_ended": lambda: t._move(0, "grace_ended"),
        "ours_released": lambda: t.released_unheld(0, 2.0),
        "adopt": lambda: t.adopt(0, "b", token_of(EPOCH, 99)) or (_ for _ in ()).throw(InvariantError("refused")),
    }
    calls[event]()


EVENTS = sorted({event for _, event in TRANSITIONS})


@pytest.mark.parametrize("state,event", list(itertools.product(Slot, EVENTS)), ids=lambda x: getattr(x, "value", x))
def test_every_listed_transition_happens_and_no_other(state, event):
    t = in_state(state)
    expected = TRANSITIONS.get((state, event))
    if expected is None:
        before = t.slots[0].state
        try:
            move(t, event)
        except InvariantError:
            pass
        else:  # a few calls are queries or no-ops outside their states: they must change nothing
            assert t.slots[0].state is before, f"{event} moved {state.value} to {t.slots[0].state.value}"
    else:
        move(t, event)
        assert t.slots[0].state is expected
    t.check()


def test_a_new_leaders_table_waits_for_earlier_leases():
    t = table(until=3.0)
    assert not t.assignable(0, 2.999, "a")
    with pytest.raises(InvariantError, match="while waiting"):
        t.assign(0, "a", 2.999)
    assert t.assign(0, "a", 3.0) == token_of(EPOCH, 1)


def test_a_lost_holder_s_partition_waits_until_its_lease_surely_ended():
    t = in_state(Slot.OWNED)
    t.lost(0, until=4.0)
    assert not t.assignable(0, 3.9, "b") and t.assignable(0, 4.0, "b")


def test_a_reservation_keeps_the_partition_for_its_member_until_the_grace_ends():
    t = in_state(Slot.RESERVED)  # reserved for "a" until 5.0
    assert not t.assignable(0, 4.0, "b") and t.assignable(0, 4.0, "a")
    assert t.assignable(0, 5.0, "b") and t.slots[0].state is Slot.FREE


def test_tokens_only_grow_and_an_older_claim_is_not_adopted():
    t = in_state(Slot.OWNED)
    first = t.token(0)
    t.revoke(0, 1.0, 2)
    t.released(0, 1.5)
    assert not t.adopt(0, "b", first - 1)  # a claim older than the newest token we know
    assert t.assign(0, "b", 2.0) > first


def test_only_an_answer_to_the_revoke_in_progress_releases():
    t = in_state(Slot.OWNED)
    t.revoke(0, 1.0, mseq=5)
    t.revoke(0, 1.5, mseq=6)  # asked again: the round keeps its first number
    assert t.answers(0, "a", 5) and not t.answers(0, "a", 4) and not t.answers(0, "b", 9)


def test_asking_again_keeps_the_time_of_the_first_ask():
    # the leader's handler timeout counts from it: repeats every few heartbeats must not
    # postpone it forever (see tests/transcripts/handler_timeout.txt)
    t = in_state(Slot.OWNED)
    t.revoke(0, 1.0, mseq=5)
    t.revoke(0, 1.5, mseq=6)
    assert t.revoking("a") == {0: 1.0}


def test_check_finds_a_broken_index_and_a_holderless_held_slot():
    t = in_state(Slot.OWNED)
    t._of["a"].clear()
    with pytest.raises(InvariantError, match="not in its index"):
        t.check()
    t = in_state(Slot.OWNED)
    t.slots[0].holder = None
    with pytest.raises(InvariantError, match="owned with holder None"):
        t.check()


def test_the_per_member_views():
    t = table(n=4)
    for p in range(3):
        t.assign(p, "a", 0.0)
        t.numbered(p, 1)
    t.confirmed(1)
    t.confirmed(2)
    t.revoke(2, 1.0, 2)
    assert t.held("a") == {p: token_of(EPOCH, 1) for p in range(3)}
    assert t.kept("a") == [0, 1] and t.pending("a") == {0: 1} and t.revoking("a") == {2: 1.0}
    assert t.unowned() == 1 and t.holder(3) is None


def test_a_wait_ends_only_once_a_quorum_proved_it_followed_the_leader_after_it():
    t = table(until=3.0)
    assert not t.assignable(0, 4.0, "a", proven=2.9)  # lease over, but a newer leader may exist
    assert t.unproven(4.0, proven=2.9) and not t.unproven(2.5, proven=2.9)
    assert t.assignable(0, 4.0, "a", proven=3.0)
    assert not t.unproven(4.0, proven=3.0)


def test_unproven_names_the_latest_due_wait_so_that_one_probe_after_it_proves_them_all():
    t = table(until=3.0)
    t.slots[1].until = 3.5  # its earlier lease ends later (as a holder dropped later would)
    assert t.unproven(4.0, proven=2.9) == 3.5  # a probe sent at 3.2 would prove only slot 0
    assert t.unproven(3.2, proven=2.9) == 3.0  # slot 1 is not due yet


def test_a_table_with_no_earlier_leader_starts_free():
    t = PartitionTable(3, EPOCH, None)
    assert all(e.state is Slot.FREE for e in t.slots) and t.assignable(0, 0.0, "a", proven=float("-inf"))
