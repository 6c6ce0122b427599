"""Nodes on each engine backend against a real engine: the ring forms, a leave hands over at
once, a frozen engine makes every holder give its partitions up by the end of its lease,
and the journals show no partition held twice."""

from __future__ import annotations

import time

import pytest

import ringfast
from support import ZOOKEEPER_IN_LONG_RUN, stays, wait_for
from ringfast import events as ev


def owners(nodes):
    out = {}
    for n in nodes:
        for p in n.partitions():
            out.setdefault(p, []).append(n.id)
    return out


def start(engine, name, tmp_path, **kw):
    node = ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id=name, num_partitions=12,
                         cluster_name="t", failure_timeout_ms=2000, heartbeat_interval_ms=200,
                         journal=str(tmp_path / f"{name}.jsonl"), monitoring_port="off", **kw)
    return node.start()


def test_a_ring_forms_and_a_leave_hands_over_at_once(engine, tmp_path):
    nodes = [start(engine, f"n{i}", tmp_path, priority=i) for i in range(3)]
    try:
        wait_for(lambda: len(owners(nodes)) == 12 and all(len(v) == 1 for v in owners(nodes).values()), 10,
                 "every partition owned once")
        leaders = [n for n in nodes if n.is_leader]
        assert len(leaders) == 1 and all(n.leader == leaders[0].id for n in nodes)
        assert not leaders[0].partitions()  # the leader owns none by default
        followers = [n for n in nodes if not n.is_leader]
        theirs = set(followers[0].partitions())
        t0 = time.monotonic()
        followers[0].stop()
        wait_for(lambda: theirs <= set(followers[1].partitions()), 1.5, "the leaver's partitions moved")
        assert time.monotonic() - t0 < 1.5  # no lease (2 s) waited out
        tokens = {p: followers[1].fencing_token(p) for p in theirs}
        assert all(t is not None and t > 0 for t in tokens.values())
    finally:
        for n in nodes:
            n.stop()


@ZOOKEEPER_IN_LONG_RUN  # ~5 s each (a 3 s observation window)
def test_a_restart_gets_its_partitions_back_and_nobody_else_holds_them_meanwhile(engine, tmp_path):
    """stop(restart=True): the node revokes what it holds (reason "restart"), the leader
    keeps those partitions for it, and the new process with the same id gets them back
    within the rejoin grace; the other follower never holds them."""
    nodes = [start(engine, f"n{i}", tmp_path, priority=i, rejoin_grace_s=20) for i in range(3)]
    back = None
    try:
        wait_for(lambda: len(owners(nodes)) == 12 and all(len(v) == 1 for v in owners(nodes).values()), 10,
                 "every partition owned once")
        followers = [n for n in nodes if not n.is_leader]
        leaving, other = followers
        theirs, before = set(leaving.partitions()), set(other.partitions())
        reasons = []
        leaving.on(ev.PARTITIONS_REVOKED, lambda c: reasons.append(c.reason))
        got = []
        other.on(ev.PARTITIONS_ASSIGNED, lambda c: got.extend(c.partitions))
        leaving.stop(restart=True)
        assert reasons == ["restart"]
        stays(lambda: set(other.partitions()) == before and not got, 3.0,
              "the other follower's partitions unchanged past the restarting node's lease (2 s)")
        back = start(engine, leaving.id, tmp_path, priority=int(leaving.id[1:]), rejoin_grace_s=20)
        wait_for(lambda: set(back.partitions()) == theirs, 10, "the restarted node has its partitions again")
        assert not got, f"the other follower was given {got}"
    finally:
        for n in [*nodes, back]:
            if n is not None:
                n.stop()


def test_the_leader_failing_over_keeps_partitions_in_place(engine, tmp_path):
    nodes = [start(engine, f"n{i}", tmp_path, priority=i) for i in range(3)]
    try:
        wait_for(lambda: len(owners(nodes)) == 12, 10, "every partition owned")
        leader = next(n for n in nodes if n.is_leader)
        rest = [n for n in nodes if n is not leader]
        before = {n.id: set(n.partitions()) for n in rest}
        elected = []
        rest[0].on(ev.LEADER_CHANGED, lambda c: elected.append(c.leader))
        leader.stop()
        wait_for(lambda: any(n.is_leader for n in rest), 5, "a new leader")
        new = next(n for n in rest if n.is_leader)
        other = next(n for n in rest if n is not new)
        # the new leader owns none: its partitions went to the other, which kept its own
        wait_for(lambda: len(other.partitions()) == 12, 5, "the follower holds every partition")
        assert before[other.id] <= set(other.partitions())
        assert elected and elected[-1] == new.id
    finally:
        for n in nodes:
            n.stop()


