"""`LeadershipMonitor`: G3 (one leader per epoch) from /status samples polled in the
background."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polling import Poller, Violation

if TYPE_CHECKING:
    from harness import Cluster


@dataclass(frozen=True)
class StatusSample:
    node: str
    incarnation: int
    t_sent: float
    t_received: float
    epoch: Any
    role: Any
    leader: Any


class LeadershipMonitor(Poller):
    """Polls /status of every running node and checks G3 from the answers: in any one epoch at
    most one node says it is the leader and all nodes that name a leader name the same one; a
    node that says it is the leader names itself; one process's epoch never decreases."""

    path = "/status"

    def __init__(self, cluster: Cluster | None, interval: float = 0.05, timeout: float = 2.0) -> None:
        super().__init__(cluster, interval, timeout)  # polls less often than OwnershipMonitor

    def _make_sample(self, name: str, inc: int, t_sent: float, t_received: float, data: Any) -> StatusSample:
        data = data if isinstance(data, dict) else {}
        node = data.get("node") if isinstance(data.get("node"), dict) else {}
        return StatusSample(name, inc, t_sent, t_received, data.get("epoch"), node.get("role"), data.get("leader"))

    def add_sample(self, node: str, t_sent: float, t_received: float, epoch: int, role: str,
                   leader: str | None, incarnation: int = 1) -> StatusSample:
        s = StatusSample(node, incarnation, t_sent, t_received, epoch, role, leader)
        with self._lock:
            self.samples[node].append(s)
        return s

    def claims(self) -> dict[Any, dict[str, set]]:
        """{epoch: {"leaders": {ids saying they lead}, "named": {leader ids named}}}"""
        out: dict[Any, dict[str, set]] = defaultdict(lambda: {"leaders": set(), "named": set()})
        for s in self.all_samples():
            if s.role == "leader":
                out[s.epoch]["leaders"].add(s.node)
            if s.leader is not None:
                out[s.epoch]["named"].add(s.leader)
        return dict(out)

    def _who_named(self, epoch: Any) -> str:
        """Who named which leader in `epoch`: the first and last such answer of each."""
        seen: dict[tuple[str, str], list[StatusSample]] = defaultdict(list)
        for s in sorted(self.all_samples(), key=lambda s: s.t_sent):
            if s.epoch == epoch and s.leader is not None:
                seen[(s.node, s.leader)].append(s)
        return "; ".join(
            f"{node} named {leader} in {len(ss)} answers, [{ss[0].t_sent:.3f}, {ss[-1].t_received:.3f}]"
            for (node, leader), ss in sorted(seen.items())
        )

    def violations(self) -> list[Violation]:
        out: list[Violation] = []
        for epoch, c in sorted(self.claims().items(), key=lambda kv: repr(kv[0])):
            if len(c["leaders"]) > 1:
                out.append(Violation("two-leaders", f"epoch {epoch}: {sorted(c['leaders'])} all said role=leader"))
            if len(c["named"]) > 1:
                out.append(Violation("conflicting-leaders", f"epoch {epoch}: nodes named {sorted(c['named'])} as leader"
                                     f" ({self._who_named(epoch)})"))
        samples = self.all_samples()
        for s in samples:
            if s.role == "leader" and s.leader != s.node:
                out.append(Violation("inconsistent", f"{s.node} says role=leader but leader={s.leader!r} (epoch {s.epoch})"))
            if s.role not in ("leader", "follower", "candidate"):
                out.append(Violation("malformed", f"{s.node}: role {s.role!r}"))
            if not isinstance(s.epoch, int) or isinstance(s.epoch, bool):
                out.append(Violation("malformed", f"{s.node}: epoch {s.epoch!r}"))
        by_proc: dict[tuple, list[StatusSample]] = defaultdict(list)
        for s in samples:
            by_proc[(s.node, s.incarnation)].append(s)
        for (node, inc), ss in by_proc.items():
            ss.sort(key=lambda s: s.t_sent)
            for a, b in zip(ss, ss[1:]):
                if isinstance(a.epoch, int) and isinstance(b.epoch, int) and b.epoch < a.epoch:
                    out.append(Violation("epoch-regression", f"{node}#{inc}: epoch {a.epoch} then {b.epoch}"))
                    break
        # De-duplicate repeated malformed notes.
        return list(dict.fromkeys(out))

    def assert_one_leader_per_epoch(self) -> None:
        found = self.violations()
        assert self.count() > 0, f"the monitor recorded no samples (errors: {dict(self.errors)})"
        assert not found, f"{len(found)} leadership violation(s):\n" + "\n".join(str(v) for v in found[:30])
