"""The engine backend's protocol (ringfast.engine) in the simulation (engine_sim.py): many
seeds must hold every guarantee, and the checker must catch the bugs it is there to catch
(each planted below through the class, one at a time)."""

from __future__ import annotations

import os

import pytest
from engine_sim import EngineSim, run_seed

from ringfast.engine import keyspace as ks
from ringfast.engine.leader import EngineLeader
from ringfast.engine.member import EngineRing

SEEDS = int(os.environ.get("RINGFAST_ENGINE_SIM_SEEDS", "20"))  # .ci/run: 3,000


def test_many_seeds_hold_every_guarantee():
    failing = {}
    for seed in range(SEEDS):
        res = run_seed(seed)
        if res.violations:
            failing[seed] = res.violations[:3]
    assert not failing, failing


def _first_violation(seeds=range(60)):
    for seed in seeds:
        res = run_seed(seed)
        if res.violations:
            return seed, res.violations
    return None


def test_planted_bug_leader_frees_without_the_ack_is_caught(monkeypatch):
    # the leader takes a partition back as soon as it asked for it, without waiting for
    # the owner to say it let go: the new owner overlaps the old one's handler
    monkeypatch.setattr(EngineLeader, "_let_go", staticmethod(lambda m, p, asked: True))
    found = _first_violation()
    assert found is not None and any("overlap" in v for v in found[1]), found


def test_planted_bug_holding_past_the_right_is_caught(monkeypatch):
    # a member does not give up what it holds when its lease runs out (a frozen process
    # wakes up and carries on): it overlaps the member the leader gave them to
    monkeypatch.setattr(EngineRing, "_lapse", lambda self, ended: None)
    found = _first_violation()
    assert found is not None and any("overlap" in v for v in found[1]), found


def test_planted_bug_grants_that_outlive_a_registration_are_caught(monkeypatch):
    # a member takes what the table gives its id, whichever registration it was for: a
    # new process with the id of a crashed one inherits its grant, token and all
    monkeypatch.setattr(EngineRing, "_granted_to_us", lambda self, t, p, reg: t.owners[p] == self.id)
    found = _first_violation(range(300))
    assert found is not None and any("token" in v for v in found[1]), found


def test_a_second_process_with_a_live_id_waits_until_the_first_is_gone():
    sim = EngineSim(7, nodes=3, partitions=6, leader_owns=False)
    for name in sim.names:
        sim.start_node(name)
    sim.run_until(sim.clock.t + 3)
    first = next(n for n in sim.nodes.values() if n.ring.held)
    name = first.id
    sim.start_node(name)
    second = sim.nodes[name]
    sim.run_until(sim.clock.t + 5)
    assert second.ring.held == {} and f"another process holds NODE_ID={name!r}" in (second.ring.problem or "")
    assert first.ring.held, "the first process keeps its partitions"
    sim.crash(name, first)  # the first one dies: the second takes over once its lease ran out
    sim.run_until(sim.clock.t + 6)
    assert second.ring.held and second.ring.problem is None
    assert not sim.check().violations


def test_a_different_partition_count_is_refused():
    sim = EngineSim(3, nodes=2, partitions=6, leader_owns=False)
    for name in sim.names:
        sim.start_node(name)
    sim.run_until(sim.clock.t + 3)
    odd = sim.nodes["n2"]
    odd.ring.P = 7  # as a node started with NUM_PARTITIONS=7 would be
    sim.run_until(sim.clock.t + 3)
    assert "NUM_PARTITIONS=7 differs from the cluster's (6)" in odd.ring.problem


def test_leave_hands_partitions_over_without_waiting_for_a_lease():
    sim = EngineSim(5, nodes=3, partitions=6, leader_owns=False)
    for name in sim.names:
        sim.start_node(name)
    sim.run_until(sim.clock.t + 3)
    leader = next(n for n in sim.nodes.values() if n.ring.role == "leader")
    follower = next(n for n in sim.nodes.values() if n.ring.role == "follower" and n.ring.held)
    other = next(n for n in sim.nodes.values() if n not in (leader, follower))
    theirs = set(follower.ring.held)
    t0 = sim.clock.t
    sim.stop(follower.id)
    deadline = t0 + 1.0  # far below the 2 s lease
    while sim.clock.t < deadline and not theirs <= set(other.ring.held):
        sim.run_until(sim.clock.t + 0.01)
    assert theirs <= set(other.ring.held), "the leaving node's partitions did not move within 1 s"
    assert not sim.check().violations


