"""A node-by-node upgrade across protocol versions, with real processes.

Nodes of two versions refuse each other's frames ("version"), so during the rollout they
are two groups with one voter set: only the group with a majority of the voters can elect,
and it alone holds partitions. When the voter that tips the balance stops, the old group
loses its quorum (its followers' leases end); once that voter is back on the new version,
the upgraded group elects and its leader waits out the old leases. Never two owners at a time, tokens only grow, one leader per
epoch; afterwards one ring again. (Why the version must be raised whenever the wire
changes: version 5 changed the settings fingerprint, and before the number was raised,
nodes of the two releases read each other's fingerprints as unreadable, and no election
succeeded on either side.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hostile import rejected_key, scrape
from test_safety import Guarded

from ringfast import protocol

pytestmark = pytest.mark.cluster

OLD = {"RINGFAST_TEST_WIRE_VERSION": str(protocol.VERSION - 1)}


def rejected_versions(cluster, name) -> float:
    metrics = scrape(cluster.nodes[name].monitoring_port) or {}
    return metrics.get(rejected_key("version"), 0.0)


def test_a_node_by_node_upgrade_across_protocol_versions_never_owns_twice(cluster_factory):
    g = Guarded(cluster_factory, 5, command=[sys.executable, str(Path(__file__).with_name("wire_version_node.py"))])
    for node in g.c.nodes.values():
        node.env.update(OLD)
    before = g.start_and_settle()
    names = list(g.c.names)
    order = [n for n in names if n != before.leader] + [before.leader]  # the leader last, as operators do
    upgraded: list[str] = []
    for name in order:
        g.c.stop(name)
        for key in OLD:
            g.c.nodes[name].env.pop(key)
        g.c.start(name)
        upgraded.append(name)
        old = [n for n in names if n not in upgraded]
        side = upgraded if len(upgraded) >= 3 else old  # the side with a majority of the voters
        g.settle(side, f"with {upgraded} upgraded", among=side)
    after = g.settle(names, "after the upgrade")
    g.check(after.epoch > before.epoch, f"the ring never moved to the new version: {before} -> {after}")
    g.check(rejected_versions(g.c, order[0]) > 0, "no frame of the old version was refused as such")
    g.stop()
    g.finish()
