"""`OwnershipMonitor`: G1 (no double ownership) and growing fencing tokens, proven from
/partitions samples polled in the background (see the class docstring for the proof)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from polling import Poller, Violation
from support import short

if TYPE_CHECKING:
    from harness import Cluster


@dataclass(frozen=True)
class PartitionSample:
    """One /partitions answer. The node's state was read at some instant in
    [t_sent, t_received] (time.monotonic() of the test process)."""

    node: str
    incarnation: int
    t_sent: float
    t_received: float
    partitions: tuple
    tokens: dict  # {partition: token or None}
    epoch: Any = None
    problems: tuple = ()  # malformed-answer notes found while parsing


def parse_partitions_answer(data: Any) -> tuple[tuple, dict, Any, tuple]:
    """(partitions, {partition: token}, epoch, problems) from a /partitions JSON answer."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return (), {}, None, (f"answer is not an object: {short(data, 200)}",)
    raw_parts = data.get("partitions")
    if not isinstance(raw_parts, list):
        problems.append(f"'partitions' is not a list: {short(raw_parts, 200)}")
        raw_parts = []
    raw_tokens = data.get("tokens")
    if not isinstance(raw_tokens, dict):
        problems.append(f"'tokens' is not an object: {short(raw_tokens, 200)}")
        raw_tokens = {}
    tokens: dict[Any, Any] = {}
    for p in raw_parts:
        tok = raw_tokens.get(str(p))
        if tok is None and isinstance(p, int):
            tok = raw_tokens.get(p)
        if not isinstance(tok, int) or isinstance(tok, bool):
            problems.append(f"partition {p!r} has no integer token ({tok!r})")
            tok = None
        tokens[p] = tok
    if len(set(map(repr, raw_parts))) != len(raw_parts):
        problems.append(f"duplicate partitions in {raw_parts}")
    return tuple(raw_parts), tokens, data.get("epoch"), tuple(problems)


