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

import hashlib
import hmac
import json
import os
import re
import struct

from .assumptions import MAX_EPOCH
from .errors import RingfastError

# 2: every ring message carries the settings fingerprint ("cfg"), hello/heartbeat/vote_req
# the process incarnation ("inc"), votes the voter's address; epochs below 2**32; "refused".
# 3: votes say how much longer a leader the voter backed may renew leases ("grants", ms).
# 4: a heartbeat's answer says how long the lease it renews lasts ("lease", ms): never past
#    the leader's quorum deadline.
# 5: the settings fingerprint ("cfg") carries the failure timeout (a fourth field): a node of
#    4 read 5's fingerprints as unreadable and both sides stopped electing; now the frames of
#    the other version are refused as such and the majority keeps its ring during a rollout.
VERSION = 5
MAGIC = b"RF"
_LENGTH = struct.Struct(">I")
_HEAD = struct.Struct(">2sBBB")
MAX_ID = 256
MAX_MEMBERS = 1 << 16  # entries in a member list (a heartbeat answer's)
MAX_PARTITION = 2**31 - 2
MAX_TOKEN = 2**63 - 1
# Before the handshake is done only its three small frames are legal: the largest (an
# auth_challenge with a 255-byte cluster name and a 256-character id, all escaped) stays
# under 3.5 KiB, so an unauthenticated peer cannot make the node buffer and parse megabytes.
PREAUTH_MAX_FRAME = 4096


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


# Ids, addresses and names end up in log lines, JSON answers and metrics: a control
# character (a newline forges a log line) or a lone surrogate (not encodable: every /status
# would fail) is refused here, on the wire, and by config.py at start.
_UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def unsafe_char(text: str) -> str | None:
    """The first character of `text` that must not appear in an id or a name, else None."""
    found = _UNSAFE_CHAR.search(text)
    return found.group() if found else None


def _str(max_len=MAX_ID):
    def check(v):
        if type(v) is not str or not 0 < len(v) <= max_len:
            raise ValueError(f"expected a str of 1..{max_len} chars, got {v!r:.40}")
        if _UNSAFE_CHAR.search(v):
            raise ValueError(f"character {unsafe_char(v)!r} is not allowed, got {v!r:.40}")
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
_cfg = _str(80)
_inc = _int(0, 2**63 - 1)
_wall = _int(0, 2**50)  # milliseconds since the epoch
_voters = _list(_addr, 256)  # the sender's seed list


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
# type number -> (name, {field: check}); every listed field is required.
MESSAGES = {
    1: ("hello", {"addr": _addr, "priority": _priority, "wall": _wall, "voters": _voters}),
    2: ("leader_is", {"leader": _optional(_id), "leader_addr": _optional(_addr)}),
    3: ("vote_req", {"addr": _addr, "priority": _priority, "pre": _bool, "wall": _wall,
                     "voters": _voters}),
    4: ("vote", {"granted": _bool, "pre": _bool, "addr": _addr, "fresh": _bool, "grants": _int(0, 2**31 - 1)}),
    5: ("heartbeat", {"addr": _addr, "priority": _priority, "seq": _count, "acked": _count,
                      "holdings": _holdings, "seen": _count, "mv": _count}),
    6: ("heartbeat_ack", {"seq": _count, "mv": _count, "members": _optional(_list(_member, MAX_MEMBERS)),
                          "lease": _int(0, 2**31 - 1)}),
    7: ("assign", {"mseq": _count, "partitions": _holdings}),
    8: ("revoke", {"mseq": _count, "partitions": _partitions}),
    9: ("revoked", {"partitions": _partitions, "mseq": _count}),  # mseq: of the revoke answered (0: leaving)
    10: ("leave", {"restart": _bool}),
    # a peer broke an assumption (ringfast.assumptions.REFUSAL_REASONS): why, for its log
    14: ("refused", {"reason": _str(32), "detail": _str(300), "voters": _voters}),
    # the authentication handshake (only with a shared secret; see Auth)
    11: ("auth_hello", {"nonce": _str(64)}),
    12: ("auth_challenge", {"nonce": _str(64), "proof": _str(128)}),
    13: ("auth_proof", {"proof": _str(128)}),
}
AUTH_KINDS = frozenset(("auth_hello", "auth_challenge", "auth_proof"))
# Ring messages (all but the handshake) also carry the settings fingerprint ("cfg",
# ringfast.assumptions) and the sender process's incarnation ("inc": it tells two processes
# with one node id apart).
_RING = {"cfg": _cfg, "inc": _inc}
MESSAGES.update({n: (name, {**_RING, **fields}) for n, (name, fields) in MESSAGES.items() if name not in AUTH_KINDS})
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


