"""The protocol state machine without a network: a manual clock and a recording IO."""

import random
import time

import pytest

from ringfast import events as ev
from ringfast.config import Config
from ringfast.driver import Driver
from ringfast.assumptions import fingerprint
from ringfast.ring import Ring, token_of

SEEDS = ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class IO:
    """The driver's World (ringfast/driver.py) and the ring's Storage, recording everything."""

    def __init__(self):
        self.sent = []  # (addr or conn, kind, body)
        self.events = []
        self.pending_revokes = []  # done(ok) of each revoke whose handlers still run

    def send(self, addr, kind, body):
        self.sent.append((addr, kind, body))

    def reply(self, conn, kind, body):
        self.sent.append((conn, kind, body))

    def close(self, link):
        link.close()

    def run_revoke(self, change, done):
        self.events.append(("revoked", change))
        self.pending_revokes.append(done)  # finishing is an event for the Ring, through the driver

    def notify(self, event, payload):
        if event == ev.PARTITIONS_ASSIGNED:
            self.events.append(("assigned", payload))
        elif event in (ev.MEMBER_JOINED, ev.MEMBER_LEFT):
            self.events.append(("member", event == ev.MEMBER_JOINED, payload.id))

    def record(self, event, fields):
        if event in ("follower", "candidate", "leader"):
            self.events.append(("role", event, fields["leader"], fields["epoch"]))

    def save(self, epoch, voted):  # the state dir
        return self.persist(epoch, voted)

    def persist(self, epoch, voted):
        return True

    def of_kind(self, kind):
        return [(to, body) for to, k, body in self.sent if k == kind]


class Conn:
    """A connection as the driver sees it: the Ring only gets it back as an opaque link."""

    def __init__(self, peer_addr=None):
        self.peer_addr = peer_addr  # the address we dialed, if we opened it
        self.closed = False

    def close(self):
        self.closed = True


class DrivenRing(Ring):
    """A Ring whose decisions its driver carries out at once, fed as node.py feeds it:
    `dialed` is the address of a connection we opened."""

    def __init__(self, cfg, io, clock, **kw):
        super().__init__(cfg, io, clock, **kw)
        self.driver = Driver(self, io)

    def tick(self):
        self.driver.apply(super().tick())
        return []

    def receive(self, link, kind, body, dialed=None):
        dialed = dialed if dialed is not None else getattr(link, "peer_addr", None)
        self.driver.apply(super().receive(link, kind, body, dialed))
        return []

    def revoke_finished(self, request, ok):
        self.driver.apply(super().revoke_finished(request, ok))
        return []

    def on_connection_lost(self, addr):
        self.driver.apply(super().on_connection_lost(addr))
        return []

    def on_inbound_closed(self, link):
        self.driver.apply(super().on_inbound_closed(link))
        return []

    def leave(self, restart):
        self.driver.apply(super().leave(restart))
        return []

    def flush(self):
        """Carry out what an internal method a test called directly decided."""
        out, self.out = self.out, []
        self.driver.apply(out)


def make(i=0, **kw):
    cfg = Config.load({}, node_id=f"n{i + 1}", port=i + 1, seeds=",".join(SEEDS), heartbeat_interval=100,
                      failure_timeout=1000, monitoring_port="off", **kw)
    clock, io = Clock(), IO()
    io.ring = ring = DrivenRing(cfg, io, clock, epoch=1000, rng=random.Random(i))
    return ring, clock, io


FP = fingerprint(10, 2, SEEDS, 1.0)  # the settings fingerprint of make()'s rings


def msg(sender, epoch, **body):
    """A message as a peer with the same settings sends it (fields a kind lacks are ignored)."""
    return {"from": sender, "epoch": epoch, "cfg": FP, "inc": 1, "wall": int(time.time() * 1000),
            "voters": list(SEEDS), "fresh": False, "grants": 0, "lease": 1000, **body}


