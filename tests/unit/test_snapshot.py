"""The node's Snapshot: frozen, replaced whole, and so never a mix of two updates.

The hammer drives a real (unstarted) Node's publishing with a stand-in ring whose fields
change one at a time, with thread switches in between (as the real Ring's do, between
two snapshots); readers on other threads check that every snapshot they get, and every
answer of the API, belongs to one update.
"""

import dataclasses
import sys
import threading
import time

import pytest

from ringfast import Node
from ringfast.snapshot import Member, Snapshot, SnapshotMaker
from ringfast.table import token_of

BASE = 1000  # epoch of update 0


class FakeRing:
    """What SnapshotMaker reads of a Ring. Update k: epoch BASE+k, leader "n<k>", partitions
    0..k%5 with tokens of that epoch, one member "n<k>", a deadline equal to the epoch."""

    def __init__(self):
        self.id, self.addr, self.role = "me", "127.0.0.1:1", "follower"
        self.lease_expiry = float("inf")
        self.k = -1
        self.to(0)

    def to(self, k, switch=lambda: None):
        # field by field, letting other threads run in between: only a whole swap hides this
        self.epoch = BASE + k
        switch()
        self.leader = f"n{k}"
        switch()
        self.held = {p: token_of(BASE + k, p) for p in range(k % 5 + 1)}
        switch()
        self.view = [{"id": f"n{k}", "addr": f"h{k}:1", "priority": k, "role": "leader", "partitions": []}]
        switch()
        self.deadline = float(BASE + k)
        self.k = k

    def holding_deadline(self):
        return self.deadline

    def describe(self):  # a leader's list; this ring stays a follower
        raise AssertionError("not a leader")


def consistent(snap: Snapshot) -> str | None:
    """What is wrong with `snap`, if it mixes two updates."""
    k = snap.epoch - BASE
    if snap.leader != f"n{k}":
        return f"epoch {snap.epoch} with leader {snap.leader}"
    if snap.partitions != tuple(range(k % 5 + 1)):
        return f"epoch {snap.epoch} with partitions {snap.partitions}"
    if any(t >> 31 != snap.epoch for t in snap.tokens.values()) or sorted(snap.tokens) != list(snap.partitions):
        return f"epoch {snap.epoch} with tokens {dict(snap.tokens)}"
    if [m.id for m in snap.members] != [snap.leader] or snap.valid_until != snap.epoch:
        return f"epoch {snap.epoch} with members {snap.members}, valid until {snap.valid_until}"
    return None


def test_a_reader_never_sees_two_updates_mixed():
    node = Node(monitoring_port="off", mode="thread", clock=lambda: 0.0)
    ring = node._ring = FakeRing()  # (unstarted: nothing else publishes)
    node._publish()
    stop = threading.Event()
    problems, reads = [], [0]

    def writer():
        k = 0
        while not stop.is_set():
            k += 1
            ring.to(k, switch=lambda: time.sleep(0))
            node._publish()

    def reader():
        try:
            while not stop.is_set() and not problems:
                wrong = consistent(node.snapshot())
                held = node.partitions()  # the API reads one snapshot per call
                if wrong is None and not (held and held == list(range(len(held)))):
                    wrong = f"partitions() gave {held}"
                if wrong:
                    problems.append(wrong)
                reads[0] += 1
        except Exception as e:
            problems.append(repr(e))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not problems, problems[:5]
    assert reads[0] > 1000 and ring.k > 20, (reads[0], ring.k)  # (about 500,000 and 300 on an idle machine)


def test_a_snapshot_is_frozen_all_the_way_down():
    maker = SnapshotMaker()
    ring = FakeRing()
    ring.to(3)
    snap = maker.take(ring, now=0.0)
    assert consistent(snap) is None and snap.ready and snap.role == "follower"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.epoch = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.tokens[0] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.members[0].partitions = ()  # type: ignore[misc]
    ring.held[0] = 0  # the ring moves on; the snapshot taken before does not
    ring.view[0]["partitions"].append(7)
    assert snap.tokens[0] == token_of(BASE + 3, 0) and snap.members[0].partitions == ()
    d = snap.members[0].as_dict()
    d["partitions"].append(9)  # a copy: the snapshot's member is untouched
    assert snap.members[0] == Member("n3", "h3:1", 3, "leader", ())


def test_members_are_copied_only_when_the_ring_has_a_new_list():
    maker = SnapshotMaker()
    ring = FakeRing()
    first = maker.take(ring, now=0.0)
    again = maker.take(ring, now=0.0)
    assert again.members is first.members  # same list in the ring: the frozen copy is reused
    ring.to(1)
    assert maker.take(ring, now=0.0).members[0].id == "n1"


def test_a_stopped_snapshot_has_no_leader_and_is_not_ready():
    ring = FakeRing()
    snap = SnapshotMaker().take(ring, now=0.0, stopped=True)
    assert (snap.role, snap.leader, snap.ready) == ("stopped", None, False)
    ring.lease_expiry = 5.0
    assert not SnapshotMaker().take(ring, now=5.0).ready  # a follower whose lease ran out
    assert SnapshotMaker().take(ring, now=4.9).ready


def test_node_snapshot_before_start_is_the_default_one():
    node = Node(monitoring_port="off", mode="thread")
    snap = node.snapshot()
    assert snap == Snapshot() and snap.role == node.role == "follower" and node.unowned_partitions() == 0
    assert node.snapshot() is snap  # nothing published: the same object
