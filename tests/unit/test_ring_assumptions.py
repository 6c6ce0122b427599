"""Peers that break an assumption are refused, never believed (issue 10, guarantee G7)."""

import logging
import random
import time

import pytest

from ringfast import protocol
from ringfast.assumptions import EPOCH_HEADROOM, MAX_EPOCH, explain_mismatch, fingerprint
from ringfast.config import Config
from ringfast.ring import DRIFT, Ring, token_of
from test_ring import FP, SEEDS, Clock, Conn, DrivenRing, IO, elect, heartbeat, make, msg

FIVE = tuple(f"127.0.0.1:{i}" for i in range(1, 6))


def make5(i=0):
    cfg = Config.load({}, node_id=f"n{i + 1}", port=i + 1, seeds=",".join(FIVE), heartbeat_interval=100,
                      failure_timeout=1000, monitoring_port="off")
    clock, io = Clock(), IO()
    io.ring = ring = DrivenRing(cfg, io, clock, epoch=1000, rng=random.Random(i))
    return ring, clock, io


def make_with_seeds(i, seeds):
    cfg = Config.load({}, node_id=f"n{i + 1}", port=i + 1, seeds=",".join(seeds), heartbeat_interval=100,
                      failure_timeout=1000, monitoring_port="off")
    clock, io = Clock(), IO()
    io.ring = ring = DrivenRing(cfg, io, clock, epoch=1000, rng=random.Random(i))
    return ring, clock, io


def refusals(io):
    return [body for _, body in io.of_kind("refused")]


def test_a_vote_request_from_a_node_with_other_settings_is_refused_and_names_the_setting():
    ring, clock, io = make(1)
    clock.now += 5
    other = fingerprint(12, 2, SEEDS, 1.0)  # NUM_PARTITIONS=12 there
    ring.receive(Conn(), "vote_req", msg("n1", 2000, cfg=other, addr=SEEDS[0], priority=0, pre=False))
    assert not io.of_kind("vote") and ring.voted is None and ring.epoch == 0
    [refusal] = refusals(io)
    assert refusal["reason"] == "settings_mismatch" and "NUM_PARTITIONS 10 on 'n2', 12 on 'n1'" in refusal["detail"]


def test_each_differing_setting_is_named():
    a = fingerprint(10, 2, ["h1:1", "h2:1", "h3:1"], 1.0)
    assert "quorum 2 on here, 3 on there" in explain_mismatch(a, fingerprint(10, 3, ["h1:1", "h2:1", "h3:1"], 1.0))
    assert "SEED_NODES" in explain_mismatch(a, fingerprint(10, 2, ["h1:1", "h2:1", "h4:1"], 1.0))
    assert explain_mismatch(a, fingerprint(10, 2, ["h3:1", "h1:1", "h2:1"], 1.0)) == "settings differ"  # order is no difference
    assert fingerprint(10, 2, ["h3:1", "h1:1", "h2:1"], 1.0) == a
    assert "FAILURE_TIMEOUT 1000 ms on here, 3000 ms on there" in explain_mismatch(
        a, fingerprint(10, 2, ["h1:1", "h2:1", "h3:1"], 3.0))


def test_the_node_refused_logs_why(caplog):
    ring, clock, io = make(1)
    with caplog.at_level(logging.ERROR, logger="ringfast.ring"):
        for _ in range(3):
            ring.receive(Conn(), "refused", msg("n1", 0, reason="duplicate_id", detail="node id 'n2' is already a live member"))
    assert ring.refusal == ("n1", "duplicate_id", "node id 'n2' is already a live member")
    assert len([r for r in caplog.records if "refused this node" in r.getMessage()]) == 1  # once, not per frame


def test_a_second_process_with_a_members_id_is_refused_and_the_first_keeps_its_partitions():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    first = Conn()
    ring.receive(first, "heartbeat", heartbeat("n2", ring.epoch, holdings=[(p, token_of(900, 1)) for p in range(5)]))
    held = set(ring.table.held("n2"))
    assert held == set(range(5))
    io.sent.clear()
    second = Conn()
    ring.receive(second, "heartbeat", {**heartbeat("n2", ring.epoch), "inc": 2})  # another process, id n2
    assert [b["reason"] for b in refusals(io)] == ["duplicate_id"]
    assert not io.of_kind("heartbeat_ack")
    assert ring.members["n2"].link is first and set(ring.table.held("n2")) == held
    assert all(ring.table.holder(p) == "n2" for p in held)