def elect(ring, clock, io):
    """Drive `ring` through pre-vote and vote to leadership."""
    clock.now += 5
    ring.tick()
    assert ring.role == "candidate"
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", 0, granted=True, pre=True, addr=addr))
    assert ring.epoch == 1001  # the pre-vote passed: a real election at floor + 1
    for i, addr in enumerate(SEEDS[1:]):
        ring.receive(Conn(addr), "vote", msg(f"v{i}", ring.epoch, granted=True, pre=False, addr=addr))
    assert ring.role == "leader"


def heartbeat(sender, epoch, holdings=(), seen=0, seq=1, addr=None):
    return msg(sender, epoch, addr=addr or f"127.0.0.1:{sender[1:]}", priority=int(sender[1:]) - 1, seq=seq, acked=max(0, seq - 1),
               holdings=[tuple(h) for h in holdings], seen=seen, mv=0)


def test_a_voter_grants_one_vote_per_epoch_and_none_right_after_start():
    ring, clock, io = make(2)
    ring.receive(Conn(), "vote_req", msg("n1", 2000, addr=SEEDS[0], priority=0, pre=False))
    assert io.of_kind("vote")[-1][1]["granted"] is False  # started less than a timeout ago
    clock.now += 1.5
    ring.receive(Conn(), "vote_req", msg("n1", 2000, addr=SEEDS[0], priority=0, pre=False))
    assert io.of_kind("vote")[-1][1]["granted"] is True and ring.epoch == 2000
    ring.receive(Conn(), "vote_req", msg("n2", 2000, addr=SEEDS[1], priority=1, pre=False))
    assert io.of_kind("vote")[-1][1]["granted"] is False  # already voted in 2000


def test_a_voter_refuses_while_it_hears_a_live_leader():
    ring, clock, io = make(2)
    clock.now += 1.5
    ring.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    assert ring.leader == "n1"
    ring.receive(Conn(), "vote_req", msg("n2", 1600, addr=SEEDS[1], priority=2, pre=True))
    assert io.of_kind("vote")[-1][1]["granted"] is True  # hearsay of a leader does not count...
    ring.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=1, mv=0, members=None))
    ring.receive(Conn(), "vote_req", msg("n2", 1600, addr=SEEDS[1], priority=2, pre=True))
    assert io.of_kind("vote")[-1][1]["granted"] is False  # ...the leader answering us does


def test_a_better_placed_voter_lets_itself_ask_first():
    ring, clock, io = make(0)  # priority 0
    clock.now += 1.5
    ring.receive(Conn(), "vote_req", msg("n2", 1600, addr=SEEDS[1], priority=1, pre=True))
    assert io.of_kind("vote")[-1][1]["granted"] is False


def test_messages_from_an_older_epoch_are_ignored_and_answered_with_the_leader():
    ring, clock, io = make(1)
    clock.now += 1.5
    ring.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    ring.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=1, mv=0, members=None))
    old = Conn()
    ring.receive(old, "assign", msg("n3", 1400, mseq=1, partitions=[(0, token_of(1400, 1))]))
    assert ring.held == {}
    to, body = io.sent[-1][0], io.sent[-1][2]
    assert to is old and io.sent[-1][1] == "leader_is" and body["leader"] == "n1" and body["epoch"] == 1500


def test_lease_runs_out_from_the_send_time_and_the_follower_revokes_itself():
    ring, clock, io = make(1)
    ring.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    clock.now += 0.01
    ring.tick()  # sends heartbeat seq 1 at t0
    t0 = clock.now
    (_, hb), = io.of_kind("heartbeat")
    clock.now += 0.3  # the answer arrives late: the lease still counts from t0
    ring.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=hb["seq"], mv=0, members=None))
    assert ring.lease_expiry == pytest.approx(t0 + 1.0)
    ring.receive(Conn(SEEDS[0]), "assign", msg("n1", 1500, mseq=1, partitions=[(3, token_of(1500, 1))]))
    assert ring.held == {3: token_of(1500, 1)}
    clock.now = t0 + 0.999
    ring.last_leader_contact = clock.now  # keep the leader "heard" so only the lease matters
    ring.tick()
    assert ring.held
    clock.now = t0 + 1.0
    ring.tick()
    assert ring.held == {}
    kind, change = io.events[-1]
    assert kind == "revoked" and change.reason == "lease_expired" and change.expired_at == pytest.approx(t0 + 1.0)


