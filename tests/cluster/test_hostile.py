"""Hostile and mistaken peers against real processes (issue 10, G7): each nemesis of
hostile.py (the ones benchmarks/soak.py draws at random) run on a 3-node cluster with
journals, its outcome asserted, then the journal checker over everything, the impostors'
journals included under names of their own.

- an impostor (a second process with a member's id) of a follower, ended by kill -9, and of
  the leader, ended by SIGTERM (so it sends a `leave` with the leader's id): refused
  (duplicate_id counted), holds and leads nothing, the member keeps its partitions (and the
  leader its leadership, in the same epoch);
- a follower restarted with one partition more, one voter fewer, one unknown voter more,
  one voter swapped for an unknown one: refused (settings_mismatch counted), holds and leads
  nothing; restarted as configured, the cluster settles again;
- one frame of every ring message kind with an epoch above the wall-clock bound (refused:
  epoch_out_of_range) and above the wire's range (the connection closed), sent to each node
  in turn: nobody adopts it, the cluster stays settled in the same epoch with the same leader.
"""

from __future__ import annotations

import os
import random

import hostile
import pytest
from convergence import settled
from journal import read_lines
from support import wait_for

# About 25 s of real processes: opt-in in the default run (its 5-minute budget), run by
# .ci/hardening.sh in CI, and drawn at random by the soak (benchmarks/soak.py).
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1"),
]

DEADLINE = 20.0


def _started(cluster_factory):
    cluster = cluster_factory(n=3, partitions=10, heartbeat_ms=100, check_ms=500, journal=True)
    cluster.start()
    return cluster, _settle(cluster, "initial start")


def _settle(cluster, what):
    return wait_for(lambda: settled(cluster, 3), DEADLINE, what=f"the cluster to settle ({what})")


def test_impostor_is_refused_and_the_member_keeps_what_it_has(cluster_factory):
    cluster, verdict = _started(cluster_factory)
    follower = next(n for n in cluster.names if n != verdict.leader)
    impostors: list[hostile.Impostor] = []
    try:
        for victim, how in ((follower, "kill"), (verdict.leader, "term")):
            out = hostile.impostor(cluster, victim, 2.0, how, f"{victim}~impostor{len(impostors) + 1}",
                                   started=impostors)
            assert out.ok, str(out)
            if victim != verdict.leader:  # the leader refused its heartbeats, and said so
                assert verdict.leader in out.notes["duplicate_id"] and out.notes["told"], str(out)
            after = settled(cluster, 3)  # nothing to settle: nothing moved
            assert after and (after.leader, after.epoch) == (verdict.leader, verdict.epoch), (after, verdict)
            assert after.owned[follower] == verdict.owned[follower] and after.tokens == verdict.tokens
    finally:
        for imp in impostors:
            imp.close()
    for imp in impostors:  # each ran as a node, under its member's id, in its own journal
        roles = [r for r in read_lines(imp.journal_path) if r.get("event") in ("follower", "candidate")]
        assert roles and {r["node"] for r in roles} == {imp.victim}, read_lines(imp.journal_path)
    hostile.journals(cluster, impostors).assert_safe()


def test_misconfigured_restart_is_refused_then_rejoins(cluster_factory):
    cluster, verdict = _started(cluster_factory)
    rnd = random.Random(7)
    for variant in hostile.VARIANTS:
        follower = next(n for n in cluster.names if n != verdict.leader)
        out = hostile.misconfigured_restart(cluster, follower, variant, 2.0, rnd)
        assert out.ok, str(out)
        assert out.notes["told"], f"{follower} never logged that it was refused: {out}"
        verdict = _settle(cluster, f"after {out.what}")
    hostile.journals(cluster).assert_safe()


def test_bogus_epoch_is_refused_and_not_adopted(cluster_factory):
    cluster, verdict = _started(cluster_factory)
    rnd = random.Random(3)
    for i, kind in enumerate(hostile.BOGUS_KINDS):
        for beyond_wire in (False, True):
            target = cluster.names[i % 3]
            sender = ["intruder", verdict.leader, target][i % 3]
            out = hostile.bogus_epoch(cluster, target, kind, sender, rnd, beyond_wire=beyond_wire)
            assert out.ok, str(out)
    after = settled(cluster, 3)
    assert after and (after.leader, after.epoch) == (verdict.leader, verdict.epoch), (after, verdict)
    hostile.journals(cluster).assert_safe()
