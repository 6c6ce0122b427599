"""How the ring's engine vocabulary (engine/actions.py: a read of the whole prefix at one
revision, transactions comparing create and mod revisions) maps onto ZooKeeper, which has
neither. Pure functions: the client (zookeeper.py) and the simulation (tests/sim) both run
them, so a seed exercises the same translation as a real ensemble.

**Revisions are zxids.** A key's create revision is its znode's ``czxid``, its mod revision
the ``mzxid``, its lease the ``ephemeralOwner`` (a session id). A view's revision is the
highest zxid among the ring's znodes, counting the containers' ``pzxid`` (the zxid of
their last child created or deleted): every change to the ring raises one of them, so the
revision only grows and a state read at it is the whole state at that zxid.

**A whole read at one zxid, without a multi-read: the double collect.** One *collect* lists
the containers (the ring's root, ``member`` and ``rejoin``) and reads every child, in order on one
session. Two collects in a row that read exactly the same (every stat, every value, both
child lists) prove there was a moment, between the end of the first and the start of the
second, at which the ring was exactly that: each znode was unchanged over an interval that
contains that moment (zxids only grow, so an unchanged stat means an unchanged znode). A
collect that differs from the previous one starts a new pair.

**Comparisons become versions, and a session fence.** ZooKeeper's transactions (``multi``)
check a znode's *data version*, not its zxids. Against the stats of the latest collect:

- ``create == 0`` / ``mod == 0`` (the key does not exist) with a put of that key: the put
  becomes a ``create``, which fails if the znode exists.
- ``mod == R``: the cached znode must have ``mzxid == R`` (else the comparison already
  failed: zxids never come back) and the operation checks its version. The persistent keys
  (``config``, ``epoch``, ``table``) are never deleted, so an unchanged version is an
  unchanged znode.
- ``create == R``: only on an ephemeral znode of our own session (our member key, our
  leader key). Nobody deletes those but the session's end, so while our session lives an
  unchanged version is the znode we created.

That last "while our session lives" is what the **fence** makes sure of. A client that sees
its session expire starts a new one, and a request queued for the old session can go out on
the new one: an ephemeral ``leader`` znode re-created by another leader has version 0 again,
and a version check alone would let a deposed leader's write through. So every session
creates an ephemeral fence znode named for itself (outside the ring's keys, under
``sessions/``), and every transaction that rests on our session checks it: the fence exists
only while that very session lives, whichever session the request travels on.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keyspace import Entry

MEMBER_DIR = "member"
REJOIN_DIR = "rejoin"  # the markers of members that stopped to restart (rejoin.py)
DIRS = (MEMBER_DIR, REJOIN_DIR)  # the ring's containers below its root, each listed by a collect
FENCE_DIR = "sessions"


def fence_key(session: int) -> str:
    return f"{FENCE_DIR}/{session:x}"


@dataclass(frozen=True)
class Znode:
    data: str
    czxid: int
    mzxid: int
    version: int
    owner: int  # ephemeralOwner: the session id, 0 for a persistent znode


@dataclass(frozen=True)
class Collect:
    """One pass over the ring's znodes. `containers`: per container ("" for the root,
    "member") its (pzxid, cversion); `nodes`: per key (as the ring names it: "table",
    "member/a") its znode; `complete` is False when a listed child vanished before it was
    read (the pass cannot be one state)."""

    containers: tuple[tuple[str, int, int], ...]
    nodes: dict[str, Znode]
    complete: bool = True


def snapshot(first: Collect | None, second: Collect) -> tuple[int, dict[str, Entry]] | None:
    """The ring at one zxid, when two collects in a row read the same; else None."""
    if first is None or not (first.complete and second.complete):
        return None
    if first.containers != second.containers or first.nodes != second.nodes:
        return None
    rev = max([pz for _, pz, _ in second.containers] + [z for n in second.nodes.values() for z in (n.czxid, n.mzxid)])
    return rev, {key: Entry(n.data, n.czxid, n.mzxid, n.owner or None) for key, n in second.nodes.items()}


class PlanError(ValueError):
    """A transaction the ring should never ask for (the mapping cannot keep its meaning)."""


class Stale(Exception):
    """A comparison that cannot hold: the transaction fails without being sent."""


def plan(compare: list[tuple], success: list[tuple], cache: dict[str, Znode], session: int | None) -> list[tuple]:
    """ZooKeeper operations with the meaning of ``compare`` -> ``success``, given the znodes
    of the latest collect and our session. Operations: ``("check", key, version)``,
    ``("create", key, data, ephemeral)``, ``("set", key, data, version)``,
    ``("delete", key, version)``. Raises Stale when a comparison cannot hold (do not send),
    PlanError for a request outside the mapping."""
    absent: set[str] = set()
    versions: dict[str, int] = {}
    fenced = False
    for target, key, op, want in compare:
        if op != "==" or target not in ("create", "mod"):
            raise PlanError(f"comparison {(target, key, op, want)!r}: only create/mod == revision map onto ZooKeeper")
        if want == 0:
            absent.add(key)
            continue
        node = cache.get(key)
        if node is None or (node.czxid if target == "create" else node.mzxid) != want:
            raise Stale(f"{key}: {target} revision is not {want}")
        if node.owner:
            if node.owner != session:
                raise Stale(f"{key}: an ephemeral znode of session {node.owner:x}, not ours")
            fenced = True
        elif target == "create":
            raise PlanError(f"{key}: a create-revision comparison on a persistent znode cannot be told from a re-created one")
        versions[key] = node.version
    ops: list[tuple] = []
    written: set[str] = set()
    for op in success:
        if op[0] == "put":
            _, key, value, lease = op
            if lease is not None:
                if lease != session:
                    raise Stale(f"{key}: a put for session {lease:x}, which is not ours now")
                fenced = True
            if key in absent:
                ops.append(("create", key, value, lease is not None))
            elif key in versions:
                if (lease is not None) != bool(cache[key].owner):
                    raise PlanError(f"{key}: a put cannot move a znode to or from a session")
                ops.append(("set", key, value, versions[key]))
            else:
                raise PlanError(f"{key}: a put without a comparison on that key")
            written.add(key)
        elif op[0] == "delete":
            ops.append(("delete", op[1], versions.get(op[1], -1)))
            written.add(op[1])
        else:
            raise PlanError(f"operation {op[0]!r}: not put or delete")
    for key in absent - written:
        raise PlanError(f"{key}: an absence comparison without a put of that key")
    checks = [("check", key, v) for key, v in versions.items() if key not in written]
    if fenced:
        if session is None:
            raise Stale("no session")
        checks.insert(0, ("check", fence_key(session), 0))
    return checks + ops