class OwnershipMonitor(Poller):
    """Polls /partitions of every running node, round after round, until stop().

    `violations()` proves double ownership (G1) from the samples alone. Reasoning: a node's
    answer reflects its state at some instant inside [t_sent, t_received]. If node A reports
    partition p with the SAME token in samples a1 and a2 (of one process, with no sample in
    between where p is missing or has another token), A held p continuously from
    a1.t_received to a2.t_sent, because a re-assignment always carries a new, larger token.
    Then any sample b of another node B with p and a1.t_received <= b.t_sent and
    b.t_received <= a2.t_sent proves both held p at one instant; so does any overlap of two
    such certain-hold intervals of different nodes. Nothing is ever inferred from a single
    sample's timing alone, so a legal handoff (revoke, ack, assign) is never flagged however
    the polls interleave with it.
    """

    path = "/partitions"

    def __init__(
        self,
        cluster: Cluster | None,
        interval: float = 0.03,
        timeout: float = 2.0,
        num_partitions: int | None = None,
    ) -> None:
        super().__init__(cluster, interval, timeout)
        if num_partitions is None:
            if cluster is None:
                raise ValueError("without a cluster, give num_partitions")
            num_partitions = cluster.num_partitions
        self.num_partitions = num_partitions

    def _make_sample(self, name: str, inc: int, t_sent: float, t_received: float, data: Any) -> PartitionSample:
        parts, tokens, epoch, problems = parse_partitions_answer(data)
        return PartitionSample(name, inc, t_sent, t_received, parts, tokens, epoch, problems)

    def add_sample(
        self,
        node: str,
        t_sent: float,
        t_received: float,
        partitions: Iterable[int] | dict[int, int],
        tokens: dict[int, int] | None = None,
        incarnation: int = 1,
    ) -> PartitionSample:
        """Record a synthetic sample (unit tests of the checker). `partitions` may be a
        {partition: token} dict instead of a list plus `tokens`."""
        if isinstance(partitions, dict):
            tokens, partitions = dict(partitions), list(partitions)
        data = {"partitions": list(partitions), "tokens": {str(k): v for k, v in (tokens or {}).items()}}
        sample = self._make_sample(node, incarnation, t_sent, t_received, data)
        with self._lock:
            self.samples[node].append(sample)
        return sample

    # ---- analysis

    def _by_holder(self) -> dict[tuple[str, int], list[PartitionSample]]:
        holders: dict[tuple[str, int], list[PartitionSample]] = defaultdict(list)
        for s in self.all_samples():
            holders[(s.node, s.incarnation)].append(s)
        for v in holders.values():
            v.sort(key=lambda s: s.t_sent)
        return holders

    def hold_runs(self) -> dict[Any, list[tuple[tuple[str, int], Any, PartitionSample, PartitionSample]]]:
        """{partition: [(holder, token, first sample, last sample)]}: maximal runs of
        consecutive samples of one process holding the partition with one token."""
        runs: dict[Any, list] = defaultdict(list)
        for holder, samples in self._by_holder().items():
            open_runs: dict[Any, list] = {}  # p -> [token, first, last]
            for s in samples:
                for p in list(open_runs):
                    if p not in s.tokens or s.tokens[p] is None or s.tokens[p] != open_runs[p][0]:
                        tok, first, last = open_runs.pop(p)
                        runs[p].append((holder, tok, first, last))
                for p, tok in s.tokens.items():
                    if tok is not None and p not in open_runs:
                        open_runs[p] = [tok, s, s]
                    elif tok is not None:
                        open_runs[p][2] = s
            for p, (tok, first, last) in open_runs.items():
                runs[p].append((holder, tok, first, last))
        return runs

    def violations(self) -> list[Violation]:
        out: list[Violation] = []
        n = self.num_partitions
        samples = self.all_samples()
        for s in samples:
            for problem in s.problems:
                out.append(Violation("malformed", f"{s.node}#{s.incarnation} at {s.t_sent:.3f}: {problem}"))
            bad = [p for p in s.partitions if not (isinstance(p, int) and not isinstance(p, bool) and 0 <= p < n)]
            if bad:
                out.append(Violation(
                    "out-of-range",
                    f"{s.node}#{s.incarnation} reported {bad} (not in range(0, {n})) "
                    f"in [{s.t_sent:.3f}, {s.t_received:.3f}]",
                ))

        runs = self.hold_runs()
        # A process re-acquiring a partition with a token it already had breaks the contract
        # the proof relies on (a re-assignment always gets a new, larger token).
        for p, rs in runs.items():
            seen: dict[tuple, tuple] = {}
            for holder, tok, first, last in sorted(rs, key=lambda r: r[2].t_sent):
                key = (holder, tok)
                if key in seen:
                    out.append(Violation(
                        "token-reuse",
                        f"{holder[0]}#{holder[1]} held partition {p} with token {tok} until "
                        f"{seen[key][3].t_received:.3f}, lost it, and held it again with the same "
                        f"token from {first.t_sent:.3f}",
                    ))
                seen[key] = (holder, tok, first, last)

        # Certain-hold intervals [first.t_received, last.t_sent] (non-empty only).
        certain: dict[Any, list] = defaultdict(list)
        for p, rs in runs.items():
            for holder, tok, first, last in rs:
                if first.t_received <= last.t_sent and first is not last:
                    certain[p].append((first.t_received, last.t_sent, holder, tok, first, last))
        reported: set = set()
        by_p: dict[Any, list[PartitionSample]] = defaultdict(list)
        for s in samples:
            for p in s.partitions:
                by_p[p].append(s)
        for p, intervals in certain.items():
            for start, end, holder, tok, a1, a2 in intervals:
                for b in by_p.get(p, ()):
                    if (b.node, b.incarnation) == holder:
                        continue
                    if start <= b.t_sent and b.t_received <= end:
                        key = (p, holder, (b.node, b.incarnation))
                        if key in reported:
                            continue
                        reported.add(key)
                        out.append(Violation(
                            "double-ownership",
                            f"partition {p}: {holder[0]}#{holder[1]} held it with token {tok} "
                            f"throughout [{start:.3f}, {end:.3f}] (samples sent {a1.t_sent:.3f} and "
                            f"{a2.t_sent:.3f}) while {b.node}#{b.incarnation} reported it "
                            f"(token {b.tokens.get(p)}) in [{b.t_sent:.3f}, {b.t_received:.3f}]",
                        ))
            ivs = sorted(intervals, key=lambda x: x[0])
            for i, (s1, e1, h1, t1, _, _) in enumerate(ivs):
                for s2, e2, h2, t2, _, _ in ivs[i + 1:]:
                    if s2 >= e1:
                        break
                    if h1 == h2:
                        continue
                    key = (p, h1, h2)
                    if key in reported or (p, h2, h1) in reported:
                        continue
                    reported.add(key)
                    out.append(Violation(
                        "double-ownership",
                        f"partition {p}: {h1[0]}#{h1[1]} held it (token {t1}) throughout "
                        f"[{s1:.3f}, {e1:.3f}] and {h2[0]}#{h2[1]} (token {t2}) throughout "
                        f"[{s2:.3f}, {e2:.3f}]",
                    ))
        return out

    def assert_no_double_ownership(self) -> None:
        found = self.violations()
        assert self.count() > 0, f"the monitor recorded no samples (errors: {dict(self.errors)})"
        assert not found, (
            f"{len(found)} ownership violation(s) in {self.count()} samples:\n"
            + "\n".join(str(v) for v in found[:30])
        )

    def token_regressions(self) -> list[Violation]:
        """For each partition, a token observed must be >= every token for that partition seen
        in samples received strictly before this one was sent (on any node)."""
        out: list[Violation] = []
        obs: dict[Any, list[tuple[float, float, str, int]]] = defaultdict(list)
        for s in self.all_samples():
            for p, tok in s.tokens.items():
                if tok is not None:
                    obs[p].append((s.t_sent, s.t_received, f"{s.node}#{s.incarnation}", tok))
        for p, items in obs.items():
            by_recv = sorted(items, key=lambda o: o[1])
            recv_times = [o[1] for o in by_recv]
            best: list[tuple[int, tuple]] = []  # prefix max (token, observation)
            for o in by_recv:
                if not best or o[3] > best[-1][0]:
                    best.append((o[3], o))
                else:
                    best.append(best[-1])
            for o in sorted(items):
                idx = bisect.bisect_left(recv_times, o[0])  # received strictly before o was sent
                if idx and best[idx - 1][0] > o[3]:
                    prev = best[idx - 1][1]
                    out.append(Violation(
                        "token-regression",
                        f"partition {p}: {o[2]} reported token {o[3]} in [{o[0]:.3f}, {o[1]:.3f}] "
                        f"after {prev[2]} reported token {prev[3]} (received {prev[1]:.3f})",
                    ))
                    break  # one report per partition is enough
        return out

    def tokens_only_grow(self) -> bool:
        return not self.token_regressions()

    def assert_tokens_only_grow(self) -> None:
        found = self.token_regressions()
        assert not found, "fencing tokens went backwards:\n" + "\n".join(str(v) for v in found[:30])