def test_the_same_process_on_a_new_connection_is_a_reconnect():
    ring, clock, io = make(0)
    elect(ring, clock, io)
    ring.receive(Conn(), "heartbeat", heartbeat("n2", ring.epoch))
    second = Conn()
    ring.receive(second, "heartbeat", heartbeat("n2", ring.epoch, seq=2))
    assert ring.members["n2"].link is second and not refusals(io)


def test_a_node_hearing_its_own_id_from_another_process_says_so_and_tells_it(caplog):
    # an impostor of the leader (or of any node) is told why it is refused, not only the
    # node it impersonates: its operator sees it in its own log
    ring, clock, io = make(0)
    elect(ring, clock, io)
    io.sent.clear()
    impostor = Conn()
    with caplog.at_level(logging.ERROR, logger="ringfast.ring"):
        ring.receive(impostor, "hello", msg("n1", 0, inc=ring.inc + 1, addr="127.0.0.1:9", priority=0))
    assert [(to, b["reason"]) for to, b in io.of_kind("refused")] == [(impostor, "duplicate_id")]
    assert "is live at " + ring.addr in io.of_kind("refused")[0][1]["detail"]
    assert any("refusing node 'n1': duplicate_id" in r.getMessage() for r in caplog.records)
    assert not io.of_kind("leader_is")  # not answered as a peer
    assert ring.role == "leader"


def test_a_second_process_with_a_live_nodes_id_does_not_take_its_place_among_the_known():
    ring, clock, io = make(1)  # n2, a follower: the leader's membership check does not apply
    ring.receive(Conn(), "hello", msg("n1", 1000, inc=1, addr=SEEDS[0], priority=0))
    assert ring.known["n1"][0] == SEEDS[0]
    clock.now += ring.L / 2
    impostor = {"inc": 2, "addr": "127.0.0.1:9", "priority": 0}
    ring.receive(Conn(), "hello", msg("n1", 1000, **impostor))
    ring.receive(Conn(), "vote_req", msg("n1", 1001, **impostor, pre=True))
    assert ring.known["n1"][0] == SEEDS[0]  # not the impostor's address
    assert ring.known["n1"][2] == clock.now - ring.L / 2  # nor does it keep the real one's entry fresh
    assert not [b for _, b in io.of_kind("vote") if b["granted"]]
    clock.now += ring.L  # the first one silent for a failure timeout: a restart elsewhere, say
    ring.receive(Conn(), "hello", msg("n1", 1000, **impostor))
    assert ring.known["n1"][0] == "127.0.0.1:9"


def test_two_seed_addresses_answered_by_one_process_count_as_one_vote():
    ring, clock, io = make5(0)  # quorum 3 of 5
    clock.now += 5
    ring.tick()
    assert ring.role == "candidate"
    for addr in FIVE[1:3]:  # a relay maps both addresses to the process of n2
        ring.receive(Conn(addr), "vote", msg("n2", 0, granted=True, pre=True, addr=addr, cfg=ring.fp))
    assert ring.prevote and ring.role == "candidate"  # 2 voters (n1, n2), not 3
    ring.receive(Conn(FIVE[3]), "vote", msg("n4", 0, granted=True, pre=True, addr=FIVE[3], cfg=ring.fp))
    assert not ring.prevote  # three distinct voters: on to the real election


def test_a_vote_from_a_process_that_is_not_the_seed_it_was_reached_at_does_not_count():
    ring, clock, io = make5(0)
    clock.now += 5
    ring.tick()
    ring.receive(Conn(FIVE[1]), "vote", msg("n2", 0, granted=True, pre=True, addr=FIVE[1], cfg=ring.fp))
    ring.receive(Conn(FIVE[2]), "vote", msg("n4", 0, granted=True, pre=True, addr=FIVE[3], cfg=ring.fp))  # n4 answers at n3's address
    assert ring.prevote and ring._vote_count() == 2