def encode(kind: str, body: dict, cluster: str, auth: Auth | None = None) -> bytes:
    """One frame for message `kind` (a name in MESSAGES) with `body` (must hold `from`, `epoch`);
    once `auth` has finished its handshake, the frame ends with its MAC."""
    name = cluster.encode("utf-8")
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    head = _HEAD.pack(MAGIC, VERSION, TYPE_OF[kind], len(name))
    frame = head + name + payload
    if auth is not None and auth.ready:
        frame += auth.sign(frame)
    return _LENGTH.pack(len(frame)) + frame


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
    """Turns a byte stream into validated messages; keeps at most one partial frame.

    With an `auth`, frames must follow its state: only the handshake before it is done,
    and after it only frames whose MAC verifies (each once, in order: no replays)."""

    def __init__(self, cluster: str, max_frame_size: int, auth: Auth | None = None):
        self._cluster = cluster.encode("utf-8")
        self._max = max_frame_size
        self._buf = bytearray()
        self._auth = auth

    def feed(self, data: bytes) -> list[tuple[str, dict]]:
        return list(self.frames(data))

    def frames(self, data: bytes):
        """Yield messages one at a time: the handshake changes how the next frame is read."""
        self._buf += data
        while len(self._buf) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buf)
            limit = self._max if self._auth is None or self._auth.ready else min(self._max, PREAUTH_MAX_FRAME)
            if length > limit:
                when = "" if limit == self._max else " before authentication"
                raise ProtocolError("oversized", f"frame of {length} bytes, the limit{when} is {limit}")
            end = _LENGTH.size + length
            if len(self._buf) < end:
                return
            payload = bytes(self._buf[_LENGTH.size : end])
            del self._buf[:end]
            auth = self._auth
            if auth is not None and auth.ready:
                payload = auth.verify(payload)
            kind, body = decode_payload(payload, self._cluster)
            if auth is None and kind in AUTH_KINDS:
                raise ProtocolError("unauthenticated", "this node has no shared secret configured")
            if auth is not None and (kind in AUTH_KINDS) == auth.ready:
                raise ProtocolError("unauthenticated", f"{kind} {'after' if auth.ready else 'before'} the handshake")
            yield kind, body

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return len(self._buf)


class Auth:
    """Mutual challenge-response on a shared secret, then a MAC on every frame.

    The side that connects sends ``auth_hello`` (its nonce); the other answers
    ``auth_challenge`` (its nonce, and a proof it knows the secret bound to both nonces);
    the connector checks it and answers ``auth_proof``. Both then derive a session key from
    the secret and the two nonces. Every later frame carries HMAC-SHA256(key, direction,
    sequence number, frame)[:16]: a frame from another connection (other key) or replayed
    on this one (sequence number already used) fails. The secret never crosses the wire.
    """

    MAC_SIZE = 16

    def __init__(self, secret: bytes, initiator: bool):
        self.secret = secret
        self.initiator = initiator
        self.my_nonce = os.urandom(16)
        self.peer_nonce: bytes | None = None
        self.key: bytes | None = None
        self.sent = 0
        self.received = 0

    @property
    def ready(self) -> bool:
        return self.key is not None

    def _proof(self, label: bytes, first: bytes, second: bytes) -> str:
        return hmac.new(self.secret, label + first + second, hashlib.sha256).hexdigest()

    def _nonces(self) -> tuple[bytes, bytes]:
        """(connector's nonce, acceptor's nonce)"""
        return (self.my_nonce, self.peer_nonce) if self.initiator else (self.peer_nonce, self.my_nonce)

    def hello(self) -> dict:
        return {"nonce": self.my_nonce.hex()}

    def on_hello(self, body: dict) -> dict:
        """Acceptor: the challenge to send back."""
        self.peer_nonce = _nonce(body["nonce"])
        c, s = self._nonces()
        return {"nonce": self.my_nonce.hex(), "proof": self._proof(b"acceptor", c, s)}

    def on_challenge(self, body: dict) -> dict:
        """Connector: check the acceptor knows the secret; the proof that we do too."""
        self.peer_nonce = _nonce(body["nonce"])
        c, s = self._nonces()
        if not _same(body["proof"], self._proof(b"acceptor", c, s)):
            raise ProtocolError("unauthenticated", "the node we connected to does not know our secret")
        self._derive()
        return {"proof": self._proof(b"connector", s, c)}

    def on_proof(self, body: dict) -> None:
        """Acceptor: check the connector knows the secret."""
        if self.peer_nonce is None:
            raise ProtocolError("unauthenticated", "auth_proof before auth_hello")
        c, s = self._nonces()
        if not _same(body["proof"], self._proof(b"connector", s, c)):
            raise ProtocolError("unauthenticated", "wrong proof: the peer does not know the secret")
        self._derive()

    def _derive(self):
        c, s = self._nonces()
        self.key = hmac.new(self.secret, b"session" + c + s, hashlib.sha256).digest()

    def _mac(self, direction: bool, seq: int, frame: bytes) -> bytes:
        msg = (b"c" if direction else b"a") + seq.to_bytes(8, "big") + frame
        return hmac.new(self.key, msg, hashlib.sha256).digest()[: self.MAC_SIZE]

    def sign(self, frame: bytes) -> bytes:
        self.sent += 1
        return self._mac(self.initiator, self.sent, frame)

    def verify(self, payload: bytes) -> bytes:
        if len(payload) < self.MAC_SIZE:
            raise ProtocolError("unauthenticated", "frame too short for its MAC")
        frame, mac = payload[: -self.MAC_SIZE], payload[-self.MAC_SIZE :]
        expected = self._mac(not self.initiator, self.received + 1, frame)
        if not hmac.compare_digest(mac, expected):
            raise ProtocolError("unauthenticated", "bad MAC (forged, replayed or out of order)")
        self.received += 1
        return frame


def _same(got: str, expected: str) -> bool:
    # compare_digest refuses str with non-ASCII characters (TypeError): compare bytes, so a
    # peer's odd proof is a wrong proof, counted, not an exception in the connection
    return hmac.compare_digest(got.encode("utf-8", "surrogatepass"), expected.encode("ascii"))


def _nonce(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ProtocolError("field", "nonce is not hex") from None
    if len(raw) != 16:
        raise ProtocolError("field", "nonce must be 16 bytes")
    return raw