def test_leader_frees_a_silent_followers_partitions_only_after_its_lease_surely_ended():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    e = ring.epoch
    c2, c3 = Conn(), Conn()

    def beat(name, conn, seq):
        m = ring.members.get(name)
        holds = list(ring.table.held(name).items()) if m else []
        ring.receive(conn, "heartbeat", heartbeat(name, e, holdings=holds, seen=m.mseq if m else 0, seq=seq))

    for seq in range(1, 25):  # both heartbeat through the new leader's wait for unreported partitions
        beat("n2", c2, seq)
        beat("n3", c3, seq)
        clock.now += 0.05
        ring.tick()
    owned = {m: set(ring.table.held(m)) for m in ring.members}
    assert owned["n2"] | owned["n3"] == set(range(10)) and owned["n2"] and owned["n3"]
    last_heard = clock.now - 0.05
    # n2 falls silent; n3 keeps heartbeating
    for seq in range(25, 60):
        beat("n3", c3, seq)
        clock.now += 0.05
        ring.tick()
        moved = set(ring.table.held("n3")) & owned["n2"]
        if clock.now < last_heard + 1.0 + ring.margin:  # lease + the documented safety margin
            assert not moved, "reassigned while n2's lease may still be valid"
    assert set(ring.table.held("n3")) == set(range(10))
    new_tokens = [ring.table.held("n3")[p] for p in owned["n2"]]
    assert all(t > token_of(e, 1) for t in new_tokens)  # fencing tokens grew


def test_a_new_leader_keeps_reported_partitions_where_they_are():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    e = ring.epoch
    old = token_of(900, 4)
    ring.receive(Conn(), "heartbeat", heartbeat("n2", e, holdings=[(p, old) for p in range(5)]))
    ring.receive(Conn(), "heartbeat", heartbeat("n3", e, holdings=[(p, old) for p in range(5, 10)]))
    clock.now += 0.01
    ring.tick()
    assert set(ring.table.held("n2")) == set(range(5)) and set(ring.table.held("n3")) == set(range(5, 10))
    assert not io.of_kind("revoke") and not [b for _, b in io.of_kind("assign") if b["partitions"]]  # (probes are empty)


def test_leader_steps_down_without_a_quorum():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    clock.now += 1.01  # nobody heartbeated
    ring.tick()
    assert ring.role == "follower" and ring.leader is None


def test_a_follower_claiming_anothers_partition_gets_no_lease_renewal():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    e = ring.epoch
    c2, c3 = Conn(), Conn()
    ring.receive(c2, "heartbeat", heartbeat("n2", e, holdings=[(1, token_of(e - 1, 1))]))
    assert ring.table.holder(1) == "n2" and io.of_kind("heartbeat_ack")[-1][0] is c2
    acks = len(io.of_kind("heartbeat_ack"))
    ring.receive(c3, "heartbeat", heartbeat("n3", e, holdings=[(1, token_of(e - 1, 1))]))  # a stale claim
    assert len(io.of_kind("heartbeat_ack")) == acks  # not renewed
    assert [b["partitions"] for to, b in io.of_kind("revoke") if to is c3] == [[1]]
    assert ring.table.holder(1) == "n2"


def test_a_leader_that_was_frozen_longer_than_a_lease_steps_down_before_acting():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    clock.now += 2.0  # SIGSTOP
    ring.receive(Conn(), "heartbeat", heartbeat("n2", ring.epoch))  # a stale frame buffered meanwhile
    ring.tick()
    assert ring.role == "follower"