@pytest.mark.long  # (5 s: .ci/run runs it with the long tests)
def test_a_frozen_engine_makes_every_holder_give_up_then_all_recover(engine, tmp_path):
    nodes = [start(engine, f"n{i}", tmp_path, priority=i) for i in range(3)]
    revoked = []
    for n in nodes:
        n.on(ev.PARTITIONS_REVOKED, lambda c: revoked.append(c.reason))
    try:
        wait_for(lambda: len(owners(nodes)) == 12, 10, "every partition owned")
        engine.pause()
        t0 = time.monotonic()
        wait_for(lambda: not owners(nodes), 3.0, "every holder gave its partitions up")
        assert time.monotonic() - t0 <= 2.1  # within the lease
        engine.resume()
        wait_for(lambda: len(owners(nodes)) == 12 and all(len(v) == 1 for v in owners(nodes).values()), 15,
                 "every partition owned once again")
        assert "lease_expired" in revoked
    finally:
        engine.resume()
        for n in nodes:
            n.stop()
    _check_journals(tmp_path, [n.id for n in nodes])


def _check_journals(tmp_path, names):
    import json

    holds = {}
    spans = []
    for name in names:
        for line in (tmp_path / f"{name}.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["event"] == "assigned":
                for p in r["partitions"]:
                    holds[(name, p)] = (r["t"], r["tokens"][str(p)])
            elif r["event"] == "revoked":
                for p in r["partitions"]:
                    start, tok = holds.pop((name, p))
                    spans.append((p, name, start, r.get("expired_at") or r["t"], tok))
    for (name, p), (start, tok) in holds.items():
        spans.append((p, name, start, float("inf"), tok))
    for a in spans:
        for b in spans:
            if a[0] == b[0] and a[1] != b[1] and a[2] < b[3] and b[2] < a[3]:
                raise AssertionError(f"partition {a[0]} held twice: {a} and {b}")


@ZOOKEEPER_IN_LONG_RUN  # ~3 s each on ZooKeeper
def test_health_and_metrics_show_the_engine_session(engine, tmp_path):
    import json
    import urllib.error
    import urllib.request

    node = ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id="mon", num_partitions=4, cluster_name="m",
                         leader_owns_partitions=True, monitoring_port=0, failure_timeout_ms=2000).start()
    try:
        assert node.wait_until_ready(10)
        wait_for(lambda: node.monitoring_address is not None and node.engine_status()["keepalive_rtt_s"] is not None,
                 10, "monitoring up and a keepalive answered")
        host, port = node.monitoring_address
        health = json.loads(urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5).read())
        assert health["status"] == "ok" and health["engine"]["connected"] is True
        assert health["engine"]["endpoint"] == engine.endpoints
        metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
        assert "ringfast_engine_connected 1.0" in metrics
        wait_for(lambda: len(node.partitions()) == 4, 5, "the node holds every partition")
        engine.pause()
        wait_for(lambda: not node.partitions(), 5, "the node gave its partitions up")
        refused = []

        def unavailable():
            try:
                urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5)
            except urllib.error.HTTPError as e:
                refused.append((e.code, json.loads(e.read())))
                return True
            return False

        wait_for(unavailable, 3, "/health says 503 with the engine frozen")
        code, body = refused[-1]
        assert code == 503 and body["status"] == "unavailable" and "engine" in body, body
    finally:
        engine.resume()
        node.stop()


@ZOOKEEPER_IN_LONG_RUN  # ~3 s each on ZooKeeper
def test_tokens_keep_growing_across_a_switch_from_the_builtin_backend(engine, tmp_path):
    from ringfast.disk import StateFile

    state = str(tmp_path / "state")
    # a ring whose epochs ran well ahead of the wall clock (many elections): the engine's epoch key
    # starts empty, so only the state dir can carry that history over
    StateFile(state).save(int(time.time()) + 100_000, None)
    got = {}
    builtin = ringfast.Node(node_id="sw", host="127.0.0.1", port=0, num_partitions=4, leader_owns_partitions=True,
                            state_dir=state, monitoring_port="off", failure_timeout_ms=600,
                            heartbeat_interval_ms=100).start()
    try:
        wait_for(lambda: len(builtin.partitions()) == 4, 10, "the builtin node holds everything")
        got["builtin"] = max(builtin.fencing_token(p) for p in range(4))
    finally:
        builtin.stop()
    # the same host and state dir, now on an engine whose epoch key starts empty: its
    # epochs must start above what the state dir recorded, not from the wall clock alone
    moved = ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id="sw", num_partitions=4,
                          leader_owns_partitions=True, state_dir=state, monitoring_port="off",
                          failure_timeout_ms=2000).start()
    try:
        wait_for(lambda: len(moved.partitions()) == 4, 10, "the engine-backed node holds everything")
        got["engine"] = min(moved.fencing_token(p) for p in range(4))
    finally:
        moved.stop()
    assert got["engine"] > got["builtin"], got
