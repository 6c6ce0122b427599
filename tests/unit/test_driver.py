"""The Ring returns its decisions as data; one Driver carries them out (ringfast/driver.py)."""

import logging
import pathlib
import random
import re
import typing

import pytest

from ringfast import events as ev
from ringfast.config import Config
from ringfast.driver import APPLY, Driver
from ringfast.ring import Ring, actions, token_of
from test_ring import SEEDS, Clock, Conn, msg


class Journal:
    """A World that keeps everything in order: journal lines, events, messages, revokes."""

    def __init__(self):
        self.lines = []  # (event, fields)
        self.events = []  # (event, payload)
        self.sent = []
        self.revokes = []  # done(ok)

    def send(self, to, kind, body):
        self.sent.append((to, kind))

    def reply(self, link, kind, body):
        self.sent.append((link, kind))

    def close(self, link):
        link.close()

    def run_revoke(self, change, done):
        self.events.append((ev.PARTITIONS_REVOKED, change))
        self.revokes.append(done)

    def notify(self, event, payload):
        self.events.append((event, payload))

    def record(self, event, fields):
        self.lines.append((event, fields))


def ring_and_driver(i=1):
    cfg = Config.load({}, node_id=f"n{i + 1}", port=i + 1, seeds=",".join(SEEDS), heartbeat_interval=100,
                      failure_timeout=1000, monitoring_port="off")
    clock = Clock()
    ring = Ring(cfg, None, clock, epoch=1000, rng=random.Random(i))
    world = Journal()
    return ring, Driver(ring, world), world, clock


def follow_and_hold(ring, driver, clock, p=3):
    clock.now = max(clock.now, ring.vote_blocked_until)  # (a voter without a state dir follows no one before)
    driver.receive(Conn(SEEDS[0]), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]), SEEDS[0])
    driver.tick()  # our first heartbeat, answered below: a lease from its send time
    driver.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=ring.hb_seq, mv=0, members=None), SEEDS[0])
    driver.receive(Conn(SEEDS[0]), "assign", msg("n1", 1500, mseq=1, partitions=[[p, token_of(1500, 1)]]), SEEDS[0])
    assert ring.held == {p: token_of(1500, 1)}


def test_the_ring_returns_actions_and_does_nothing_itself():
    ring, _, _, clock = ring_and_driver(0)
    assert not hasattr(ring, "io")
    clock.now += 5  # no leader heard for longer than a failure timeout: run
    out = ring.tick()
    assert ring.role == "candidate" and ring.out == []  # nothing left behind for the next call
    assert [a.role for a in out if isinstance(a, actions.RoleChanged)] == ["candidate"]
    asked = [a.to for a in out if isinstance(a, actions.Send) and a.kind == "vote_req"]
    assert asked == list(SEEDS[1:])
    assert ring.tick() == []  # the same moment again: nothing new to do


def test_every_action_has_a_way_to_be_carried_out_and_a_row_in_the_internals_page():
    kinds = set(typing.get_args(actions.Action))
    assert set(APPLY) == kinds
    page = (pathlib.Path(__file__).parents[2] / "docs" / "internals.md").read_text()
    section = page.split("| out (actions) |", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)\(", section))
    assert listed == {k.__name__ for k in kinds}


def test_an_assignment_is_journaled_before_the_application_hears_of_it():
    ring, driver, world, clock = ring_and_driver()
    follow_and_hold(ring, driver, clock)
    (event, fields), = [line for line in world.lines if line[0] == "assigned"]
    assert fields == {"partitions": [3], "epoch": 1500, "tokens": {"3": token_of(1500, 1)}}
    assert (ev.PARTITIONS_ASSIGNED, ev.PartitionsChanged([3], {3: token_of(1500, 1)}, 1500)) in world.events


def test_a_lease_expiry_is_journaled_when_the_lease_ran_out_not_when_the_handler_returns():
    ring, driver, world, clock = ring_and_driver()
    follow_and_hold(ring, driver, clock)
    clock.now = ring.lease_expiry
    ring.last_leader_contact = clock.now  # only the lease matters here
    driver.tick()
    revoked = [f for e, f in world.lines if e == "revoked"]
    assert len(revoked) == 1 and revoked[0]["reason"] == "lease_expired"
    assert revoked[0]["expired_at"] == pytest.approx(ring.lease_expiry)
    assert len(world.revokes) == 1  # the handlers still run...
    world.revokes[0](True)
    assert len([e for e, _ in world.lines if e == "revoked"]) == 1  # ...and their end writes no second line


def test_a_rebalance_is_journaled_when_the_handlers_returned():
    ring, driver, world, clock = ring_and_driver()
    follow_and_hold(ring, driver, clock)
    driver.receive(Conn(SEEDS[0]), "revoke", msg("n1", 1500, mseq=2, partitions=[3]), SEEDS[0])
    assert not [e for e, _ in world.lines if e == "revoked"]  # still ours while the handler runs
    world.revokes[0](True)
    (fields,) = [f for e, f in world.lines if e == "revoked"]
    assert fields["reason"] == "rebalance" and "expired_at" not in fields
    assert (SEEDS[0], "revoked") in world.sent and ring.held == {}


def test_a_role_is_journaled_and_leadership_is_told_to_the_application():
    ring, driver, world, clock = ring_and_driver(0)
    clock.now += 5
    driver.tick()
    for pre in (True, False):
        for i, addr in enumerate(SEEDS[1:]):
            epoch = 0 if pre else ring.epoch
            driver.receive(Conn(addr), "vote", msg(f"v{i}", epoch, granted=True, pre=pre, addr=addr), addr)
    assert ring.role == "leader"
    assert [e for e, _ in world.lines] == ["candidate", "leader"]
    assert (ev.BECOME_LEADER, ev.LeaderChanged("n1", ring.epoch)) in world.events
    assert (ev.LEADER_CHANGED, ev.LeaderChanged("n1", ring.epoch)) in world.events


def test_a_node_survives_an_error_in_the_ring_and_the_simulation_does_not(caplog):
    ring, _, world, _ = ring_and_driver()

    def receive(*args):  # a Ring with a bug
        raise RuntimeError("a bug")

    ring.receive = receive
    with caplog.at_level(logging.ERROR, logger="ringfast.driver"):
        Driver(ring, world, contain=True).receive(Conn(), "hello", {"from": "n9"})
    assert "error handling hello from 'n9' (continuing)" in caplog.text
    with pytest.raises(RuntimeError, match="a bug"):
        Driver(ring, world).receive(Conn(), "hello", {"from": "n9"})