def _settled_sim(seed):
    sim = EngineSim(seed, nodes=3, partitions=6, leader_owns=False)
    for name in sim.names:
        sim.start_node(name)
    sim.run_until(sim.clock.t + 3)
    follower = next(n for n in sim.nodes.values() if n.ring.role == "follower" and n.ring.held)
    other = next(n for n in sim.nodes.values() if n.ring.role == "follower" and n is not follower)
    return sim, follower, other


def _grants(res, name):
    return {p for r in res.journal if r["event"] == "assigned" and r["node"] == name for p in r["partitions"]}


def test_a_restart_within_the_grace_gets_its_partitions_back_and_nobody_else_takes_them():
    sim, follower, other = _settled_sim(5)
    theirs, before = set(follower.ring.held), set(other.ring.held)
    sim.stop(follower.id, restart=True)
    sim.run_until(sim.clock.t + 1.0)
    assert follower.ring.stopped and not follower.ring.held
    marker = sim.engine.kv.get(f"ringfast/sim/{ks.REJOIN}{follower.id}")
    assert marker is not None, "no rejoin marker in the engine"
    sim.run_until(sim.clock.t + 4.0)  # past its lease (2 s): its member key is gone
    assert set(other.ring.held) == before, "another node took the restarting node's partitions"
    table = sim.nodes[other.id].ring.table
    assert set(table.kept) == theirs and set(table.kept.values()) == {follower.id}
    sim.start_node(follower.id)  # the new process, same id, within the 9 s grace
    sim.run_until(sim.clock.t + 2.0)
    back = sim.nodes[follower.id]
    assert back is not follower and set(back.ring.held) == theirs
    sim.run_until(sim.clock.t + 1.0)
    assert f"ringfast/sim/{ks.REJOIN}{follower.id}" not in sim.engine.kv, "the marker outlived the return"
    assert not sim.nodes[other.id].ring.table.kept
    res = sim.check()
    assert not res.violations, res.violations
    assert _grants(res, other.id) == before  # it never held the restarting node's partitions


def test_after_the_grace_a_restarting_nodes_partitions_move():
    sim, follower, other = _settled_sim(7)
    theirs = set(follower.ring.held)
    sim.stop(follower.id, restart=True)
    sim.run_until(sim.clock.t + 8.0)  # within the grace (9 s): still kept
    assert not theirs & set(other.ring.held)
    sim.run_until(sim.clock.t + 3.0)  # past it
    assert theirs <= set(other.ring.held)
    sim.run_until(sim.clock.t + 1.0)
    assert f"ringfast/sim/{ks.REJOIN}{follower.id}" not in sim.engine.kv
    assert not sim.check().violations


def test_a_plain_stop_writes_no_marker_and_its_partitions_move_at_once():
    sim, follower, other = _settled_sim(5)
    theirs = set(follower.ring.held)
    sim.stop(follower.id)
    sim.run_until(sim.clock.t + 1.0)
    assert theirs <= set(other.ring.held)
    assert not any(k.startswith(f"ringfast/sim/{ks.REJOIN}") for k in sim.engine.kv)


def test_a_frozen_engine_makes_every_holder_give_up_then_all_recover():
    sim = EngineSim(11, nodes=3, partitions=6, leader_owns=False)
    for name in sim.names:
        sim.start_node(name)
    sim.run_until(sim.clock.t + 3)
    assert sum(len(n.ring.held) for n in sim.nodes.values()) == 6
    sim.freeze_engine(6.0)
    sim.run_until(sim.clock.t + 3)  # past every lease (2 s TTL)
    assert all(not n.ring.held for n in sim.nodes.values()), "a holder kept partitions with the engine frozen"
    sim.run_until(sim.clock.t + 10)
    assert sum(len(n.ring.held) for n in sim.nodes.values()) == 6
    res = sim.check()
    assert not res.violations, res.violations
    assert any(r["event"] == "revoked" and r["reason"] == "lease_expired" for r in res.journal)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_run_is_a_function_of_its_seed(seed):
    a, b = run_seed(seed), run_seed(seed)
    assert a.journal == b.journal
