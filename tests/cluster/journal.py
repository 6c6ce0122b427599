"""The journal checker: G1, G2 and G3 proven from the nodes' own event journals.

`ringfast node --journal PATH` appends JSON lines ``{"t": ringfast.clock.now(), "node": id,
"event": ...}``: "assigned" (partitions, epoch, tokens; written before the application is
told), "revoked" (partitions, epoch, reason, tokens; written after its handler returned; a
lease-expiry revoke has "expired_at", the instant the right to act ended, written late by a
process that was frozen past it), and role lines "leader" / "follower" / "candidate" (leader,
epoch). The harness adds ``"event": "harness"`` lines (action start / kill / exit / pause /
resume, with the incarnation): a node restarted with the same id appends to the same file, and
each process is one incarnation. On one machine the lease clocks of all processes agree,
so intervals from different journals can be compared exactly.

From these, per node, incarnation and partition, holding intervals [start, end):

- start: the "assigned" line's t;
- end: the "revoked" line's expired_at if it has one, else its t; for a process killed with
  SIGKILL (it cannot write), the kill instant; for a process still running, not yet (it is
  held up to the horizon, i.e. "now").
- claim_end (what G1 is checked against): end, except for a killed process, whose right to act
  only ended when its lease ran out, which the journal cannot show. The lease was last renewed
  at most about one heartbeat (plus a tick) before the kill, so it surely ran until at least
  kill + lease - heartbeat - tick; `killed_hold` (default lease - 2 x heartbeat, see
  `from_cluster`) is added to the kill instant. Nobody else may hold the partition before.
  (The full lease, kill + lease, would be wrong: a correct leader frees the partitions at its
  last-heard + lease + margin, which is up to one heartbeat before kill + lease.)

Checks: `overlaps()` (G1: no two processes' [start, claim_end) of one partition intersect),
`token_violations()` (fencing: per partition, each assignment's token is larger than every
earlier one), `leader_violations()` (G3: at most one node says "leader" per epoch; a process's
epoch never goes down), `anomalies()` (malformed lines, revokes of what was not held, a process
that exited holding partitions without revoking them). `gaps()` lists per partition the
instants nobody held it (G2), `unowned_windows()` sums them after a fault, for the figures.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from polling import Violation
from ringfast.clock import now

if TYPE_CHECKING:
    from harness import Cluster

ROLES = ("leader", "follower", "candidate")


@dataclass(frozen=True)
class Hold:
    """One process holding one partition with one token over [start, end)."""

    node: str
    incarnation: int
    partition: int
    token: int
    start: float
    end: float | None  # None: still held at the end of the journal
    claim_end: float | None  # end of the right to act (differs from end only for a killed process)
    how: str  # "revoked:<reason>", "reassigned" (a new token), "killed", "exited", "restarted", "held"

    @property
    def holder(self) -> str:
        return f"{self.node}#{self.incarnation}"

    def describe(self) -> str:
        end = "..." if self.end is None else f"{self.end:.3f}"
        claim = "" if self.claim_end == self.end else f" (claim to {self.claim_end:.3f})"
        return f"{self.holder} [{self.start:.3f}, {end}){claim} token {self.token} {self.how}"


def read_lines(path: Path | str) -> list[dict]:
    """The records of one journal file; a line that is not JSON becomes {"malformed": text}.
    A last line without its newline is being written right now: it is left for next time."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.split("\n")[:-1]:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        out.append(rec if isinstance(rec, dict) else {"malformed": line})
    return out


