"""Thousands of random fault schedules in simulation; any failing seed replays exactly.

    RINGFAST_SIM_SEEDS=100000 python -m pytest tests/sim -k many   # a long run
    python tests/sim/replay.py SEED                               # one seed, with its trace
"""

import os

import pytest

from simulator import Sim, run_seed

# Every message goes through protocol.py's framing and validation, which costs ~2.5x: the
# default run takes 60 seeds (~10 s on a 2-core machine: the README's test command has 5 minutes
# on 2 cores for everything); .ci/run adds 3,000 more, and a fresh range through tests/sim/scan.py.
SEEDS = int(os.environ.get("RINGFAST_SIM_SEEDS", "60"))
SETTLE_BOUND = 6.0  # seconds of virtual time after the faults stop


def test_a_fault_free_run_settles_and_stays_put():
    sim = Sim(seed=1)
    sim.run_until(3.0)
    assert sim.settled()
    owners = {p: n.name for n in sim.nodes.values() for p in n.ring.held}
    sim.run_until(10.0)
    assert owners == {p: n.name for n in sim.nodes.values() for p in n.ring.held}
    assert not sim.log.violations


def test_the_same_seed_replays_exactly():
    a, b = run_seed(77), run_seed(77)
    trace = lambda s: sorted((p, iv.holder, iv.start, iv.end, iv.token) for p, ivs in s.log.intervals.items() for iv in ivs)
    assert trace(a) == trace(b) and a.now == b.now


def test_the_checker_catches_a_double_owner():
    sim = Sim(seed=3)
    sim.run_until(3.0)
    holder = next(n for n in sim.nodes.values() if n.ring.held)
    other = next(n for n in sim.nodes.values() if n is not holder and n.ring.role != "leader")
    p = next(iter(holder.ring.held))
    sim.log.assigned(other, {p: 2**62})  # a forged second owner
    sim.log.check_overlaps(sim.now)
    assert any(f"partition {p} held by" in v for v in sim.log.violations)


def test_the_checker_catches_a_leader_table_that_lost_its_invariants():
    sim = Sim(seed=3)
    sim.run_until(3.0)
    leader = next(n for n in sim.nodes.values() if n.ring.role == "leader")
    p = next(p for p, e in enumerate(leader.ring.table.slots) if e.holder is not None)
    leader.ring.table.slots[p].holder = None  # forged: held, by nobody
    sim.log.observe(leader)  # what the simulation does after each step of a node
    assert any(f"partition {p}" in v and "with holder None" in v for v in sim.log.violations)


@pytest.mark.slow
def test_many_random_schedules_keep_every_guarantee():
    failures = []
    slowest = 0.0
    for seed in range(SEEDS):
        sim = run_seed(seed)
        if sim.log.violations:
            failures.append((seed, sim.log.violations[:3]))
        elif sim.settle_time is None or sim.settle_time > SETTLE_BOUND:
            failures.append((seed, [f"not settled {SETTLE_BOUND}s after the faults stopped"]))
        else:
            slowest = max(slowest, sim.settle_time)
        if len(failures) >= 5:
            break
    print(f"{SEEDS} seeds, slowest settle after faults {slowest:.2f}s")
    assert not failures, "\n".join(f"seed {s}: {v}" for s, v in failures)


def test_after_a_hung_leader_partitions_go_back_where_they_were():
    sim = Sim(seed=5)
    sim.run_until(3.0)
    assert sim.settled()
    leader = next(n for n in sim.nodes.values() if n.ring.role == "leader")
    before = {p: n.ring.id for n in sim.nodes.values() for p in n.ring.held}
    sim.pause(leader.addr, 3 * sim.lease)  # followers' leases lapse: they revoke everything
    emptied = set()  # (the next leader may hand partitions out again before all have lapsed)
    end = sim.now + 0.8
    while sim.now < end:
        sim.run_until(sim.now + 0.01)
        emptied |= {n.addr for n in sim.nodes.values() if n is not leader and not n.ring.held}
    assert emptied == set(sim.addrs) - {leader.addr}
    end = sim.now + 6.0
    while sim.now < end and not sim.settled():
        sim.run_until(sim.now + 0.1)
    assert sim.settled() and not sim.log.violations
    new_leader = next(n.ring.id for n in sim.nodes.values() if n.ring.role == "leader")
    after = {p: n.ring.id for n in sim.nodes.values() for p in n.ring.held}
    # Every follower keeps what it had; the only moves are to the old leader, which came back
    # as a follower, and no more than its fair share. (When it rejoins before the new leader
    # hands out what it held itself, those go to the old leader instead: fewer moves still.)
    moved = [p for p, owner in before.items() if owner != new_leader and after[p] != owner]
    assert all(after[p] == leader.ring.id for p in moved), moved
    assert len(moved) <= -(-sim.P // len(set(after.values())))


@pytest.mark.slow
@pytest.mark.long
def test_a_thousand_nodes_settle_and_survive_the_leader_crashing():
    sim = Sim(seed=11, nodes=1000, partitions=1000, heartbeat=1.0, lease=3.0, voters=5)
    t = 0.0
    while t < 30 and not sim.settled():
        t += 0.5
        sim.run_until(t)
    assert sim.settled(), "1,000 nodes did not settle in 30 virtual seconds"
    loads = [len(n.ring.held) for n in sim.nodes.values() if n.ring.role != "leader"]
    assert max(loads) - min(loads) <= 1
    leader = next(n for n in sim.nodes.values() if n.ring.role == "leader")
    sim.crash(leader.addr)
    end = sim.now + 30
    while sim.now < end and not sim.settled():
        sim.run_until(sim.now + 0.5)
    assert sim.settled() and not sim.log.violations
    assert next(n for n in sim.nodes.values() if n.ring.role == "leader" and not n.down) is not leader


def test_messages_go_through_the_framing_that_ships():
    """A body the real decoder refuses (here: a field of the wrong type) is refused in the
    simulation too, and the connection closed, as node.py does."""
    sim = Sim(seed=5)
    sim.run_until(2.0)
    a, b = list(sim.nodes.values())[:2]
    conn = sim.connect(a, b.addr)
    assert conn is not None
    sim.deliver(conn, "hello", {**a.ring._common(), "addr": a.addr, "priority": "high", "wall": 0, "voters": []})
    sim.run_until(2.5)
    assert any("priority" in r for r in sim.log.refused_frames), sim.log.refused_frames
    assert conn.closed