def test_an_epoch_beyond_what_time_allows_is_refused_not_adopted():
    ring, clock, io = make(1)
    cap = int(time.time()) + EPOCH_HEADROOM
    ring.receive(Conn(), "hello", msg("n3", cap + 10, addr=SEEDS[2], priority=2))
    ring.receive(Conn(), "leader_is", msg("n3", cap + 10, leader="n3", leader_addr=SEEDS[2]))
    assert ring.epoch == 0 and ring.epoch_floor == 1000 and ring.leader is None
    assert {b["reason"] for b in refusals(io)} == {"epoch_out_of_range"}
    ring.receive(Conn(), "hello", msg("n3", 5000, addr=SEEDS[2], priority=2))
    assert ring.epoch_floor == 5000  # an ordinary newer epoch is still learnt


def test_the_wire_refuses_epochs_whose_tokens_would_not_fit():
    assert token_of(MAX_EPOCH, 2**31 - 1) < 2**63
    body = {"from": "a", "epoch": MAX_EPOCH + 1, "cfg": FP, "inc": 1, "restart": False}
    with pytest.raises(protocol.ProtocolError) as e:
        protocol.Decoder("c", 1 << 16).feed(protocol.encode("leave", body, "c"))
    assert e.value.reason == "field"


def test_the_lease_margin_covers_a_follower_clock_slower_by_the_whole_drift():
    ring, _, _ = make(0)
    follower_lease_in_our_time = ring.L / (1 - DRIFT)  # its clock runs DRIFT slower than ours
    assert ring.L + ring.margin >= follower_lease_in_our_time


def test_a_leaders_own_partitions_are_reported_only_until_its_quorum_deadline():
    from ringfast.snapshot import SnapshotMaker

    ring, clock, io = make(0, leader_owns_partitions=True)
    elect(ring, clock, io)
    snap = SnapshotMaker().take(ring, clock.now)
    deadline = ring._quorum_until(clock.now)
    assert snap.valid_until == deadline < clock.now + 2  # not forever: a frozen leader's lapse


def test_which_differences_between_voters_stop_elections():
    from ringfast.assumptions import conflicts

    v = ["a:1", "b:1", "c:1"]
    ours = fingerprint(10, 2, v, 1.0)
    assert conflicts(ours, v, fingerprint(12, 2, v, 1.0), v) is None  # refused, but no second majority possible
    plus_one = v + ["d:1"]
    assert conflicts(ours, v, fingerprint(10, 3, plus_one, 1.0), plus_one) is None  # one voter added: safe
    assert conflicts(ours, v, fingerprint(10, 2, v[:2], 1.0), v[:2]) is None  # one voter removed: safe
    swapped = ["a:1", "b:1", "x:1"]
    assert "differ by 2 voters" in conflicts(ours, v, fingerprint(10, 2, swapped, 1.0), swapped)
    assert "quorum 1 there, 2 here" in conflicts(ours, v, fingerprint(10, 1, v, 1.0), v)
    assert conflicts(ours, v, fingerprint(10, 3, v, 1.0), v) is None  # a larger quorum over the same voters


def test_one_voter_added_with_a_quorum_below_the_new_majority_stops_elections():
    # 5 voters (majority 3) and the same plus a sixth with RINGFAST_QUORUM=3: {a, b, c} and
    # {d, e, f} are disjoint quorums, one of each. One voter changed is safe only with majorities.
    from ringfast.assumptions import conflicts, two_quorums_possible

    five = ["a:1", "b:1", "c:1", "d:1", "e:1"]
    six = five + ["f:1"]
    assert two_quorums_possible(five, 3, six, 3) and not two_quorums_possible(five, 3, six, 4)
    assert "differ by 1 voters (f:1), quorum 3 here and 3 there" in conflicts(
        fingerprint(10, 3, five, 1.0), five, fingerprint(10, 3, six, 1.0), six)
    assert conflicts(fingerprint(10, 3, five, 1.0), five, fingerprint(10, 4, six, 1.0), six) is None
    # a voter list that is not the one its fingerprint names is taken as unknown: the worst case
    assert "theirs unknown" in conflicts(fingerprint(10, 3, five, 1.0), five, fingerprint(10, 4, six, 1.0), five)