def test_a_hung_revoke_handler_stops_heartbeats_until_the_lease_ran_out():
    ring, clock, io = make(1)
    ring.receive(Conn(), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    clock.now += 0.01
    ring.tick()
    (_, hb), = io.of_kind("heartbeat")
    ring.receive(Conn(SEEDS[0]), "heartbeat_ack", msg("n1", 1500, seq=hb["seq"], mv=0, members=None))
    ring.receive(Conn(SEEDS[0]), "assign", msg("n1", 1500, mseq=1, partitions=[(2, 5), (3, 5)]))
    ring.receive(Conn(SEEDS[0]), "revoke", msg("n1", 1500, mseq=2, partitions=[2]))
    io.pending_revokes[-1](False)  # the handler timed out
    assert 2 not in ring.held and not io.of_kind("revoked")
    sent = len(io.of_kind("heartbeat"))
    clock.now += 0.5
    ring.last_leader_contact = clock.now
    ring.tick()
    assert len(io.of_kind("heartbeat")) == sent  # suspended: the lease will run out
    assert ring.suspended_until >= clock.now
    # the leader asks again: what the hung handler may still use is not answered as let go
    ring.receive(Conn(SEEDS[0]), "revoke", msg("n1", 1500, mseq=3, partitions=[2]))
    assert not io.of_kind("revoked")


def test_a_restarted_voter_only_votes_above_its_floor_and_says_so():
    ring, clock, io = make(2)  # started with epoch floor 1000 (persisted or wall clock)
    clock.now += 1.5
    ring.receive(Conn(), "vote_req", msg("n1", 1000, addr=SEEDS[0], priority=0, pre=False))
    (_, vote), = io.of_kind("vote")
    assert vote["granted"] is False and vote["epoch"] == 1000  # the floor travels back
    ring.receive(Conn(), "vote_req", msg("n1", 1001, addr=SEEDS[0], priority=0, pre=False))
    assert io.of_kind("vote")[-1][1]["granted"] is True


def test_a_refused_candidate_asks_above_the_floor_it_learned():
    ring, clock, io = make(0)
    clock.now += 5
    ring.tick()
    ring.receive(Conn(SEEDS[1]), "vote", msg("n2", 5000, granted=False, pre=True, addr=SEEDS[1]))
    assert ring._next_epoch() == 5001


def test_every_ring_message_kind_has_one_handler_in_the_dispatch_table():
    from ringfast import protocol
    from ringfast.ring.core import DISPATCH

    kinds = {name for name, _ in protocol.MESSAGES.values()} - protocol.AUTH_KINDS - {"refused"}
    assert set(DISPATCH) == kinds
    assert all(callable(handler) for handler, _ in DISPATCH.values())


def test_the_internals_page_lists_the_dispatch_table_as_the_code_has_it():
    import pathlib
    import re

    from ringfast.ring.core import DISPATCH

    page = (pathlib.Path(__file__).parents[2] / "docs" / "internals.md").read_text()
    rows = re.findall(r"^\| (`[a-z_`, ]+`) \|[^|]*\|[^|]*\| (yes|no) \|$", page, re.M)
    listed = {k.strip("` "): yes == "yes" for ks, yes in rows for k in ks.split(",")}
    assert listed == {**{kind: any_epoch for kind, (_, any_epoch) in DISPATCH.items()}, "refused": True}


def test_the_internals_page_lists_every_revoke_purpose_the_code_has():
    import pathlib
    import re

    from ringfast.ring.core import FINISH

    page = (pathlib.Path(__file__).parents[2] / "docs" / "internals.md").read_text()
    section = page.split("| purpose |", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M)) == set(FINISH)


def test_a_revoke_ends_as_an_event_and_only_once():
    ring, clock, io = make(1)
    ring.receive(Conn(SEEDS[0]), "leader_is", msg("n1", 1500, leader="n1", leader_addr=SEEDS[0]))
    ring.lease_expiry = clock.now + 1
    ring.receive(Conn(SEEDS[0]), "assign", msg("n1", 1500, mseq=1, partitions=[[3, token_of(1500, 1)]]))
    ring.receive(Conn(SEEDS[0]), "revoke", msg("n1", 1500, mseq=2, partitions=[3]))
    assert ring.held == {3: token_of(1500, 1)} and len(ring.requests) == 1  # held until the handler returns
    io.pending_revokes[-1](True)
    assert ring.held == {} and ring.requests == {}
    assert [b["partitions"] for _, b in io.of_kind("revoked")] == [[3]]
    with pytest.raises(KeyError):
        io.pending_revokes[-1](True)
