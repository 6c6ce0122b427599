"""Converging at network speed (issue 13): what a cold start and a failover no longer wait for."""

from ringfast.ring import LOST_JITTER, START_WAIT
from test_ring import SEEDS, Conn, make, msg


def run_election(ring, clock, fresh_votes):
    clock.now += 0.5  # past a fresh node's start wait
    ring.tick()
    assert ring.role == "candidate"
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", 0, granted=True, pre=True, addr=addr))
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", ring.epoch, granted=True, pre=False, addr=addr, fresh=fresh_votes))
    assert ring.role == "leader"


def test_a_leader_elected_by_fresh_voters_only_waits_for_no_earlier_lease():
    ring, clock, io = make(0, state_dir="/nonexistent")
    ring.fresh = True  # as the node sets it: a state dir that held nothing
    ring.vote_blocked_until = ring.election_at = clock.now
    run_election(ring, clock, fresh_votes=True)
    assert all(ring.table.assignable(p, clock.now, "n2") for p in range(ring.P))


def test_one_voter_that_voted_before_makes_the_leader_wait_a_lease():
    ring, clock, io = make(0)
    ring.fresh = True
    ring.election_at = clock.now
    run_election(ring, clock, fresh_votes=False)
    assert all(e.until >= clock.now + ring.L for e in ring.table.slots)


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
