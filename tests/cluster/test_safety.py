"""Safety under faults (issue 4): never two owners, never lost, one leader per epoch.

Real `ringfast node` processes on loopback, heartbeat 100 ms, check (failure timeout and
lease) 500 ms, every node writing a journal. Each test runs the OwnershipMonitor (G1 and
growing tokens from /partitions polls) and the LeadershipMonitor (G3 from /status polls) for
its whole duration, and ends with the journal checker (journal.py), which proves from the
nodes' own monotonic timestamps that no two processes' holding intervals of a partition
overlap (a SIGSTOPped node's ends at the expired_at it writes on waking; a killed node's
claim lasts past the kill, see journal.py), that fencing tokens only grow and that at most one
node led each epoch. Faults: SIGSTOP of a follower and of the leader past the lease, a 2|3
network partition through faultproxy.py (the leader on either side), kill -9 in the middle of
a handoff, a rolling restart with the same ids, graceful stops, kill -9.

The unowned window of each partition (from the journals: from the instant its holder stopped
acting to the next assignment) is reported per scenario (median and max over the partitions
that had one) in the "ringfast cluster timings" section.
"""

from __future__ import annotations


import pytest

from convergence import settled
from journal import ROLES, Journals, read_lines, window_figures
from leadership import LeadershipMonitor
from ownership import OwnershipMonitor
from support import stays, wait_for
from ringfast.clock import now

pytestmark = pytest.mark.cluster

HEARTBEAT_MS = 100
CHECK_MS = 500
LEASE = CHECK_MS / 1000
DEADLINE = 20.0  # seconds for any convergence
PAUSE = 2.0  # seconds a SIGSTOPped node stays frozen (4 leases)


class Guarded:
    """A cluster with journals, and the two monitors running for the whole test."""

    def __init__(self, cluster_factory, n: int, **kwargs) -> None:
        kwargs.setdefault("heartbeat_ms", HEARTBEAT_MS)
        kwargs.setdefault("check_ms", CHECK_MS)
        self.c = cluster_factory(n=n, journal=True, **kwargs)
        self.own = OwnershipMonitor(self.c, interval=0.03 if n <= 3 else 0.05).start()
        self.lead = LeadershipMonitor(self.c, interval=0.05 if n <= 3 else 0.1).start()
        self.failed: list[str] = []
        self.journals: Journals | None = None

    def settle(self, members, what: str, **kwargs):
        return wait_for(
            lambda: settled(self.c, members, **kwargs),
            DEADLINE,
            what=f"the cluster to settle ({what}) with members {members}",
        )

    def start_and_settle(self, names=None):
        """Start these nodes (default: all, spawned in a tight loop) and wait until settled."""
        if names is None:
            names = self.c.start()
        else:
            for name in names:
                self.c.start(name)
        return self.settle(names, "initial start")

    def journal(self, name: str, event: str | None = None, since: float | None = None) -> list[dict]:
        """One node's journal lines as written so far."""
        return [
            r for r in read_lines(self.c.journal_path(name))
            if (event is None or r.get("event") == event) and (since is None or r.get("t", 0) >= since)
        ]

    def stop(self) -> Journals:
        """Stop the monitors and read the journals (checked by finish())."""
        self.own.stop()
        self.lead.stop()
        self.journals = Journals.from_cluster(self.c)
        return self.journals

    def check(self, ok, message) -> None:
        """A scenario's own check after stop(): recorded, and raised by finish() together with
        everything else, so one run shows every property that failed."""
        if not ok:
            self.failed.append(message() if callable(message) else str(message))

    def finish(self) -> None:
        """Check what the monitors saw, the journals (G1, tokens, G3) and the scenario's own
        checks: one AssertionError listing every problem."""
        problems = list(self.failed)
        for check in (self.own.assert_no_double_ownership, self.own.assert_tokens_only_grow,
                      self.lead.assert_one_leader_per_epoch, self.journals.assert_safe):
            try:
                check()
            except AssertionError as e:
                problems.append(str(e))
        assert not problems, "\n".join(problems)