def test_a_node_restarted_into_a_voter_set_of_its_own_stops_when_the_others_list_it():
    # A botched rollout: n2 restarted with voters {n2, n3, x} (a majority of them: n2 and n3)
    # hears a hello from n1, which runs the old set. n1 is no voter of n2's any more, but n1
    # lists n2 among its voters: n2 must stop electing too, or {n2, n3} elect beside n1's ring.
    bad = (SEEDS[1], SEEDS[2], "10.98.0.1:7000")
    ring, clock, io = make_with_seeds(1, bad)
    clock.now += 5
    ring.receive(Conn(), "hello", msg("n1", 1000, addr=SEEDS[0], priority=0))
    assert ring.conflict_until > clock.now
    assert [b["reason"] for b in refusals(io)] == ["settings_mismatch"]
    ring.tick()
    assert ring.role == "follower"  # no candidacy while the conflict lasts
    ring.receive(Conn(), "vote_req", {**msg("n3", 2000, addr=SEEDS[2], priority=2, pre=True), "cfg": ring.fp,
                                       "voters": list(bad)})
    assert not [b for _, b in io.of_kind("vote") if b["granted"]]
    # A node that neither lists n1 nor is listed by it (no shared voters) is no conflict of ours.
    other, clock2, io2 = make_with_seeds(1, bad)
    other.receive(Conn(), "hello", {**msg("n1", 1000, addr="10.1.1.1:7000", priority=0), "voters": ["10.1.1.1:7000"]})
    assert other.conflict_until <= clock2.now


def test_the_skew_gauge_shows_the_most_skewed_peer_heard_lately_and_the_warning_names_it(caplog):
    # Without a state dir epochs start from wall clocks: a skewed peer must show, and keep
    # showing while it is heard, even when honest peers are heard after it (the gauge once
    # held only the last peer's difference).
    from ringfast.metrics import NoMetrics

    class Gauge:
        value = None

        def set(self, v):
            self.value = v

    class Metrics(NoMetrics):
        clock_skew = Gauge()

    cfg = Config.load({}, node_id="n2", port=2, seeds=",".join(SEEDS), heartbeat_interval=100,
                      failure_timeout=1000, monitoring_port="off")
    clock, io = Clock(), IO()
    wall = [10_000.0]
    io.ring = ring = DrivenRing(cfg, io, clock, epoch=1000, rng=random.Random(1), metrics=Metrics(), wall=lambda: wall[0])
    gauge = ring.metrics.clock_skew
    with caplog.at_level(logging.WARNING, logger="ringfast.ring"):
        ring.receive(Conn(), "hello", msg("n1", 1000, addr=SEEDS[0], priority=0, wall=int((wall[0] + 600) * 1000)))
        ring.receive(Conn(), "hello", msg("n3", 1000, addr=SEEDS[2], priority=2, wall=int(wall[0] * 1000)))
    assert gauge.value == pytest.approx(600)
    [warning] = [r.getMessage() for r in caplog.records if "wall clock of node" in r.getMessage()]
    assert "'n1'" in warning and "600.0s" in warning and "may go backwards" in warning
    # a minute later, with only honest peers heard since, the gauge comes down
    clock.now += 61
    wall[0] += 61
    ring.receive(Conn(), "hello", msg("n3", 1000, addr=SEEDS[2], priority=2, wall=int(wall[0] * 1000)))
    assert gauge.value == pytest.approx(0, abs=0.01)


def test_one_frame_from_a_non_member_with_a_newer_epoch_does_not_depose_the_leader():
    # A heartbeat (or ack, assign, revoke, leave) in an epoch above ours came from no one we
    # lead or follow: it is refused, not adopted (it made the leader step down, and a ring
    # re-elect, on one frame). A hello from a non-voter does not either; a voter's does.
    ring, clock, io = make(0)
    elect(ring, clock, io)
    epoch = ring.epoch
    for kind, extra in (("heartbeat", dict(addr="10.66.0.1:7000", priority=0, seq=1, acked=0, holdings=[], seen=0, mv=0)),
                        ("assign", dict(mseq=1, partitions=[[0, 1]])), ("leave", dict(restart=False))):
        ring.receive(Conn(), kind, msg("n9", epoch + 1, **extra))
        assert ring.role == "leader" and ring.epoch == epoch, kind
    assert [b["reason"] for b in refusals(io)] == ["epoch_out_of_range"] * 3
    ring.receive(Conn(), "hello", msg("n9", epoch + 5, addr="10.66.0.1:7000", priority=0))
    assert ring.role == "leader" and ring.epoch_floor < epoch + 5
    ring.receive(Conn(), "hello", msg("n2", epoch + 5, addr=SEEDS[1], priority=1))
    assert ring.role == "follower" and ring.epoch_floor == epoch + 5  # a voter took part in a newer election
