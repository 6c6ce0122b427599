"""Faults outside the random schedules: each scenario once broke a guarantee (issue 10).

Each test builds the exact situation in the simulation and asserts the checker stays clean
(and, where the fix is a refusal, that the refusal happened)."""

from simulator import Sim


def settle(sim: Sim, limit: float = 6.0):
    end = sim.now + limit
    while sim.now < end and not sim.settled():
        sim.run_until(sim.now + 0.05)
    assert sim.settled()


def leader_of(sim: Sim):
    return next(n for n in sim.nodes.values() if n.ring.role == "leader" and not n.down)


def test_a_leader_frozen_past_its_quorum_never_renews_a_lease_on_waking():
    """The leader is cut off from every voter but one follower; it freezes just before its
    quorum runs out, the follower's heartbeats queue up in its socket, and on waking it
    must not answer them: their leases would outlive the new leader's wait."""
    sim = Sim(seed=21)
    settle(sim, 3.0)
    old = leader_of(sim)
    follower = next(n for n in sim.nodes.values() if n is not old and n.ring.held)
    others = {a for a in sim.addrs if a not in (old.addr, follower.addr)}
    for a in others:  # old leader and its follower on one side, the rest on the other
        for b in (old.addr, follower.addr):
            sim.cut.add((a, b))
            sim.cut.add((b, a))
    deadline = old.ring._quorum_until(sim.now)
    sim.run_until(deadline - 0.03)
    assert old.ring.role == "leader"
    acks = []
    reply = old.ring.io.reply
    old.ring.io.reply = lambda conn, kind, body: (acks.append(sim.now) if kind == "heartbeat_ack" else None, reply(conn, kind, body))
    sim.pause(old.addr, 0.9 * sim.lease)
    sim.run_until(sim.now + 4 * sim.lease)
    assert old.backlog == [] and old.ring.role != "leader"
    late = [t for t in acks if t >= deadline]
    assert not late, f"leases renewed at {late} after the quorum ran out at {deadline:.3f}"
    sim.log.check_overlaps(sim.now)
    assert not sim.log.violations, sim.log.violations
