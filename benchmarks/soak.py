"""Soak: a real cluster under random faults for N minutes, its journals checked as it goes.

    python benchmarks/soak.py --minutes 30 [--nodes 5] [--seed 1] [--dir DIR] [--faults KINDS]

Five `ringfast node` processes (heartbeat 100 ms, lease 500 ms) talk through the fault
proxy of the test harness. Every few seconds one fault from a seeded random schedule, of
the kinds `--faults` names (comma-separated; default all):

- kill: kill -9 and restart; pause: SIGSTOP for up to 4 leases then SIGCONT; stop: SIGTERM
  (half the nodes leave, half use the restart exit mode) and start again; partition: a
  network partition (one side of 1 or 2 nodes) that heals after a while; one-way: a
  one-way cut that heals after a while.
- impostor: a second `ringfast node` with a live member's id (its own ports, the same
  seeds) for 2-5 s, then killed (SIGKILL or SIGTERM). It must be refused (counted in
  ringfast_peers_refused_total{reason="duplicate_id"}), hold nothing and lead nothing, and
  the real member must keep its partitions (no revoke, assignment or role change in its
  journal, its /partitions unchanged). The impostor journals to a file of its own
  (<id>~impostor<k>.journal.jsonl), read by the journal checks under that name.
- misconfigured: a follower stopped and started for 2-5 s with one partition more, one
  voter fewer, one unknown voter more or one voter swapped for an unknown one; the others
  must refuse it (settings_mismatch) and it must hold nothing; then it is started as
  configured and the cluster must settle again.
- bogus-epoch: one well-formed frame (hello, heartbeat, vote_req, vote, leader_is, assign or
  revoke) with an epoch above the wall-clock bound sent on a raw TCP connection to a node's
  cluster port (1 in 4 above the wire's range instead): refused (epoch_out_of_range; beyond
  the wire, the connection closed), counted, and the cluster still settled in the same epoch.

Clock skew (a nemesis of the simulation, tests/sim/nemeses.py) is not here: the clocks of a
real process cannot be skewed from outside it without faketime or a VM.

After each fault and its repair the cluster must settle (one leader, every partition owned
once, balanced) within a deadline, and every 30 s and at the end the journals are checked:
no two processes ever held a partition at the same time, tokens only grow, one leader per
epoch. The summary gives the faults injected per kind, the settles and their slowest time,
the checks run and their results. Exit status 0 only if all of that held (1 otherwise, 130
on Ctrl-C); every process the run started is killed by pid at the end, whatever happened.
The logs and journals are kept when something failed (or with --dir).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests", "cluster"), os.path.join(HERE, "..", "tests")]

import hostile  # noqa: E402
from convergence import settled  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from harness import Cluster  # noqa: E402

SETTLE_DEADLINE = 30.0
LEASE = 0.5
OLD_KINDS = ["kill", "pause", "stop", "partition", "one-way"]
NEW_KINDS = ["impostor", "misconfigured", "bogus-epoch"]
KINDS = OLD_KINDS + NEW_KINDS


class Violation(Exception):
    """Something the cluster promises did not hold: the run stops and exits 1."""


def wait_settled(cluster, members, deadline=SETTLE_DEADLINE):
    """(seconds until settled, the verdict)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < deadline:
        last = settled(cluster, members, fail_on_crash=False)
        if last:
            return time.monotonic() - t0, last
        time.sleep(0.05)
    raise Violation(f"the cluster did not settle within {deadline:.0f}s (members {members}): {last!r}")


