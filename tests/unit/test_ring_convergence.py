"""Converging at network speed (issue 13): what a cold start and a failover no longer wait for."""

import pytest

from ringfast.ring import LOST_JITTER, START_WAIT
from test_ring import SEEDS, Conn, make, msg


def run_election(ring, clock, fresh_votes, grants=0):
    clock.now += 0.5  # past a fresh node's start wait
    ring.tick()
    assert ring.role == "candidate"
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", 0, granted=True, pre=True, addr=addr))
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", ring.epoch, granted=True, pre=False, addr=addr, fresh=fresh_votes,
                                             grants=grants))
    assert ring.role == "leader"


def test_a_leader_elected_by_fresh_voters_only_waits_for_no_earlier_lease():
    ring, clock, io = make(0, state_dir="/nonexistent")
    ring.fresh = True  # as the node sets it: a state dir that held nothing
    ring.vote_blocked_until = ring.election_at = clock.now
    run_election(ring, clock, fresh_votes=True)
    assert all(ring.table.assignable(p, clock.now, "n2") for p in range(ring.P))


def test_a_voter_that_voted_before_makes_the_leader_wait_what_it_says_a_leader_may_count_on_it():
    # Leases end by the quorum deadline that backs them, and an earlier leader's quorum
    # shares a voter with ours: that voter's "grants" (how much longer a leader it backed may
    # count on it), plus a margin per clock involved, is the whole wait; no lease beyond it.
    ring, clock, io = make(0)
    ring.fresh, ring.grants_until = True, float("-inf")  # as a node whose state dir held nothing
    ring.election_at = clock.now
    run_election(ring, clock, fresh_votes=False, grants=400)
    wait = clock.now + 0.4 + 3 * ring.margin
    assert all(wait - 0.002 <= e.until <= wait + 0.002 for e in ring.table.slots)
    assert not ring.table.assignable(0, clock.now + 0.39, "n2")


def test_a_fresh_voter_votes_at_once_and_says_it_is_fresh_only_until_it_voted():
    ring, clock, io = make(1)
    ring.fresh, ring.vote_blocked_until = True, clock.now
    ring.receive(Conn(), "vote_req", msg("n1", 2000, addr=SEEDS[0], priority=0, pre=False))
    ring.receive(Conn(), "vote_req", msg("n3", 2001, addr=SEEDS[2], priority=2, pre=False))
    votes = [b for _, b in io.of_kind("vote")]
    assert votes[0]["granted"] and votes[0]["fresh"] and not ring.fresh


def test_a_new_leader_tells_every_seed_at_once():
    ring, clock, io = make(0)
    ring.fresh, ring.election_at = True, clock.now
    run_election(ring, clock, fresh_votes=True)
    told = {to for to, body in io.of_kind("leader_is") if body["leader"] == ring.id}
    assert told == set(SEEDS) - {ring.addr}


def test_a_follower_whose_leader_connection_closed_elects_almost_at_once():
    ring, clock, io = make(1)
    ring.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    assert ring.leader == "n1"
    ring.on_connection_lost(SEEDS[0])
    assert ring.leader is None and ring.election_at <= clock.now + LOST_JITTER
    assert START_WAIT < ring.L


def test_a_leader_that_left_does_not_join_its_successor_as_a_member():
    # Found by the cluster suite: the old leader, still draining, followed the new leader's
    # notice and heartbeated it; the new leader took it for a member, gave it partitions,
    # and those waited a whole lease once it exited.
    ring, clock, io = make(0)
    ring.fresh, ring.election_at = True, clock.now
    run_election(ring, clock, fresh_votes=True)
    ring.leave(restart=False)
    io.sent.clear()
    ring.receive(Conn(SEEDS[1]), "leader_is", msg("n2", ring.epoch + 1, leader="n2", leader_addr=SEEDS[1]))
    assert ring.leader == "n2"
    for _ in range(5):
        clock.now += ring.cfg.heartbeat_interval
        ring.tick()
    assert io.of_kind("heartbeat") == []


def _hello_from(ring, i):
    addr = SEEDS[i]
    ring.receive(Conn(addr), "hello", msg(f"n{i + 1}", 1000, addr=addr, priority=i))


def test_a_fresh_node_that_heard_every_seed_runs_its_first_election_at_once():
    ring, clock, io = make(0)
    ring.fresh = True
    start_wait_ends = ring.election_at  # START_WAIT plus jitter after the start
    assert start_wait_ends > clock.now
    for i in range(1, len(SEEDS) - 1):
        _hello_from(ring, i)
    assert ring.election_at == start_wait_ends  # one seed not heard yet: it keeps waiting
    _hello_from(ring, len(SEEDS) - 1)
    assert ring.election_at == clock.now
    ring.tick()
    assert ring.role == "candidate"  # the best-placed node asks without waiting longer


def test_a_node_that_is_not_fresh_keeps_its_start_wait_whoever_it_heard():
    ring, clock, io = make(0)
    waits_until = ring.election_at
    for i in range(1, len(SEEDS)):
        _hello_from(ring, i)
    assert ring.election_at == waits_until


def test_a_restarted_node_says_a_forgotten_leader_may_count_on_it_for_a_lease_after_its_start():
    # Without a state dir a node cannot know whom it backed before its restart: a leader may
    # count on it until a lease after its last confirmation, which was before the start.
    ring, clock, io = make(1)
    assert ring.grants_until == clock.now + ring.L
    ring.vote_blocked_until = clock.now  # (only to see the vote's grants at once)
    clock.now += 0.25
    ring.receive(Conn(), "vote_req", msg("n1", 2000, addr=SEEDS[0], priority=0, pre=False))
    [vote] = [b for _, b in io.of_kind("vote")]
    assert vote["granted"] and 740 <= vote["grants"] <= 760


def test_a_lease_never_outlives_the_quorum_that_backs_it():
    # The leader heard its other voter 0.7 s ago (lease 1 s): its quorum deadline is 0.3 s
    # away, so the lease its answer renews ends there, not a whole lease after the send.
    from test_ring import elect, heartbeat

    ring, clock, io = make(0)
    elect(ring, clock, io)
    clock.now += 0.7
    ring.receive(Conn(), "heartbeat", heartbeat("n2", ring.epoch))
    [(_, ack)] = io.of_kind("heartbeat_ack")
    deadline = ring._quorum_until(clock.now)
    assert deadline == pytest.approx(clock.now + 0.3, abs=0.01)
    assert ack["lease"] == int((deadline - clock.now) * 1000) < ring.L * 1000
    # and the follower takes the lease as the answer says, from its send time
    follower, fclock, fio = make(1)
    follower.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    fclock.now += 0.01
    follower.tick()
    [(_, hb)] = fio.of_kind("heartbeat")
    sent = fclock.now
    fclock.now += 0.02
    follower.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=hb["seq"], mv=0, members=None, lease=300))
    assert follower.lease_expiry == pytest.approx(sent + 0.3)
