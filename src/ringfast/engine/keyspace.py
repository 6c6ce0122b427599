"""Where a ring keeps its state in a coordination engine, and how each value is spelt.

Every key of one cluster lives under ``ringfast/<cluster name>/`` (so two clusters can share
an engine, and one range read gets the whole ring):

| key | lease | value (JSON) | written by |
|---|---|---|---|
| ``config`` | none | ``{"num_partitions": P}`` | the first member, once (create-if-absent) |
| ``epoch`` | none | ``{"epoch": e}``: the last leadership's epoch | each election, in the electing txn |
| ``leader`` | the leader's | ``{"id": ..., "epoch": e}`` | the electing txn (create-if-absent) |
| ``table`` | none | ``{"epoch", "gen", "owners", "regs", "tokens", "revoking"}`` | the leader, guarded by its ``leader`` key |
| ``member/<id>`` | the member's | ``{"addr", "priority", "held", "seen", "leaving"}`` | that member |
| ``rejoin/<id>`` | none | ``{"until": wall-clock seconds, "reg": r}``: registration ``r`` stopped to restart | that member, as it stops with ``restart=True``; deleted by the leader (rejoin.py) |

The ``leader`` key and every ``member/`` key are bound to their writer's lease, so the
engine deletes them when that process stops renewing it: that deletion is how the leader
learns that a member is gone *and* that its lease surely ended (see member.py).

Values are checked when read: a value this version cannot read is reported (logged once by
the caller) and treated as the safe reading, never as "absent".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def prefix_of(cluster: str) -> str:
    return f"ringfast/{cluster}/"


CONFIG = "config"
EPOCH = "epoch"
LEADER = "leader"
TABLE = "table"
MEMBER = "member/"
REJOIN = "rejoin/"


class BadValue(ValueError):
    """A value under the ring's prefix that this version cannot read."""


@dataclass(frozen=True)
class Entry:
    """One key as read from the engine."""

    value: str
    create_revision: int
    mod_revision: int
    lease: int | None


@dataclass
class MemberValue:
    addr: str
    priority: int
    held: dict[int, int] = field(default_factory=dict)  # partition -> token, as of `seen`
    seen: int = 0  # the table revision this member had processed when it wrote `held`
    leaving: bool = False

    def encode(self) -> str:
        return _dump({"addr": self.addr, "priority": self.priority, "held": {str(p): t for p, t in sorted(self.held.items())},
                      "seen": self.seen, "leaving": self.leaving})


@dataclass(frozen=True)
class RejoinValue:
    """A member's word, as it stopped to restart: keep what registration `reg` held for its
    return until `until` (its wall clock, in seconds)."""

    until: float
    reg: int

    def encode(self) -> str:
        return _dump({"until": self.until, "reg": self.reg})


def decode_rejoin(text: str, what: str) -> RejoinValue:
    obj = _load(text, what)
    until = obj.get("until")
    if not isinstance(until, (int, float)) or isinstance(until, bool) or until != until:
        raise BadValue(f"{what}: field 'until' = {until!r} is not a time in seconds")
    return RejoinValue(float(until), _int(obj, "reg", what, lo=1))