def followers(v) -> list[str]:
    return sorted(n for n in v.owned if n != v.leader)


def record_windows(record_timing, label: str, windows: dict[int, float]) -> None:
    median, worst = window_figures(windows)
    record_timing(f"{label}: unowned window per partition, median of {len(windows)}", median)
    record_timing(f"{label}: unowned window per partition, max", worst)


def remaining(deadline: float) -> float:
    return max(0.0, deadline - now())


# ---------------------------------------------------------------------------------------------
# SIGSTOP past the lease


def test_paused_follower_revokes_itself_and_moves_only_after_its_lease(cluster_factory, record_timing):
    g = Guarded(cluster_factory, 3)
    before = g.start_and_settle()
    victim = followers(before)[-1]
    held = before.owned[victim]
    others = [n for n in g.c.names if n != victim]

    t_pause = g.c.pause(victim)
    g.settle(others, f"while {victim} is frozen")
    # an observation window for the rest of the pause: the others stay settled without it
    stays(lambda: settled(g.c, others), remaining(t_pause + PAUSE), what=f"the others to stay settled while {victim} is frozen")
    t_resume = g.c.resume(victim)
    revokes = wait_for(lambda: g.journal(victim, "revoked", since=t_resume), DEADLINE,
                       what=f"{victim} to journal its revoke after waking")
    final = g.settle(g.c.names, f"after {victim} resumed")
    j = g.stop()
    record_windows(record_timing, "follower SIGSTOP", j.unowned_windows(t_pause, t_resume, held))

    # It revoked them itself, for lease expiry, when it woke; its right to act ended within
    # one lease of the pause (its last renewal was sent before it).
    r = revokes[0]
    g.check(r["reason"] == "lease_expired" and sorted(r["partitions"]) == held, f"{victim}'s first revoke after waking: {r}")
    g.check(t_pause < r.get("expired_at", 0) <= t_pause + LEASE, f"expired_at not within a lease of the pause at {t_pause:.3f}: {r}")
    # They moved only after its lease had expired.
    for p in held:
        moved = [h for h in j.by_partition()[p] if h.node != victim and h.start > t_pause]
        g.check(moved and moved[0].start >= r.get("expired_at", float("inf")),
                lambda p=p: f"partition {p} did not move, or moved before {victim}'s lease expired:\n{j.timeline(p)}")
    g.check(final.owned[victim], f"{victim} did not rejoin with partitions: {final}")
    g.finish()


def test_paused_leader_steps_down_without_evicting_anyone(cluster_factory, record_timing):
    g = Guarded(cluster_factory, 3)
    before = g.start_and_settle()
    old = before.leader
    others = [n for n in g.c.names if n != old]

    t_pause = g.c.pause(old)
    during = g.settle(others, f"while leader {old} is frozen")
    g.check(during.leader != old and during.epoch > before.epoch, f"no new leader with a higher epoch: {before} -> {during}")
    stays(lambda: settled(g.c, others), remaining(t_pause + PAUSE), what=f"the others to stay settled while {old} is frozen")
    t_resume = g.c.resume(old)
    after = g.settle(g.c.names, f"after the old leader {old} resumed")
    g.check(after.leader == during.leader and after.epoch == during.epoch, f"leadership changed again on the resume: {during} -> {after}")
    j = g.stop()
    record_windows(record_timing, "leader SIGSTOP", j.unowned_windows(t_pause, t_resume))

    # It stepped down on waking: its first role line after is not "leader", and it follows
    # the new leader in the new epoch.
    roles = [r for r in j.events(node=old, since=t_resume) if r["event"] in ROLES]
    g.check(roles and roles[0]["event"] != "leader", f"{old} did not step down on waking: {roles}")
    g.check(any(r["event"] == "follower" and r["leader"] == during.leader and r["epoch"] == during.epoch for r in roles),
            f"{old} never followed {during.leader} in epoch {during.epoch}: {roles}")
    # It evicted nobody and assigned nothing after the pause: no revoke for a rebalance and no
    # assignment in its epoch, nor a token of its epoch, anywhere after it froze.
    stale = [
        r for r in j.events(since=t_pause)
        if (r["event"] == "revoked" and r["reason"] == "rebalance" and r["epoch"] == before.epoch)
        or (r["event"] == "assigned" and (r["epoch"] == before.epoch
                                          or any(t >> 31 == before.epoch for t in r["tokens"].values())))
    ]
    g.check(not stale, f"the old leader's epoch {before.epoch} acted after the pause: {stale}")
    g.finish()


