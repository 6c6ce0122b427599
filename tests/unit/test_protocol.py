"""Wire protocol: round trips, every rejection reason, and arbitrary bytes never escape."""

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfast import protocol
from ringfast.protocol import Decoder, ProtocolError, encode

HB = {"from": "n1", "epoch": 7, "cfg": "10/2/abc", "addr": "127.0.0.1:1", "priority": 0, "inc": 5, "seq": 3, "acked": 2, "holdings": [[1, 99]], "seen": 0, "mv": 0}


def test_round_trip_of_every_message_kind_in_pieces():
    bodies = {
        "hello": {"from": "a", "epoch": 0, "cfg": "c", "addr": "h:1", "priority": 2, "inc": 1, "wall": 1, "voters": ["h:1"]},
        "leader_is": {"from": "a", "epoch": 1, "cfg": "c", "leader": None, "leader_addr": None},
        "vote_req": {"from": "a", "epoch": 1, "cfg": "c", "addr": "h:1", "priority": -1, "pre": True, "inc": 2, "wall": 3, "voters": []},
        "vote": {"from": "a", "epoch": 1, "cfg": "c", "granted": False, "pre": False, "addr": "h:1", "fresh": False, "grants": 0},
        "heartbeat": HB,
        "heartbeat_ack": {"from": "a", "epoch": 1, "cfg": "c", "seq": 1, "mv": 2, "lease": 3000, "members": [
            {"id": "x", "addr": "h:2", "priority": 1, "role": "follower", "partitions": [0, 5]}]},
        "assign": {"from": "a", "epoch": 1, "cfg": "c", "mseq": 1, "partitions": [[0, 2**40]]},
        "revoke": {"from": "a", "epoch": 1, "cfg": "c", "mseq": 2, "partitions": [0]},
        "revoked": {"from": "a", "epoch": 1, "cfg": "c", "partitions": [], "mseq": 3},
        "leave": {"from": "a", "epoch": 1, "cfg": "c", "restart": True},
        "refused": {"from": "a", "epoch": 1, "cfg": "c", "reason": "duplicate_id", "detail": "x", "voters": []},
    }
    bodies = {kind: {"inc": 1, **body} for kind, body in bodies.items()}
    stream = b"".join(encode(kind, body, "prod") for kind, body in bodies.items())
    dec = Decoder("prod", 1 << 20)
    got = []
    for i in range(0, len(stream), 7):  # frames split at arbitrary points
        got += dec.feed(stream[i : i + 7])
    assert [k for k, _ in got] == list(bodies)
    for (kind, body), (_, want) in zip(got, bodies.items()):
        assert json.loads(json.dumps(body)) == want  # pairs decode as tuples
    assert dec.pending == 0


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _frame(kind=5, version=protocol.VERSION, cluster=b"c", body=None, magic=b"RF"):
    body = json.dumps(HB if body is None else body).encode() if not isinstance(body, bytes) else body
    return _raw(magic + bytes([version, kind, len(cluster)]) + cluster + body)


@pytest.mark.parametrize(
    "frame, reason",
    [
        (struct.pack(">I", 10_000) + b"x" * 10, "oversized"),
        (_raw(b"RF"), "truncated"),
        (_frame(magic=b"XX"), "bad_magic"),
        (_frame(version=99), "version"),
        (_frame(cluster=b"other"), "cluster"),
        (_frame(kind=200), "type"),
        (_frame(body=b"{not json"), "malformed"),
        (_frame(body=b"\xff\xfe"), "malformed"),
        (_frame(body=[1, 2]), "malformed"),
        (_frame(body={**HB, "epoch": -1}), "field"),
        (_frame(body={**HB, "epoch": "7"}), "field"),
        (_frame(body={k: v for k, v in HB.items() if k != "seq"}), "field"),
        (_frame(body={**HB, "holdings": [[1]]}), "field"),
        (_frame(body={**HB, "holdings": [[-1, 2]]}), "field"),
        (_frame(body={**HB, "from": ""}), "field"),
        (_frame(body={**HB, "from": "x" * 1000}), "field"),
        (_frame(body={**HB, "seq": True}), "field"),
    ],
)
def test_each_rejection_reason(frame, reason):
    with pytest.raises(ProtocolError) as info:
        Decoder("c", 4096).feed(frame)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_frames_up_to_the_limit_pass_and_one_byte_more_does_not():
    frame = encode("heartbeat", HB, "c")
    limit = len(frame) - 4
    assert Decoder("c", limit).feed(frame)[0][0] == "heartbeat"
    with pytest.raises(ProtocolError, match="oversized"):
        Decoder("c", limit - 1).feed(frame)


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_arbitrary_bytes_only_ever_raise_protocol_error(data):
    dec = Decoder("c", 1024)
    try:
        for kind, body in dec.feed(data):
            assert kind in protocol.TYPE_OF and isinstance(body, dict)
    except ProtocolError:
        pass


@given(st.dictionaries(st.sampled_from(list(HB) + ["extra"]), st.one_of(st.none(), st.integers(), st.text(), st.booleans(), st.lists(st.integers()))))
def test_arbitrary_bodies_only_ever_raise_protocol_error(body):
    try:
        Decoder("c", 1 << 16).feed(_frame(body=body))
    except ProtocolError:
        pass