class Journals:
    """All nodes' journals, one ordered list of records per node (see the module docstring).

    `records_by_node`: {node id: [record, ...]} in file order. `horizon`: the instant open
    intervals are cut at for gaps (default: the latest t seen)."""

    def __init__(self, records_by_node: dict[str, list[dict]], killed_hold: float, horizon: float | None = None,
                 num_partitions: int | None = None):
        self.killed_hold = killed_hold
        self.num_partitions = num_partitions
        self.records: list[dict] = []  # every node record, with "_inc" added, sorted by t
        self.holds: list[Hold] = []
        self._anomalies: list[Violation] = []
        for node, recs in records_by_node.items():
            self._parse(node, recs)
        self.records.sort(key=lambda r: r["t"])
        latest = max([r["t"] for r in self.records] + [h.start for h in self.holds] + [0.0])
        self.horizon = latest if horizon is None else horizon

    @classmethod
    def from_cluster(cls, cluster: Cluster, killed_hold: float | None = None) -> Journals:
        """Read the journals of every node of `cluster` (started with journal=True) now."""
        if not cluster.journal:
            raise ValueError("the cluster was not started with journal=True")
        if killed_hold is None:
            killed_hold = (cluster.check_ms - 2 * cluster.heartbeat_ms) / 1000
        recs = {name: read_lines(cluster.journal_path(name)) for name in cluster.names}
        return cls(recs, killed_hold, horizon=now(), num_partitions=cluster.num_partitions)

    # ---- building the intervals

    def _parse(self, node: str, recs: list[dict]) -> None:
        inc = 1
        open_: dict[int, tuple[int, float, int]] = {}  # partition -> (token, start, incarnation)

        def close(p, end, claim_end, how):
            token, start, i = open_.pop(p)
            self.holds.append(Hold(node, i, p, token, start, end, claim_end, how))

        for rec in recs:
            if "malformed" in rec or not isinstance(rec.get("t"), (int, float)) or "event" not in rec:
                self._anomalies.append(Violation("malformed", f"{node}: journal line {str(rec)[:200]}"))
                continue
            t, event = rec["t"], rec["event"]
            if rec.get("node") != node:
                self._anomalies.append(Violation("malformed", f"{node}'s journal has a line of {rec.get('node')!r}: {rec}"))
            if event == "harness":
                action = rec.get("action")
                if action == "start":
                    for p in list(open_):  # the previous process ended without a kill/exit line
                        close(p, t, t + self.killed_hold, "restarted")
                    inc = rec.get("incarnation", inc + 1)
                elif action == "kill":
                    for p in list(open_):
                        close(p, t, t + self.killed_hold, "killed")
                elif action == "exit":
                    for p in list(open_):
                        self._anomalies.append(Violation(
                            "exited-holding", f"{node}#{inc} exited at {t:.3f} still holding {p} (never revoked)"))
                        close(p, t, t + self.killed_hold, "exited")
                self.records.append({**rec, "_inc": inc})
                continue
            self.records.append({**rec, "_inc": inc})
            if event == "assigned":
                tokens = rec.get("tokens") or {}
                for p in rec.get("partitions") or []:
                    tok = tokens.get(str(p))
                    if not isinstance(tok, int):
                        self._anomalies.append(Violation("malformed", f"{node}#{inc} assigned {p} without a token: {rec}"))
                        continue
                    if p in open_:  # a new token for a partition held: one hold ends, one begins
                        close(p, t, t, "reassigned")
                    open_[p] = (tok, t, inc)
            elif event == "revoked":
                end = rec.get("expired_at", t)
                if not isinstance(end, (int, float)) or end > t:
                    self._anomalies.append(Violation("malformed", f"{node}#{inc}: expired_at after the line's t: {rec}"))
                    end = t
                tokens = rec.get("tokens") or {}
                for p in rec.get("partitions") or []:
                    if p not in open_:
                        self._anomalies.append(Violation(
                            "revoke-unheld", f"{node}#{inc} at {t:.3f} revoked {p}, which its journal does not show it holding"))
                        continue
                    if tokens.get(str(p)) not in (None, open_[p][0]):
                        self._anomalies.append(Violation(
                            "revoke-token", f"{node}#{inc} at {t:.3f} revoked {p} with token {tokens.get(str(p))}, held with {open_[p][0]}"))
                    close(p, end, end, f"revoked:{rec.get('reason')}")
        for p in list(open_):
            close(p, None, None, "held")

    # ---- queries

    def by_partition(self) -> dict[int, list[Hold]]:
        out: dict[int, list[Hold]] = defaultdict(list)
        for h in self.holds:
            out[h.partition].append(h)
        for hs in out.values():
            hs.sort(key=lambda h: h.start)
        return dict(out)

    def events(self, event: str | None = None, node: str | None = None, since: float | None = None) -> list[dict]:
        """Records (sorted by t), filtered by event name, node and t >= since."""
        return [
            r for r in self.records
            if (event is None or r["event"] == event) and (node is None or r.get("node") == node)
            and (since is None or r["t"] >= since)
        ]

    def owners(self, partition: int) -> list[str]:
        """The node ids that held `partition`, in order of their holds (consecutive repeats kept)."""
        return [h.node for h in self.by_partition().get(partition, [])]

    def timeline(self, partition: int) -> str:
        return "\n".join(f"  p{partition}: {h.describe()}" for h in self.by_partition().get(partition, []))

    # ---- G1, fencing, G3

    def overlaps(self) -> list[Violation]:
        """G1: two processes' [start, claim_end) intervals of one partition intersect."""
        out = []
        for p, hs in self.by_partition().items():
            active: list[Hold] = []
            for h in hs:  # sorted by start
                active = [a for a in active if _claim(a) > h.start]
                for a in active:
                    if (a.node, a.incarnation) != (h.node, h.incarnation):
                        both = min(_claim(a), _claim(h)) - h.start
                        out.append(Violation(
                            "overlap", f"partition {p}: {a.describe()} and {h.describe()} "
                            f"(both from {h.start:.3f} for {both:.3f}s)"))
                active.append(h)
        return out

    def token_violations(self) -> list[Violation]:
        """Fencing: for each partition, every assignment's token is above all earlier ones."""
        out = []
        best: dict[int, tuple[int, str, float]] = {}
        for r in self.events("assigned"):
            tokens = r.get("tokens") or {}
            for p in r.get("partitions") or []:
                tok = tokens.get(str(p))
                if not isinstance(tok, int):
                    continue
                if p in best and tok <= best[p][0]:
                    out.append(Violation(
                        "token-not-growing", f"partition {p}: {r['node']}#{r['_inc']} got token {tok} at {r['t']:.3f}, "
                        f"after {best[p][1]} got {best[p][0]} at {best[p][2]:.3f}"))
                if p not in best or tok > best[p][0]:
                    best[p] = (tok, f"{r['node']}#{r['_inc']}", r["t"])
        return out

    def leader_violations(self) -> list[Violation]:
        """G3: at most one node became leader in each epoch; a process's epoch never goes down."""
        out = []
        leaders: dict[int, set[str]] = defaultdict(set)
        last_epoch: dict[tuple[str, int], tuple[int, float]] = {}
        for r in self.records:
            if r["event"] not in ROLES:
                continue
            epoch, who = r.get("epoch"), (r.get("node"), r["_inc"])
            if r["event"] == "leader":
                leaders[epoch].add(r.get("node"))
            if who in last_epoch and isinstance(epoch, int) and epoch < last_epoch[who][0]:
                out.append(Violation(
                    "epoch-regression", f"{who[0]}#{who[1]}: epoch {last_epoch[who][0]} at {last_epoch[who][1]:.3f}, "
                    f"then {r['event']} in epoch {epoch} at {r['t']:.3f}"))
            if isinstance(epoch, int):
                last_epoch[who] = (max(epoch, last_epoch.get(who, (epoch, 0))[0]), r["t"])
        for epoch, nodes in sorted(leaders.items(), key=lambda kv: repr(kv[0])):
            if len(nodes) > 1:
                out.append(Violation("two-leaders", f"epoch {epoch}: {sorted(nodes)} each journaled 'leader'"))
        return out

    def anomalies(self) -> list[Violation]:
        return list(self._anomalies)

    def violations(self) -> list[Violation]:
        return self.overlaps() + self.token_violations() + self.leader_violations() + self.anomalies()

    def assert_safe(self) -> None:
        found = self.violations()
        assert self.holds, "the journals show no partition ever held"
        if found:
            parts = sorted({int(p) for v in found for p in _partitions_named(v.detail)})[:5]
            timelines = "\n".join(self.timeline(p) for p in parts)
            raise AssertionError(
                f"{len(found)} journal violation(s):\n" + "\n".join(str(v) for v in found[:30])
                + (f"\nholds of the partitions named:\n{timelines}" if timelines else ""))

    # ---- G2

    def gaps(self, since: float | None = None, until: float | None = None) -> dict[int, list[tuple[float, float]]]:
        """{partition: [(from, to)]}: the stretches in [since, until] (default: from the first
        hold of the partition to the horizon) when nobody held it, by `end` (the instant a
        holder stopped acting), clipped to that range. With `num_partitions` given, a
        partition never held at all is one gap over the whole range (if `since` is given)."""
        until = self.horizon if until is None else until
        lo = float("-inf") if since is None else since
        out: dict[int, list[tuple[float, float]]] = {}
        by_p = self.by_partition()
        for p in range(self.num_partitions or 0):
            by_p.setdefault(p, [])
        for p, hs in by_p.items():
            found = []
            covered_to = since  # None: nothing before the first hold counts
            for h in hs:
                end = self.horizon if h.end is None else h.end
                if covered_to is not None and h.start > covered_to:
                    found.append((covered_to, h.start))
                covered_to = end if covered_to is None else max(covered_to, end)
            if covered_to is not None and covered_to < until:
                found.append((covered_to, until))
            out[p] = [(max(a, lo), min(b, until)) for a, b in found if min(b, until) > max(a, lo)]
        return out

    def unowned_windows(self, since: float, until: float | None = None, partitions: Iterable[int] | None = None) -> dict[int, float]:
        """{partition: seconds unowned after `since`} for the partitions with a gap then."""
        out = {}
        for p, gs in self.gaps(since, until).items():
            if partitions is not None and p not in partitions:
                continue
            total = sum(b - a for a, b in gs)
            if gs:
                out[p] = total
        return out


def window_figures(windows: dict[int, float]) -> tuple[float, float]:
    """(median, max) of per-partition unowned windows; (0, 0) if none."""
    if not windows:
        return 0.0, 0.0
    values = list(windows.values())
    return statistics.median(values), max(values)


def _claim(h: Hold) -> float:
    return float("inf") if h.claim_end is None else h.claim_end


def _partitions_named(text: str) -> list[str]:
    return re.findall(r"partition (\d+)", text)