# ---------------------------------------------------------------------------------------------
# network partition


@pytest.mark.parametrize("leader_side", ["minority", "majority"])
def test_network_partition_2_3(cluster_factory, proxy_for, record_timing, leader_side):
    g = Guarded(cluster_factory, 5)
    proxy = proxy_for(g.c)
    before = g.start_and_settle()
    fs = followers(before)
    minority = [before.leader, fs[0]] if leader_side == "minority" else fs[:2]
    majority = [n for n in g.c.names if n not in minority]

    def minority_idle():
        """Nobody on the 2 side holds anything or says it leads."""
        for n in minority:
            parts, status = g.c.partitions(n), g.c.status(n)
            if parts is None or status is None or parts["partitions"] or status["node"]["role"] == "leader":
                return False
        return True

    t_cut = now()
    proxy.partition(minority, majority)
    wait_for(minority_idle, DEADLINE, what=f"the 2 side {minority} to hold no partitions and not lead")
    side = g.settle(majority, f"the 3 side {majority} alone", among=majority)
    if leader_side == "minority":
        g.check(side.leader in majority and side.epoch > before.epoch, f"no new leader on the 3 side: {before} -> {side}")
    else:
        g.check(side.leader == before.leader and side.epoch == before.epoch, f"the 3 side changed leader: {before} -> {side}")
    stays(lambda: minority_idle() and settled(g.c, majority, among=majority), 2 * LEASE,
          what="the partitioned cluster to stay as it is")
    t_heal = now()
    proxy.heal()
    g.settle(g.c.names, "after heal")
    j = g.stop()
    moved = [p for n in minority for p in before.owned[n]]
    record_windows(record_timing, f"2|3 partition, leader on the {leader_side} side", j.unowned_windows(t_cut, t_heal, moved))

    # G4: the 2 side was never assigned anything while cut off ...
    assigned = [r for r in j.events("assigned", since=t_cut) if r["node"] in minority and r["t"] < t_heal]
    g.check(not assigned, f"G4: the 2 side got assignments while cut off (cut at {t_cut:.3f}): {assigned}")
    # ... and let go of its partitions by itself, when its lease ran out: its last renewal
    # was sent before the cut, or, for a follower cut off together with the leader, before
    # that leader stepped down, one lease (and a tick) after the cut
    for n in minority:
        if before.owned[n]:
            revokes = j.events("revoked", node=n, since=t_cut)
            bound = t_cut + (2 if n != before.leader and before.leader in minority else 1) * LEASE + 0.1
            g.check(revokes and revokes[0]["reason"] == "lease_expired" and revokes[0]["expired_at"] <= bound,
                    f"{n} did not let go by lease expiry by {bound:.3f}: {revokes}")
    g.finish()


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a handoff