class Soak:
    def __init__(self, cluster, proxy, rnd, kinds):
        self.cluster, self.proxy, self.rnd, self.kinds = cluster, proxy, rnd, kinds
        self.names = list(cluster.nodes)
        self.faults: list[str] = []
        self.kinds_run: list[str] = []
        self.settles: list[float] = []
        self.checks = 0
        self.outcomes: list[hostile.Outcome] = []
        self.impostors: list[hostile.Impostor] = []
        self.verdict = None
        self.journals_failed = False

    def check_journals(self):
        try:
            hostile.journals(self.cluster, self.impostors).assert_safe()
        except AssertionError:
            self.journals_failed = True
            raise
        self.checks += 1

    def settle(self):
        took, self.verdict = wait_settled(self.cluster, self.names)
        self.settles.append(took)
        return took

    def fault(self):
        """Inject one fault and repair it; returns a label."""
        rnd, cluster, proxy, names = self.rnd, self.cluster, self.proxy, self.names
        victim = rnd.choice(names)
        kind = rnd.choice(self.kinds)
        if kind == "kill":
            cluster.kill(victim, signal.SIGKILL)
            time.sleep(rnd.uniform(0.1, 1.5))  # down for a while, then back with the same id
            cluster.restart(victim)
        elif kind == "pause":
            cluster.pause(victim)
            time.sleep(rnd.uniform(0.1, 4 * LEASE))
            cluster.resume(victim)
        elif kind == "stop":  # SIGTERM: odd nodes leave, even ones restart (see main)
            cluster.stop(victim)
            time.sleep(rnd.uniform(0.1, 1.0))
            cluster.restart(victim)
        elif kind == "partition":
            side = rnd.sample(names, rnd.randint(1, len(names) // 2))
            proxy.partition(side, [n for n in names if n not in side])
            time.sleep(rnd.uniform(0.5, 3.0))
            proxy.heal()
            victim = ",".join(side)
        elif kind == "one-way":
            other = rnd.choice([n for n in names if n != victim])
            proxy.cut_one_way(victim, other)
            time.sleep(rnd.uniform(0.5, 2.0))
            proxy.heal()
            victim = f"{victim}->{other}"
        elif kind == "impostor":
            how = rnd.choice(["kill", "term"])
            label = f"{victim}~impostor{len(self.impostors) + 1}"
            out = hostile.impostor(cluster, victim, rnd.uniform(2.0, 5.0), how, label, started=self.impostors)
            return self._hostile(kind, out)
        elif kind == "misconfigured":
            victim = rnd.choice([n for n in names if n != self.verdict.leader])
            variant = rnd.choice(hostile.VARIANTS)
            out = hostile.misconfigured_restart(cluster, victim, variant, rnd.uniform(2.0, 5.0), rnd)
            return self._hostile(kind, out)
        else:
            epoch0 = self.verdict.epoch
            frame = rnd.choice(hostile.BOGUS_KINDS)
            sender = rnd.choice(["intruder"] + names)
            out = hostile.bogus_epoch(cluster, victim, frame, sender, rnd, beyond_wire=rnd.random() < 0.25)
            if out.ok:  # and still settled, at once, in the same epoch
                verdict = settled(cluster, names, fail_on_crash=False)
                if not verdict:
                    out.problems.append(f"not settled right after the frame: {verdict!r}")
                elif verdict.epoch != epoch0:
                    out.problems.append(f"settled in epoch {verdict.epoch} after the frame, {epoch0} before")
            return self._hostile(kind, out)
        self.kinds_run.append(kind)
        return f"{kind} {victim}"

    def _hostile(self, kind, out):
        self.kinds_run.append(kind)
        self.outcomes.append(out)
        if out.problems:
            raise Violation(str(out))
        return out.what

    def summary(self, error):
        kinds: dict[str, int] = {}
        for k in self.kinds_run:
            kinds[k] = kinds.get(k, 0) + 1
        lines = [f"soak: {len(self.kinds_run)} faults {kinds}; {len(self.settles)} settles"
                 + (f" (slowest {max(self.settles):.2f}s)" if self.settles else "")
                 + f"; {self.checks} journal checks (no overlap, growing tokens, one leader per epoch"
                 + (f", {len(self.impostors)} impostor journals among them)" if self.impostors else ")")]
        by_kind: dict[str, list[hostile.Outcome]] = {}
        for out in self.outcomes:
            by_kind.setdefault(out.kind, []).append(out)
        for kind, outs in by_kind.items():
            ok = sum(o.ok for o in outs)
            lines.append(f"soak:   {kind}: {ok}/{len(outs)} held: {CHECKS[kind]}")
        lines.append("soak: OK" if error is None else "soak: INTERRUPTED" if error == "interrupted" else f"soak: FAILED: {error}")
        return "\n".join(lines)


CHECKS = {
    "impostor": "refused (duplicate_id counted), held and led nothing, the member kept its partitions",
    "misconfigured": "refused (settings_mismatch counted), held and led nothing, settled once restarted right",
    "bogus-epoch": "refused (epoch_out_of_range, or closed beyond the wire's range), counted, same epoch and leader",
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="keep logs and journals here (default: a temp dir, removed if all held)")
    ap.add_argument("--faults", default=",".join(KINDS),
                    help=f"comma-separated fault kinds to draw from (default all: {','.join(KINDS)})")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        ap.error(f"--faults: unknown kind(s) {unknown or args.faults!r}; choose from {','.join(KINDS)}")
    rnd = random.Random(args.seed)
    workdir = args.dir or tempfile.mkdtemp(prefix="ringfast-soak-")

    def on_term(signum, frame):  # SIGTERM ends the run like Ctrl-C: every process stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    cluster = Cluster(workdir, n=args.nodes, partitions=12, heartbeat_ms=100, check_ms=500, journal=True)
    proxy = FaultProxy.for_cluster(cluster)
    for i, node in enumerate(cluster.nodes.values()):  # both ways of stopping get exercised
        node.env["RINGFAST_EXIT_MODE"] = "restart" if i % 2 else "leave"
    soak = Soak(cluster, proxy, rnd, kinds)
    end = time.monotonic() + args.minutes * 60
    last_check = time.monotonic()
    error = None
    status = 0
    try:
        cluster.start()
        soak.settle()
        print(f"soak: {args.nodes} nodes settled in {soak.settles[-1]:.2f}s; faults ({','.join(kinds)}) "
              f"until {args.minutes:g} min, seed {args.seed}, in {workdir}", flush=True)
        while time.monotonic() < end:
            soak.faults.append(soak.fault())
            soak.settle()
            print(f"soak: {len(soak.faults):4d} {soak.faults[-1]:<64} settled in {soak.settles[-1]:.2f}s", flush=True)
            if time.monotonic() - last_check > 30:
                soak.check_journals()
                last_check = time.monotonic()
        soak.check_journals()
    except (Violation, AssertionError) as e:
        error, status = str(e), 1
    except KeyboardInterrupt:
        error, status = "interrupted", 130
    finally:
        for imp in soak.impostors:
            imp.close()
        proxy.close()
        cluster.close()
    if status and not soak.journals_failed:  # a last look: did what happened leave an overlap behind?
        try:
            soak.check_journals()
        except AssertionError as e:
            error += f"\nand the journals: {e}"
            status = 1
    print(soak.summary(error), flush=True)
    if status:
        print(f"soak: logs and journals kept in {workdir}")
    elif not args.dir:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
