"""GET /partitions says what Node.partitions() says: nothing once the lease ran out, even
before the node has run again after a freeze (found by the cluster suite: a follower thawed
from SIGSTOP answered a queued poll with partitions that had moved while it was frozen)."""

from types import SimpleNamespace

from ringfast.monitoring_api import _Partitions


def answer(valid_until: float, now: float) -> dict:
    snap = SimpleNamespace(epoch=7, partitions=(1, 2), tokens={1: 11, 2: 12}, valid_until=valid_until)
    node = SimpleNamespace(id="n3", snapshot=lambda: snap, _clock=lambda: now)
    resp = SimpleNamespace(media=None)
    _Partitions(node).on_get(None, resp)
    return resp.media


def test_within_the_lease_the_partitions_and_tokens_are_listed():
    assert answer(valid_until=10.0, now=9.0) == {"node": "n3", "epoch": 7, "partitions": [1, 2],
                                                  "tokens": {"1": 11, "2": 12}}


def test_past_the_lease_nothing_is_listed_though_the_snapshot_is_stale():
    got = answer(valid_until=10.0, now=10.5)
    assert got["partitions"] == [] and got["tokens"] == {}
