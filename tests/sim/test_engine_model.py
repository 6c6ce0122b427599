"""The engine model (engine_model.py) behaves as etcd does where the backends will rely on it."""

import pytest

from engine_model import MIN_TTL, Compacted, EngineError, EngineModel, LeaseNotFound


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def eng():
    clock = Clock()
    e = EngineModel(clock)
    e.test_clock = clock
    return e


def test_every_write_raises_the_revision_by_one_and_keys_remember_theirs(eng):
    assert eng.put("a", "1") == 1
    assert eng.put("b", "1") == 2
    assert eng.put("a", "2") == 3
    a = eng.get("a")
    assert (a.value, a.create_revision, a.mod_revision, a.version) == ("2", 1, 3, 2)
    assert eng.delete("a") == 4 and eng.get("a") is None
    assert eng.delete("a") == 4  # deleting nothing writes nothing
    assert eng.put("a", "3") == 5 and eng.get("a").create_revision == 5  # a new key, a new creation


def test_a_transaction_is_all_or_nothing_at_one_revision(eng):
    ok, rev = eng.txn([("create", "lead", "==", 0)], [("put", "lead", "n1", None), ("put", "assign", "x", None)])
    assert ok and rev == 1 and eng.get("assign").mod_revision == eng.get("lead").mod_revision == 1
    ok, rev = eng.txn([("create", "lead", "==", 0)], [("put", "lead", "n2", None)], [])
    assert not ok and rev == 1 and eng.get("lead").value == "n1"


def test_a_deposed_leaders_guarded_write_fails(eng):
    """How a backend's leader writes the assignment: only while its leadership key is the
    one it created. Once its lease ran out and another took the key, its write fails."""
    l1 = eng.grant(MIN_TTL)
    _, rev1 = eng.txn([("create", "lead", "==", 0)], [("put", "lead", "n1", l1)])
    guard = [("create", "lead", "==", rev1)]
    assert eng.txn(guard, [("put", "assignment", "v1", None)])[0]
    eng.test_clock.now += MIN_TTL  # n1 stops renewing: its lease and its key go
    assert eng.get("lead") is None
    l2 = eng.grant(MIN_TTL)
    assert eng.txn([("create", "lead", "==", 0)], [("put", "lead", "n2", l2)])[0]
    assert not eng.txn(guard, [("put", "assignment", "v2 from n1", None)])[0]
    assert eng.get("assignment").value == "v1"


def test_leases_are_whole_seconds_at_least_the_minimum_and_renew_from_the_keepalive(eng):
    lease = eng.grant(0.3)
    assert eng.time_to_live(lease) == MIN_TTL
    assert eng.leases[eng.grant(2.5)].ttl == 3
    eng.put("m/n1", "up", lease)
    eng.test_clock.now = 1.5
    assert eng.keepalive(lease) == MIN_TTL
    eng.test_clock.now = 3.4  # 3.5 after the keepalive at 1.5 would be the end
    assert eng.get("m/n1") is not None
    eng.test_clock.now = 3.5
    assert eng.get("m/n1") is None
    with pytest.raises(LeaseNotFound, match=f"lease {lease}"):
        eng.keepalive(lease)  # an expired lease is gone for good
    with pytest.raises(EngineError, match="must be positive"):
        eng.grant(0)


def test_an_expiry_deletes_all_its_keys_in_one_revision_seen_by_watches(eng):
    lease = eng.grant(2)
    eng.put("m/a", "1", lease)
    eng.put("m/b", "1", lease)
    eng.put("other", "1", lease)
    start = eng.revision
    eng.test_clock.now = 2.0
    eng.advance()
    assert eng.revision == start + 1
    assert [(e.revision, e.kind, e.key) for e in eng.events("m/", start)] == [(start + 1, "delete", "m/a"), (start + 1, "delete", "m/b")]


def test_a_put_without_the_lease_detaches_the_key(eng):
    lease = eng.grant(2)
    eng.put("k", "1", lease)
    eng.put("k", "2")  # no lease now: it outlives the lease
    eng.test_clock.now = 5
    assert eng.get("k").value == "2"


def test_a_put_on_a_dead_lease_is_refused_and_changes_nothing(eng):
    lease = eng.grant(2)
    eng.test_clock.now = 2
    with pytest.raises(LeaseNotFound):
        eng.txn([], [("put", "a", "1", None), ("put", "b", "1", lease)])
    assert eng.get("a") is None and eng.revision == 0


def test_watches_read_history_in_order_until_it_is_compacted(eng):
    eng.put("p/1", "a")
    eng.put("q/1", "a")
    eng.put("p/2", "b")
    assert [(e.revision, e.key, e.value) for e in eng.events("p/", 0)] == [(1, "p/1", "a"), (3, "p/2", "b")]
    assert [e.key for e in eng.events("p/", 1)] == ["p/2"]
    eng.compact(2)
    assert [e.key for e in eng.events("p/", 2)] == ["p/2"]
    with pytest.raises(Compacted, match="revision 1 is compacted"):
        eng.events("p/", 1)
    keys, rev = eng.range("p/")
    assert [k for k, _ in keys] == ["p/1", "p/2"] and rev == 3  # re-read, then watch from rev
