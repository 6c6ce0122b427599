"""[harden] Settings that are valid one by one but would not fit the wire (an id or a
cluster name too long, a partition count whose assign frame exceeds the frame limit) or
would fail in a log line, with no word about the setting: refused at start instead
(Node() and `ringfast node`, which exits with status 2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import protocol
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

FRAME_SLACK = 1024  # header, MAC and the fixed fields of a message, generously
LONGEST_ID = "\U0001f600" * protocol.MAX_ID  # the most bytes an id can take in JSON (12 per character)


def check_wire_limits(cfg: Config) -> None:
    for var, value in (("NODE_ID", cfg.node_id), ("RINGFAST_CLUSTER", cfg.cluster_name)):
        if value is None:
            continue
        bad = protocol.unsafe_char(value)
        if bad is not None:
            raise ConfigError(
                f"{var}={value!r}: the character {bad!r} is not allowed (control characters would forge "
                "log lines, lone surrogates cannot be encoded)"
            )
    if cfg.node_id is not None and len(cfg.node_id) > protocol.MAX_ID:
        raise ConfigError(
            f"NODE_ID={cfg.node_id[:40]!r}...: {len(cfg.node_id)} characters, the wire allows at most {protocol.MAX_ID}"
        )
    name = len(cfg.cluster_name.encode("utf-8"))
    if name > 255:
        raise ConfigError(f"RINGFAST_CLUSTER={cfg.cluster_name[:40]!r}...: {name} bytes in UTF-8, at most 255 fit a frame")
    if cfg.heartbeat_interval * 2 > cfg.failure_timeout:
        raise ConfigError(
            f"HEART_BEAT_FREQUENCY ({cfg.heartbeat_interval * 1000:g} ms) is more than half of HEART_BEAT_CHECK_FREQUENCY "
            f"({cfg.failure_timeout * 1000:g} ms): a lease would run out whenever one heartbeat is late "
            "(3 heartbeats per lease are recommended)"
        )
    size = largest_frame(cfg)
    if size > cfg.max_frame_size:
        raise ConfigError(
            f"NUM_PARTITIONS={cfg.num_partitions}: a message listing every partition with its token takes up to "
            f"{size} bytes, more than RINGFAST_MAX_FRAME={cfg.max_frame_size}: raise RINGFAST_MAX_FRAME to at "
            "least that, or use fewer partitions"
        )


def largest_frame(cfg: Config) -> int:
    """Bytes of the largest message a node may have to send: every partition with its
    fencing token (an assign to one member, a heartbeat from it, the leader's member list)."""
    P = cfg.num_partitions
    # decimal digits of 0 .. P-1: ten one-digit numbers, ninety two-digit ones, ...
    digits = sum(max(0, min(P, 10**w) - (10 ** (w - 1) if w > 1 else 0)) * w for w in range(1, 11))
    token = len(str(2**63 - 1))
    ident = len(json.dumps(cfg.node_id or "x" * 300))
    return FRAME_SLACK + len(cfg.cluster_name.encode("utf-8")) + 2 * ident + digits + P * (token + len("[,],"))


def member_entry_bytes(node_id: str, addr: str) -> int:
    """Bytes one member takes in the leader's member list (a heartbeat answer carries it
    whole), its partitions aside: `largest_frame` counts every partition once already.
    Members come and go at run time, so the leader checks this at each join (a join that
    would make the list too big for one frame is refused) instead of at start."""
    entry = {"id": node_id, "addr": addr, "priority": -(2**31), "role": "follower", "partitions": []}
    return len(json.dumps(entry, separators=(",", ":"))) + 1  # and its comma


def voter_slack(node_id: str, addr: str) -> int:
    """What a present voter leaves of the room kept for it (the longest id's entry)."""
    return member_entry_bytes(LONGEST_ID, addr) - member_entry_bytes(node_id, addr)
