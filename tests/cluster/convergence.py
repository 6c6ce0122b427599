"""Convergence: `settled(cluster, expect_members)` and its truthy/falsy `Verdict`."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from harness import Cluster


class Verdict:
    """A truthy/falsy answer that says why (wait_for shows the last one on timeout)."""

    def __init__(self, ok: bool, reason: str, **details: Any) -> None:
        self.ok = ok
        self.reason = reason
        self.details = details

    def __bool__(self) -> bool:
        return self.ok

    def __getattr__(self, item: str) -> Any:
        try:
            return self.__dict__["details"][item]
        except KeyError:
            raise AttributeError(item) from None

    def __repr__(self) -> str:
        return f"<{'settled' if self.ok else 'not settled'}: {self.reason}>"


def settled(
    cluster: Cluster,
    expect_members: int | Iterable[str] | None = None,
    check_leader_view: bool = True,
    fail_on_crash: bool = True,
    among: Iterable[str] | None = None,
) -> Verdict:
    """Has the cluster converged?

    True (a Verdict with .leader, .epoch, .owned {id: [partitions]}, .tokens {id: {p: token}})
    when: the live nodes are exactly `expect_members` (a count or the ids; None: whoever is
    live); every live node answers and all agree on one leader and one epoch; the leader says
    it is the leader and everyone else says follower; the leader's member list is exactly the
    live nodes; every partition in range(N) is held by exactly one live follower per
    /partitions; followers' loads differ by at most one; the leader holds none; and (with
    check_leader_view) the leader's view of each member's partitions is what that member says
    it holds.

    `among` limits everything to those nodes, as if the others did not exist (one side of a
    network partition): "live" then means live and among them.

    With fail_on_crash, a node that exited without the harness asking raises AssertionError at
    once (so wait_for fails fast with its log instead of waiting out the deadline).
    """
    if fail_on_crash:
        cluster.assert_no_crash()
    live = cluster.live()
    if among is not None:
        among = set(among)
        live = [n for n in live if n in among]
    if expect_members is not None:
        if isinstance(expect_members, int):
            if len(live) != expect_members:
                return Verdict(False, f"{len(live)} live nodes {live}, expected {expect_members}")
        elif set(live) != set(expect_members):
            return Verdict(False, f"live nodes {live}, expected {sorted(expect_members)}")
    if not live:
        return Verdict(False, "no live nodes")
    st = cluster.statuses(live)
    missing = [n for n, s in st.items() if s is None]
    if missing:
        return Verdict(False, f"no /status from {missing}")
    leaders = {n: s.get("leader") for n, s in st.items()}
    if len(set(leaders.values())) != 1 or None in leaders.values():
        return Verdict(False, f"leader views differ or are empty: {leaders}")
    leader = next(iter(leaders.values()))
    if leader not in live:
        return Verdict(False, f"agreed leader {leader!r} is not a live node {live}")
    epochs = {n: s.get("epoch") for n, s in st.items()}
    if len(set(epochs.values())) != 1:
        return Verdict(False, f"epochs differ: {epochs}")
    roles = {n: (s.get("node") or {}).get("role") for n, s in st.items()}
    want_roles = {n: ("leader" if n == leader else "follower") for n in live}
    if roles != want_roles:
        return Verdict(False, f"roles {roles}, expected {want_roles}")
    n_parts = cluster.num_partitions
    bad_n = {n: s.get("num_partitions") for n, s in st.items() if s.get("num_partitions") != n_parts}
    if bad_n:
        return Verdict(False, f"num_partitions is not {n_parts} on {bad_n}")
    members = st[leader].get("members") or []
    member_ids = {m.get("id") for m in members}
    # Tolerate the leader listing itself or not; the followers must be exactly the live ones.
    if member_ids - {leader} != set(live) - {leader}:
        return Verdict(False, f"leader's members {sorted(member_ids)}, live {live}")

    parts = {n: cluster.partitions(n) for n in live}
    missing = [n for n, p in parts.items() if p is None]
    if missing:
        return Verdict(False, f"no /partitions from {missing}")
    owned = {n: list(p.get("partitions") or []) for n, p in parts.items()}
    tokens = {n: dict(p.get("tokens") or {}) for n, p in parts.items()}
    if owned[leader]:
        return Verdict(False, f"leader {leader} holds {owned[leader]}")
    owners: dict[int, list[str]] = defaultdict(list)
    for n, ps in owned.items():
        for p in ps:
            owners[p].append(n)
    out_of_range = sorted(p for p in owners if not (isinstance(p, int) and 0 <= p < n_parts))
    if out_of_range:
        return Verdict(False, f"partitions out of range(0, {n_parts}): {out_of_range}")
    doubled = {p: o for p, o in owners.items() if len(o) > 1}
    if doubled:
        return Verdict(False, f"partitions held by more than one node: {doubled}")
    unowned = [p for p in range(n_parts) if p not in owners]
    if unowned:
        return Verdict(False, f"unowned partitions {unowned}; held: {owned}")
    followers = [n for n in live if n != leader]
    loads = {n: len(owned[n]) for n in followers}
    if loads and max(loads.values()) - min(loads.values()) > 1:
        return Verdict(False, f"unbalanced loads {loads}")
    if check_leader_view:
        view = {m.get("id"): sorted(m.get("partitions") or []) for m in members}
        differ = {
            n: (view.get(n), sorted(owned[n]))
            for n in followers
            if view.get(n) != sorted(owned[n])
        }
        if differ:
            return Verdict(False, f"leader's view differs from /partitions (view, held): {differ}")
    epoch = next(iter(epochs.values()))
    return Verdict(
        True,
        f"leader {leader}, epoch {epoch}, loads {loads}",
        leader=leader,
        epoch=epoch,
        owned={n: sorted(v) for n, v in owned.items()},
        tokens=tokens,
    )