@dataclass
class Table:
    """The leader's assignment: per partition its owner (or None), the registration it was
    granted to (the create revision of the owner's member key: a process that registers
    later with the same id, after that key was gone, does not inherit the grant), the
    fencing token of that grant, and whether the owner is asked to give it back.
    `epoch`/`gen` are the last grant's: the next token in epoch `epoch` is
    ``token_of(epoch, gen + 1)``. `kept`: free partitions held back for a member that
    stopped to restart (partition -> its id), until it returns or its grace ends."""

    epoch: int
    gen: int
    owners: list[str | None]
    regs: list[int]
    tokens: list[int]
    revoking: set[int] = field(default_factory=set)
    kept: dict[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, num_partitions: int) -> Table:
        return cls(0, 0, [None] * num_partitions, [0] * num_partitions, [0] * num_partitions)

    def copy(self) -> Table:
        return Table(self.epoch, self.gen, list(self.owners), list(self.regs), list(self.tokens), set(self.revoking),
                     dict(self.kept))

    def encode(self) -> str:
        obj = {"epoch": self.epoch, "gen": self.gen, "owners": self.owners, "regs": self.regs,
               "tokens": self.tokens, "revoking": sorted(self.revoking)}
        if self.kept:  # (absent when empty: a table without restarts reads as before)
            obj["kept"] = {str(p): who for p, who in sorted(self.kept.items())}
        return _dump(obj)

    def unowned(self) -> int:
        return sum(1 for o in self.owners if o is None)


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _load(text: str, what: str) -> dict:
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise BadValue(f"{what}: not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise BadValue(f"{what}: expected an object, got {type(obj).__name__}")
    return obj


def _int(obj: dict, name: str, what: str, lo: int = 0) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise BadValue(f"{what}: field {name!r} = {value!r} is not an integer >= {lo}")
    return value


def decode_member(text: str, what: str) -> MemberValue:
    obj = _load(text, what)
    addr = obj.get("addr")
    if not isinstance(addr, str):
        raise BadValue(f"{what}: field 'addr' = {addr!r} is not a string")
    priority = obj.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise BadValue(f"{what}: field 'priority' = {priority!r} is not an integer")
    held_raw = obj.get("held")
    if not isinstance(held_raw, dict):
        raise BadValue(f"{what}: field 'held' = {held_raw!r} is not an object")
    held = {}
    for p, t in held_raw.items():
        if not (isinstance(p, str) and p.isdigit() and isinstance(t, int) and not isinstance(t, bool)):
            raise BadValue(f"{what}: held entry {p!r}: {t!r} is not partition: token")
        held[int(p)] = t
    return MemberValue(addr, priority, held, _int(obj, "seen", what), bool(obj.get("leaving", False)))


def decode_table(text: str, num_partitions: int, what: str) -> Table:
    obj = _load(text, what)
    owners, regs, tokens = obj.get("owners"), obj.get("regs"), obj.get("tokens")
    if not (isinstance(owners, list) and isinstance(regs, list) and isinstance(tokens, list)
            and len(owners) == len(regs) == len(tokens) == num_partitions):
        raise BadValue(f"{what}: 'owners', 'regs' and 'tokens' must be lists of {num_partitions} entries")
    if not all(o is None or isinstance(o, str) for o in owners):
        raise BadValue(f"{what}: an owner is neither a node id nor null")
    if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens + regs):
        raise BadValue(f"{what}: a token or a registration is not an integer >= 0")
    revoking = obj.get("revoking", [])
    if not (isinstance(revoking, list) and all(isinstance(p, int) and 0 <= p < num_partitions for p in revoking)):
        raise BadValue(f"{what}: 'revoking' is not a list of partitions")
    kept_raw = obj.get("kept", {})
    if not isinstance(kept_raw, dict):
        raise BadValue(f"{what}: 'kept' is not an object")
    kept = {}
    for p, who in kept_raw.items():
        if not (isinstance(p, str) and p.isdigit() and int(p) < num_partitions and isinstance(who, str)):
            raise BadValue(f"{what}: kept entry {p!r}: {who!r} is not partition: node id")
        if owners[int(p)] is not None:
            raise BadValue(f"{what}: partition {p} is both owned and kept")
        kept[int(p)] = who
    return Table(_int(obj, "epoch", what), _int(obj, "gen", what), owners, regs, tokens, set(revoking), kept)


def decode_epoch(text: str, what: str) -> int:
    return _int(_load(text, what), "epoch", what)


def decode_leader(text: str, what: str) -> tuple[str, int]:
    obj = _load(text, what)
    ident = obj.get("id")
    if not isinstance(ident, str):
        raise BadValue(f"{what}: field 'id' = {ident!r} is not a string")
    return ident, _int(obj, "epoch", what)


def decode_config(text: str, what: str) -> int:
    return _int(_load(text, what), "num_partitions", what, lo=1)


def encode_config(num_partitions: int) -> str:
    return _dump({"num_partitions": num_partitions})


def encode_epoch(epoch: int) -> str:
    return _dump({"epoch": epoch})


def encode_leader(ident: str, epoch: int) -> str:
    return _dump({"id": ident, "epoch": epoch})