def test_kill_during_handoff(cluster_factory, proxy_for, record_timing):
    """The victim is asked to revoke (a 4th node joins), revokes, and is killed while its ack
    is still on the way: the proxy holds what it sends to the leader back by ACK_DELAY, and
    bytes still held back when their sender dies are lost with it."""
    ACK_DELAY = 250  # ms; below lease - heartbeat, so the delayed heartbeats keep it a member
    g = Guarded(cluster_factory, 3)
    newcomer = g.c.add_node(start=False)
    proxy = proxy_for(g.c)
    before = g.start_and_settle(["n1", "n2", "n3"])
    victim = followers(before)[0]
    proxy.delay(victim, before.leader, ACK_DELAY)
    stays(lambda: settled(g.c, 3), 3 * ACK_DELAY / 1000, what="the cluster to stay settled with a delay below the lease")

    t0 = now()
    g.c.start(newcomer)
    revoke = wait_for(lambda: g.journal(victim, "revoked", since=t0), DEADLINE, interval=0.002,
                      what=f"{victim} to be asked to revoke")[0]
    t_kill = g.c.kill(victim)
    g.check(revoke["reason"] == "rebalance", f"not a rebalance: {revoke}")
    g.check(t_kill - revoke["t"] < ACK_DELAY / 1000, f"killed {t_kill - revoke['t']:.3f}s after the revoke: its ack may have arrived")
    rest = [n for n in g.c.names if n != victim]
    g.settle(rest, f"after kill -9 of {victim} mid-handoff")
    j = g.stop()
    record_windows(record_timing, "kill -9 mid-handoff", j.unowned_windows(revoke["t"], partitions=before.owned[victim]))
    g.finish()


# ---------------------------------------------------------------------------------------------
# rolling restart, graceful stop, kill -9


def test_rolling_restart_moves_no_partition(cluster_factory, record_timing):
    g = Guarded(cluster_factory, 4, extra_args=("--exit-mode", "restart"))
    before = g.start_and_settle()
    t_first = now()
    for f in followers(before):
        g.c.stop(f)  # SIGTERM with --exit-mode restart: revokes locally, the leader keeps them
        g.c.start(f)
        after = g.settle(g.c.names, f"after the restart of {f}")
        g.check(after.leader == before.leader, f"the restart of {f} changed the leader: {before} -> {after}")
        g.check(after.owned == before.owned, f"the restart of {f} moved partitions: {before.owned} -> {after.owned}")
    j = g.stop()
    record_windows(record_timing, "rolling restart", j.unowned_windows(t_first))
    moved = {p: j.owners(p) for p in range(g.c.num_partitions) if len(set(j.owners(p))) != 1}
    g.check(not moved, f"partitions held by more than one node id over the rolling restart: {moved}")
    g.finish()


@pytest.mark.parametrize("who", ["follower", "leader"])
def test_graceful_stop_hands_off_within_one_handoff(cluster_factory, record_timing, who):
    g = Guarded(cluster_factory, 3)
    before = g.start_and_settle()
    victim = before.leader if who == "leader" else followers(before)[-1]
    rest = [n for n in g.c.names if n != victim]
    t0 = now()
    g.c.stop(victim)
    after = g.settle(rest, f"after SIGTERM of the {who} {victim}")
    if who == "leader":
        g.check(after.leader != victim and after.epoch > before.epoch, f"no new leader with a higher epoch: {before} -> {after}")
    j = g.stop()
    windows = j.unowned_windows(t0)
    record_windows(record_timing, f"graceful leave of the {who}", windows)
    # one handoff, not a failure-detection timeout (which is a lease)
    slow = {p: round(w, 3) for p, w in windows.items() if w >= LEASE}
    g.check(not slow, f"partitions unowned for a lease or more after a graceful leave: {slow}")
    if who == "follower":
        revs = j.events("revoked", node=victim, since=t0)
        g.check([(r["reason"], sorted(r["partitions"])) for r in revs] == [("stop", before.owned[victim])],
                f"{victim} did not revoke all it held once, for the stop: {revs}")
    g.finish()


@pytest.mark.parametrize("who", ["follower", "leader"])
def test_kill_9_unowned_window(cluster_factory, record_timing, who):
    g = Guarded(cluster_factory, 3)
    before = g.start_and_settle()
    victim = before.leader if who == "leader" else followers(before)[-1]
    rest = [n for n in g.c.names if n != victim]
    t_kill = g.c.kill(victim)
    after = g.settle(rest, f"after kill -9 of the {who} {victim}")
    if who == "leader":
        g.check(after.leader != victim and after.epoch > before.epoch, f"no new leader with a higher epoch: {before} -> {after}")
    j = g.stop()
    record_windows(record_timing, f"{who} kill -9", j.unowned_windows(t_kill))
    g.finish()
