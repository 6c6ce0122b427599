"""The wire protocol: framing, versioning and validation. Pure functions, no sockets.

A frame is::

    uint32 length (big-endian, of everything after it)
    b"RF"  uint8 version  uint8 type  uint8 len(cluster)  cluster (UTF-8)
    body: a JSON object (UTF-8)

Every field of every message is checked (type and range) before the node sees it; a frame
that fails any check raises :class:`ProtocolError` with a ``reason`` (used as the metrics
label), and the connection it came on is closed. Sizes are O(members) per message: no
message carries a list of members per member.
"""

from __future__ import annotations

import json
import struct

from .errors import RingfastError

VERSION = 1
MAGIC = b"RF"
_LENGTH = struct.Struct(">I")
_HEAD = struct.Struct(">2sBBB")
MAX_ID = 256
MAX_EPOCH = 2**40
MAX_PARTITION = 2**31 - 2
MAX_TOKEN = 2**63 - 1


class ProtocolError(RingfastError, ValueError):
    """A frame broke the protocol; ``reason`` says how (oversized, version, cluster, ...)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# --------------------------------------------------------------------------- field checks


def _int(lo, hi):
    def check(v):
        if type(v) is not int or not lo <= v <= hi:
            raise ValueError(f"expected an int in [{lo}, {hi}], got {v!r:.40}")
        return v

    return check


def _str(max_len=MAX_ID):
    def check(v):
        if type(v) is not str or not 0 < len(v) <= max_len:
            raise ValueError(f"expected a str of 1..{max_len} chars, got {v!r:.40}")
        return v

    return check


def _bool(v):
    if type(v) is not bool:
        raise ValueError(f"expected a bool, got {v!r:.40}")
    return v


def _optional(check):
    def opt(v):
        return None if v is None else check(v)

    return opt


def _list(check, max_len):
    def check_list(v):
        if type(v) is not list or len(v) > max_len:
            raise ValueError(f"expected a list of at most {max_len} items")
        return [check(x) for x in v]

    return check_list


_partition = _int(0, MAX_PARTITION)
_token = _int(0, MAX_TOKEN)
_epoch = _int(0, MAX_EPOCH)
_count = _int(0, 2**62)
_id = _str()
_addr = _str(300)
_priority = _int(-(2**31), 2**31 - 1)


def _pair(v):
    if type(v) is not list or len(v) != 2:
        raise ValueError(f"expected [partition, token], got {v!r:.40}")
    return (_partition(v[0]), _token(v[1]))


_holdings = _list(_pair, 1 << 22)
_partitions = _list(_partition, 1 << 22)


def _member(v):
    if type(v) is not dict:
        raise ValueError("a member must be an object")
    return _check_fields(v, _MEMBER_FIELDS)


_MEMBER_FIELDS = {"id": _id, "addr": _addr, "priority": _priority, "role": _str(16), "partitions": _partitions}

_COMMON = {"from": _id, "epoch": _epoch}

# type number -> (name, {field: check}); every listed field is required.
MESSAGES = {
    1: ("hello", {"addr": _addr, "priority": _priority}),
    2: ("leader_is", {"leader": _optional(_id), "leader_addr": _optional(_addr)}),
    3: ("vote_req", {"addr": _addr, "priority": _priority, "pre": _bool}),
    4: ("vote", {"granted": _bool, "pre": _bool}),
    5: ("heartbeat", {"addr": _addr, "priority": _priority, "seq": _count, "acked": _count, "holdings": _holdings,
                      "seen": _count, "mv": _count}),
    6: ("heartbeat_ack", {"seq": _count, "mv": _count, "members": _optional(_list(_member, 1 << 16))}),
    7: ("assign", {"mseq": _count, "partitions": _holdings}),
    8: ("revoke", {"mseq": _count, "partitions": _partitions}),
    9: ("revoked", {"partitions": _partitions}),
    10: ("leave", {"restart": _bool}),
}
TYPE_OF = {name: number for number, (name, _) in MESSAGES.items()}


def _check_fields(body: dict, fields: dict) -> dict:
    out = {}
    for name, check in fields.items():
        if name not in body:
            raise ValueError(f"missing field {name!r}")
        try:
            out[name] = check(body[name])
        except ValueError as e:
            raise ValueError(f"field {name!r}: {e}") from None
    return out


# --------------------------------------------------------------------------- frames


def encode(kind: str, body: dict, cluster: str) -> bytes:
    """One frame for message `kind` (a name in MESSAGES) with `body` (must hold `from`, `epoch`)."""
    name = cluster.encode("utf-8")
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    head = _HEAD.pack(MAGIC, VERSION, TYPE_OF[kind], len(name))
    return _LENGTH.pack(len(head) + len(name) + len(payload)) + head + name + payload


def decode_payload(payload: bytes, cluster: bytes) -> tuple[str, dict]:
    """Check one frame's payload (after the length) and return (kind, validated body)."""
    if len(payload) < _HEAD.size:
        raise ProtocolError("truncated", f"frame of {len(payload)} bytes has no header")
    magic, version, kind, name_len = _HEAD.unpack_from(payload)
    if magic != MAGIC:
        raise ProtocolError("bad_magic", f"frame starts with {magic!r}, not {MAGIC!r}")
    if version != VERSION:
        raise ProtocolError("version", f"protocol version {version}, this node speaks {VERSION}")
    name_end = _HEAD.size + name_len
    if payload[_HEAD.size : name_end] != cluster:
        got = payload[_HEAD.size : name_end].decode("utf-8", "replace")
        raise ProtocolError("cluster", f"frame for cluster {got!r}, this is {cluster.decode()!r}")
    if kind not in MESSAGES:
        raise ProtocolError("type", f"unknown message type {kind}")
    name, fields = MESSAGES[kind]
    try:
        body = json.loads(payload[name_end:])
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProtocolError("malformed", f"{name} body is not JSON: {e}") from None
    if type(body) is not dict:
        raise ProtocolError("malformed", f"{name} body is not a JSON object")
    try:
        checked = _check_fields(body, _COMMON)
        checked.update(_check_fields(body, fields))
    except ValueError as e:
        raise ProtocolError("field", f"{name}: {e}") from None
    return name, checked


class Decoder:
    """Turns a byte stream into validated messages; keeps at most one partial frame."""

    def __init__(self, cluster: str, max_frame_size: int):
        self._cluster = cluster.encode("utf-8")
        self._max = max_frame_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, dict]]:
        self._buf += data
        out = []
        while len(self._buf) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buf)
            if length > self._max:
                raise ProtocolError("oversized", f"frame of {length} bytes, the limit is {self._max}")
            end = _LENGTH.size + length
            if len(self._buf) < end:
                break
            payload = bytes(self._buf[_LENGTH.size : end])
            del self._buf[:end]
            out.append(decode_payload(payload, self._cluster))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return len(self._buf)
