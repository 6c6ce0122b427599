"""The soak's bogus-epoch frames (tests/cluster/hostile.py) are well-formed messages of the
protocol as it stands: otherwise the node closes the connection for a missing field and the
check of the epoch bound never runs (the 30-minute soak failed so, after votes gained a
field)."""

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))

import hostile  # noqa: E402
from ringfast import protocol  # noqa: E402
from ringfast.assumptions import MAX_EPOCH  # noqa: E402


@pytest.mark.parametrize("kind", ["hello", "heartbeat", "vote_req", "vote", "leader_is", "assign", "revoke"])
def test_each_bogus_frame_decodes(kind):
    body = hostile.bogus_body(kind, "intruder", MAX_EPOCH - 1, "cfg", "127.0.0.1:9", random.Random(1))
    frame = protocol.encode(kind, body, "ringfast")
    [(got_kind, got)] = protocol.Decoder("ringfast", 1 << 22).feed(frame)
    assert got_kind == kind and got["epoch"] == MAX_EPOCH - 1
