"""Failover figures with real processes on loopback: ringfast and ring-election side by side.

    python benchmarks/failover.py [--runs 5] [--nodes 5] [--timings default,fast]
        [--systems ringfast-state,ringfast,ring-election] [--markdown FILE] [--json FILE]

Systems, each as separate processes, one per node:

- ringfast-state: `ringfast node` with a state dir per node (RINGFAST_STATE_DIR), empty at
  the start of each trial, so every node starts "fresh" (it has never voted);
- ringfast: `ringfast node` without a state dir;
- ring-election: the npm package, installed with npm into a temporary folder (skipped, and
  said so, when npm is missing or the install fails), each node started by
  benchmarks/ring_election_node.js as its README says (every node a follower connecting
  to SEED_NODES), observed through its monitoring API (/status, /partitions).

Timing profiles: default (heartbeat 1000 ms, check 3000 ms) and fast (100 ms / 500 ms).
For ring-election they become its environment variables (ring_election_env()):
heartbeat -> HEART_BEAT_FREQUENCY; check -> HEART_BEAT_CHECK_FREQUENCY and MAX_INACTIVE_TIME
(the time without a heartbeat after which the leader drops a follower: 10000 ms unless
set; ringfast's check is that failure timeout); TIME_TO_RECONNECT = check and
TIME_TO_BECOME_SEED = heartbeat (so the default profile is exactly ring-election's own
defaults for those two). ring-election 0.0.11 reads HEARTH_BEAT_FREQUENCY and
HEARTH_BEAT_CHECK_FREQUENCY (its README spells them without the H): both are set.

Each trial, on a new cluster of --nodes nodes and 10 partitions:

- cold start: all nodes started at once; from the start of the last one until every
  partition is owned by exactly one live follower and every node names one leader
  ("boot" is the part until every node answers /status: the processes starting; the
  targets are checked on the whole, and the part after boot is shown next to it);
- leader kill -9, at once (or --leader-kill-after later): until every partition is owned
  again by the live followers under one new leader;
- follower kill -9 (a follower that owns partitions): until its partitions are owned again.

ring-election's failover phases run on a second cluster, formed the way its README says
works ("the first node to start will be the leader": n1 alone, then the others): after a
simultaneous start it is often left with two leaders for good, and a follower looks for
a new leader only among the seeds listed after the old one, so which node led decides
whether a leader failover can work at all.

"Owned" is read from outside, by polling every node's /status and /partitions, so each
figure includes up to one polling round (a few ms per node). For ringfast, settled also
requires balanced loads (tests/cluster/convergence.py); ring-election is not required to
balance (it does not always). A phase that does not settle by its deadline counts as
not converged (the trial's later phases are then skipped, except ring-election's, which
run on a cluster of their own): medians treat it as infinite,
and the table says how many trials converged.

Every process started here is stopped by pid (kill -9, then wait) on the way out, also on
Ctrl-C, SIGTERM or an error. Exit status 0 even when a target is missed (the report says
PASS/MISS); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
sys.path[:0] = [os.path.join(TESTS, "cluster"), TESTS]

from convergence import settled  # noqa: E402
from harness import Cluster  # noqa: E402
from nodes import http_get_json  # noqa: E402
from support import free_ports  # noqa: E402

PROFILES = {"default": (1000, 3000), "fast": (100, 500)}
SYSTEMS = ("ringfast-state", "ringfast", "ring-election")
RINGFAST_SYSTEMS = ("ringfast-state", "ringfast")
LABELS = {
    "ringfast-state": "ringfast, state dir",
    "ringfast": "ringfast, no state dir",
    "ring-election": "ring-election",
}
PHASES = ("start", "leader_kill", "follower_kill")
PHASE_LABELS = {
    "start": "cold start -> all owned, one leader",
    "leader_kill": "leader kill -9 -> all owned again",
    "follower_kill": "follower kill -9 -> its partitions owned again",
}
PARTITIONS = 10
RING_ELECTION_SPEC = "ring-election@~0.0.11"  # 0.0.11 or the latest 0.0.x after it
LAUNCHER = os.path.join(HERE, "ring_election_node.js")
POLL = 0.01  # seconds between polling rounds


def kill_after(option: str, check_ms: int) -> float:
    """--leader-kill-after: seconds, or 'lease' for one check interval."""
    return check_ms / 1000 if option == "lease" else float(option)


def deadline_for(check_ms: int) -> float:
    """Seconds a phase may take before it counts as not converged."""
    return 5 + 6 * check_ms / 1000


# --------------------------------------------------------------------------- ring-election


def ring_election_env(port: int, monitoring_port: int, seeds: list[str], partitions: int,
                      heartbeat_ms: int, check_ms: int) -> dict[str, str]:
    """ring-election's own environment variables for one node (see the module docstring)."""
    return {
        "PORT": str(port),
        "SEED_NODES": ",".join(seeds),
        "MONITORING_PORT": str(monitoring_port),
        "NUM_PARTITIONS": str(partitions),
        "HEART_BEAT_FREQUENCY": str(heartbeat_ms),  # the README's names
        "HEART_BEAT_CHECK_FREQUENCY": str(check_ms),
        "HEARTH_BEAT_FREQUENCY": str(heartbeat_ms),  # what 0.0.11's code reads
        "HEARTH_BEAT_CHECK_FREQUENCY": str(check_ms),
        "MAX_INACTIVE_TIME": str(check_ms),  # the failure timeout (its default: 10000)
        "TIME_TO_RECONNECT": str(check_ms),  # its default 3000 = the default check
        "TIME_TO_BECOME_SEED": str(heartbeat_ms),  # its default 1000 = the default heartbeat
        "NODE_ENV": "dev",  # its log lines also on stdout (the node's log file here)
        "LOG_LEVEL": "info",
    }


def ring_election_verdict(observed: dict, num_partitions: int) -> tuple[bool, str | None, str]:
    """Has a ring-election cluster settled? -> (ok, leader id or None, reason).

    `observed`: {id: (own cluster port, GET /status or None, GET /partitions or None)} for
    every live node. Settled: every node answers /status; the last entry of each /status
    (a follower's: the leader it is connected to; the leader's: itself) names the same port,
    which is a live node's (the leader); the leader lists exactly as many members as there
    are live followers, with the very partitions each follower's /partitions shows; and
    those cover range(num_partitions), each partition exactly once. A null in a list of
    partitions is not counted as one (ring-election adds one when it hands out more
    partitions than a leaving follower had).
    """
    if not observed:
        return False, None, "no live nodes"
    ports = {}
    for node, (_, status, _) in observed.items():
        if not isinstance(status, list) or not status or not isinstance(status[-1], dict):
            return False, None, f"no /status from {node}"
        ports[node] = str(status[-1].get("port"))
    if len(set(ports.values())) != 1:
        return False, None, f"leaders differ (by port): {ports}"
    leader_port = next(iter(ports.values()))
    leaders = [n for n, (own, _, _) in observed.items() if str(own) == leader_port]
    if len(leaders) != 1:
        return False, None, f"the leader's port {leader_port} is no live node's"
    leader = leaders[0]
    followers = [n for n in observed if n != leader]
    held = {}
    for n in followers:
        parts = observed[n][2]
        if not isinstance(parts, list) or not all(p is None or isinstance(p, int) for p in parts):
            return False, leader, f"no /partitions list from {n}: {parts!r}"
        held[n] = sorted(p for p in parts if p is not None)  # it lists a null when it ran out
    members = observed[leader][1][:-1]
    if len(members) != len(followers):
        return False, leader, f"the leader lists {len(members)} members, {len(followers)} followers live"
    view = sorted(sorted(p for p in (m.get("partitions") or []) if p is not None) for m in members)
    if view != sorted(held.values()):
        return False, leader, f"the leader's view {view} differs from the followers' {sorted(held.values())}"
    owned = sorted(p for ps in held.values() for p in ps)
    if owned != list(range(num_partitions)):
        return False, leader, f"partitions owned {owned}, expected each of range({num_partitions}) once"
    return True, leader, f"leader {leader}, loads {sorted(len(v) for v in held.values())}"


def install_ring_election(dest: str, spec: str = RING_ELECTION_SPEC, timeout: float = 300) -> tuple[str | None, str]:
    """npm install `spec` into `dest` (a scratch folder). -> (version or None, message)."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        return None, "npm or node not found"
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "package.json"), "w", encoding="utf-8") as f:
        f.write('{"name": "ring-election-bench-scratch", "private": true}\n')
    cmd = [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error", spec]
    proc = subprocess.Popen(cmd, cwd=dest, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        return None, f"npm install {spec} failed ({proc.returncode}): {out.strip()[-500:]}"
    return ring_election_version(dest), f"installed {spec}"


def ring_election_version(dest: str) -> str | None:
    try:
        with open(os.path.join(dest, "node_modules", "ring-election", "package.json"), encoding="utf-8") as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


class RingElectionCluster:
    """n ring-election node processes (ids n1..nN), same seed list everywhere, as its
    docker-compose file and README have it. close() kills every process by pid."""

    def __init__(self, tmp: str, package_dir: str, n: int, partitions: int, heartbeat_ms: int, check_ms: int):
        self.dir = tmp
        os.makedirs(tmp, exist_ok=True)
        self.package_dir = package_dir
        self.num_partitions = partitions
        ports = free_ports(2 * n)
        self.ports = {f"n{i + 1}": ports[2 * i] for i in range(n)}
        self.mports = {f"n{i + 1}": ports[2 * i + 1] for i in range(n)}
        seeds = [f"127.0.0.1:{p}" for p in self.ports.values()]
        self.env = {
            name: ring_election_env(self.ports[name], self.mports[name], seeds, partitions, heartbeat_ms, check_ms)
            for name in self.ports
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()

    def start(self, names: list[str] | None = None) -> None:
        """Start these nodes (default: all) in a tight loop, so they start at nearly one instant."""
        prepared = []
        for name in names or list(self.env):
            extra = self.env[name]
            cwd = os.path.join(self.dir, name)  # it writes bully.log into its working directory
            os.makedirs(cwd, exist_ok=True)
            env = {k: v for k, v in os.environ.items() if k not in extra}
            env.update(extra, RING_ELECTION_DIR=self.package_dir)
            prepared.append((name, cwd, env, open(os.path.join(self.dir, f"{name}.log"), "ab")))
        try:
            for name, cwd, env, log in prepared:
                self.procs[name] = subprocess.Popen(["node", LAUNCHER], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                                    stdout=log, stderr=subprocess.STDOUT)
        finally:
            for *_, log in prepared:
                log.close()

    def live(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is None]

    def crashed(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None and n not in self.killed]

    def observe(self) -> dict:
        out = {}
        for n in self.live():
            out[n] = (self.ports[n], http_get_json(self.mports[n], "/status"), http_get_json(self.mports[n], "/partitions"))
        return out

    def booted(self) -> bool:
        return all(http_get_json(self.mports[n], "/status") is not None for n in self.live())

    def leads(self, name: str) -> bool:
        """The node says it is the leader (the last entry of its /status is its own port)."""
        status = http_get_json(self.mports[name], "/status")
        return isinstance(status, list) and bool(status) and str(status[-1].get("port")) == str(self.ports[name])

    def verdict(self, expect: int):
        live = self.live()
        if len(live) != expect:
            return False, None, f"{len(live)} live nodes, expected {expect}"
        return ring_election_verdict(self.observe(), self.num_partitions)

    def kill(self, name: str) -> None:
        self.killed.add(name)
        proc = self.procs[name]
        proc.kill()
        proc.wait(10)

    def close(self) -> None:
        for name, proc in self.procs.items():
            self.killed.add(name)
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process stuck in the kernel
                pass


# --------------------------------------------------------------------------- one system, uniformly


class System:
    """One cluster of one system, behind the few operations a trial needs."""

    def __init__(self, kind: str, tmp: str, nodes: int, hb: int, check: int, package_dir: str | None = None):
        self.kind = kind
        if kind == "ring-election":
            self.c = RingElectionCluster(tmp, package_dir, nodes, PARTITIONS, hb, check)
        else:
            self.c = Cluster(tmp, n=nodes, partitions=PARTITIONS, heartbeat_ms=hb, check_ms=check)
            if kind == "ringfast-state":
                for name, node in self.c.nodes.items():
                    # A state dir that does not exist yet: the node starts fresh.
                    node.env["RINGFAST_STATE_DIR"] = os.path.join(tmp, f"{name}.state")

    def start(self) -> None:
        self.c.start()

    def form_one_by_one(self, deadline: float) -> str | None:
        """ring-election only: form the cluster the way its README says works ("the first node
        to start will be the leader"): n1 alone until it leads, then the others at once.
        -> None when formed, else why not."""
        first, *others = list(self.c.env)
        t0 = time.monotonic()
        self.c.start([first])
        while not self.c.leads(first):
            if time.monotonic() - t0 > deadline:
                return f"{first} did not lead within {deadline:.0f} s"
            time.sleep(POLL)
        self.c.start(others)
        took, last = _wait_settled(self, len(self.c.env), deadline, time.monotonic())
        return None if took is not None else f"not settled after {deadline:.0f} s: {last[3]}"

    def booted(self) -> bool:
        if self.kind == "ring-election":
            return self.c.booted()
        return all(self.c.status(n) is not None for n in self.c.live())

    def check(self, expect: int):
        """-> (settled, leader, owned {id: [partitions]} or None, reason)."""
        if self.kind == "ring-election":
            ok, leader, reason = self.c.verdict(expect)
            if not ok:
                return False, leader, None, reason
            obs = self.c.observe()
            owned = {n: sorted(x for x in p if x is not None)
                     for n, (_, _, p) in obs.items() if n != leader and isinstance(p, list)}
            return True, leader, owned, reason
        v = settled(self.c, expect, fail_on_crash=False)
        return bool(v), getattr(v, "leader", None) if v else None, getattr(v, "owned", None) if v else None, v.reason

    def kill(self, name: str) -> None:
        if self.kind == "ring-election":
            self.c.kill(name)
        else:
            self.c.kill(name, signal.SIGKILL)

    def crashed(self) -> list[str]:
        if self.kind == "ring-election":
            return self.c.crashed()
        return sorted(self.c.crashed())

    def close(self) -> None:
        self.c.close()


@dataclass
class Trial:
    start: float | None = None
    boot: float | None = None
    leader_kill: float | None = None
    follower_kill: float | None = None
    notes: list[str] = field(default_factory=list)


def _wait_settled(system: System, expect: int, deadline: float, t0: float):
    """Poll until settled; -> (seconds since t0 or None, the last check)."""
    last = None
    while True:
        last = system.check(expect)
        if last[0]:
            return time.monotonic() - t0, last
        if time.monotonic() - t0 > deadline:
            return None, last
        time.sleep(POLL)


def one_trial(kind: str, tmp: str, nodes: int, hb: int, check: int, package_dir: str | None = None,
              deadline: float | None = None, kill_after: float = 0.0) -> Trial:
    deadline = deadline or deadline_for(check)
    trial = Trial()
    system = System(kind, os.path.join(tmp, "start"), nodes, hb, check, package_dir)
    try:
        system.start()
        t0 = time.monotonic()
        booted = False
        last = None
        while True:
            if not booted and system.booted():
                booted, trial.boot = True, time.monotonic() - t0
            last = system.check(nodes)
            if last[0]:
                trial.start = time.monotonic() - t0
                if trial.boot is None:  # settled implies every node answered
                    trial.boot = trial.start
                break
            if time.monotonic() - t0 > deadline:
                trial.notes.append(f"start: not settled after {deadline:.0f} s: {last[3]}")
                if kind != "ring-election":
                    return trial
                break
            time.sleep(POLL)
        if kind == "ring-election":
            # A simultaneous start often leaves it with two leaders for good, and which node
            # leads decides whether a leader failover can work at all (a follower looks for
            # the new leader only among the seeds after the old one). The failover phases
            # run on a cluster formed the way its README says works instead.
            _crashed(system, trial, "start")
            system.close()
            system = System(kind, os.path.join(tmp, "failover"), nodes, hb, check, package_dir)
            why = system.form_one_by_one(deadline)
            if why:
                trial.notes.append(f"forming one by one for the failover phases: {why}")
                return trial
            last = system.check(nodes)
        if kill_after:
            time.sleep(kill_after)
            took, last = _wait_settled(system, nodes, deadline, time.monotonic())
            if took is None:
                trial.notes.append(f"not settled before the leader kill: {last[3]}")
                return trial
        leader = last[1]
        t0 = time.monotonic()
        system.kill(leader)
        trial.leader_kill, last = _wait_settled(system, nodes - 1, deadline, t0)
        if trial.leader_kill is None:
            trial.notes.append(f"leader kill: not settled after {deadline:.0f} s: {last[3]}")
            return trial
        victim = next(n for n, parts in sorted(last[2].items()) if parts)
        t0 = time.monotonic()
        system.kill(victim)
        trial.follower_kill, last = _wait_settled(system, nodes - 2, deadline, t0)
        if trial.follower_kill is None:
            trial.notes.append(f"follower kill: not settled after {deadline:.0f} s: {last[3]}")
        return trial
    finally:
        _crashed(system, trial, "failover" if kind == "ring-election" else "")
        system.close()


def _crashed(system: System, trial: Trial, when: str) -> None:
    crashed = system.crashed()
    if crashed:
        trial.notes.append(f"exited by themselves{' (' + when + ')' if when else ''}: {crashed}")


# --------------------------------------------------------------------------- summaries, targets, tables


def median_or_none(values: list[float | None]) -> float | None:
    """Median with a missing value (did not converge) counted as infinitely slow; None if
    that median is one of them."""
    if not values:
        return None
    m = statistics.median([math.inf if v is None else v for v in values])
    return None if math.isinf(m) else m


def summarize(trials: list[Trial]) -> dict:
    out = {"runs": len(trials)}
    for phase in (*PHASES, "boot"):
        vals = [getattr(t, phase) for t in trials]
        out[phase] = median_or_none(vals)
        out[phase + "_converged"] = sum(v is not None for v in vals)
    # the cold start less the processes' boot, trial by trial
    out["after_boot"] = median_or_none([None if t.start is None or t.boot is None else t.start - t.boot
                                        for t in trials])
    return out


def targets(results: dict) -> list[dict]:
    """The issue's targets, checked on the medians. `results`: {profile: {system: summary}}.
    -> [{"profile", "system", "what", "value", "limit", "verdict"}] (verdict PASS or MISS)."""
    rows = []

    def add(profile, system, what, phase, limit):
        s = results.get(profile, {}).get(system)
        if s is None:
            return
        value = s.get(phase)
        rows.append({"profile": profile, "system": system, "what": what, "value": value, "limit": limit,
                     "after_boot": s.get("after_boot") if phase == "start" else None,
                     "verdict": "PASS" if value is not None and value <= limit else "MISS"})

    for profile, by_system in results.items():
        hb, check = PROFILES[profile]
        lease = check / 1000
        for system in RINGFAST_SYSTEMS:
            if system not in by_system:
                continue
            add(profile, system, "leader kill -9 -> owned again", "leader_kill", 0.3 if profile == "default" else 0.15)
            if system == "ringfast-state":
                add(profile, system, "cold start with a state dir", "start", 1.0)
            else:
                add(profile, system, "cold start without a state dir (one failure timeout)", "start", lease)
            add(profile, system, "follower kill -9 -> owned again (lease + 0.3 s)", "follower_kill", lease + 0.3)
    return rows


def fmt(value: float | None, converged: int | None = None, runs: int | None = None) -> str:
    text = "did not converge" if value is None else f"{value:.3f} s"
    if converged is not None and runs and converged < runs:
        text += f" ({converged}/{runs} converged)"
    return text


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def markdown_tables(report: dict) -> str:
    """The results as Markdown: one table per profile, then the targets."""
    lines = []
    systems = [s for s in SYSTEMS if any(s in r for r in report["results"].values())]
    re_there = "ring-election" in systems
    for profile, by_system in report["results"].items():
        hb, check = PROFILES[profile]
        runs = max((s["runs"] for s in by_system.values()), default=0)
        after = kill_after(str(report.get("leader_kill_after") or "0"), check)
        when = f"; the leader killed {after:g} s after the start settled" if after else ""
        lines.append(f"**{profile} profile** (heartbeat {hb} ms, check {check} ms), {report['nodes']} nodes, "
                     f"{PARTITIONS} partitions, median of {runs} trials{when}:")
        lines.append("")
        head = ["event"] + [LABELS[s] for s in systems]
        if re_there:
            head += [f"{LABELS[s]} / ring-election" for s in RINGFAST_SYSTEMS if s in systems]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for phase in PHASES:
            row = [PHASE_LABELS[phase]]
            for s in systems:
                summ = by_system.get(s)
                row.append("not run" if summ is None else fmt(summ[phase], summ[phase + "_converged"], summ["runs"]))
            if re_there:
                other = (by_system.get("ring-election") or {}).get(phase)
                for s in RINGFAST_SYSTEMS:
                    if s in systems:
                        row.append(ratio((by_system.get(s) or {}).get(phase), other))
            lines.append("| " + " | ".join(row) + " |")
        boot = [f"{LABELS[s]} {by_system[s]['boot']:.3f} s" for s in systems
                if s in by_system and by_system[s].get("boot") is not None]
        if boot:
            lines.append("")
            lines.append("Of the cold start, the processes booting (until every node answers /status), median: "
                         + "; ".join(boot) + ".")
        lines.append("")
    if report.get("targets"):
        lines.append("Targets (issue 13), on the medians:")
        lines.append("")
        lines.append("| profile | system | target | measured | limit | |")
        lines.append("|---|---|---|---|---|---|")
        for t in report["targets"]:
            measured = fmt(t["value"])
            if t.get("after_boot") is not None:
                measured += f" ({t['after_boot']:.3f} s after boot)"
            lines.append(f"| {t['profile']} | {LABELS[t['system']]} | {t['what']} | {measured} | "
                         f"<= {t['limit']:.2f} s | {t['verdict']} |")
        lines.append("")
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    node = None
    if shutil.which("node"):
        try:
            node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            node = None
    try:
        import ringfast

        rf = f"{ringfast.__version__} (core: {ringfast.core_implementation})"
    except Exception:  # pragma: no cover - reported, not needed
        rf = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "node": node,
        "ringfast": rf,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(m: dict, ring_election: str | None = None) -> str:
    parts = [f"{m['cpu']}, {m['cores']} cores", f"Python {m['python']}"]
    if m.get("node"):
        parts.append(f"Node.js {m['node']}")
    parts.append(f"ringfast {m['ringfast']}")
    if ring_election:
        parts.append(f"ring-election {ring_election}")
    return "Measured on " + ", ".join(parts) + f", {m['date']}."


MAPPING = ("ring-election's settings: HEART_BEAT_FREQUENCY = heartbeat; HEART_BEAT_CHECK_FREQUENCY = "
           "MAX_INACTIVE_TIME = check (the failure timeout; ring-election's own default for "
           "MAX_INACTIVE_TIME is 10000 ms); TIME_TO_RECONNECT = check and TIME_TO_BECOME_SEED = heartbeat "
           "(ring-election's defaults, 3000 and 1000, in the default profile); 0.0.11 reads the first two "
           "as HEARTH_BEAT_*, so both spellings are set.")


# --------------------------------------------------------------------------- main


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


def run(args) -> dict:
    profiles = [p.strip() for p in args.timings.split(",") if p.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    report = {"nodes": args.nodes, "leader_kill_after": args.leader_kill_after, "partitions": PARTITIONS, "runs": args.runs, "machine": machine(),
              "ring_election": None, "ring_election_note": None, "results": {}, "trials": {},
              "command": "python benchmarks/failover.py " + " ".join(args.argv)}
    scratch = None
    package_dir = args.ring_election_dir
    try:
        if "ring-election" in systems and not package_dir:
            scratch = tempfile.mkdtemp(prefix="ring-election-")
            print(f"installing {args.ring_election_spec} with npm into {scratch} ...", file=sys.stderr, flush=True)
            version, note = install_ring_election(scratch, args.ring_election_spec)
            if version is None:
                report["ring_election_note"] = f"ring-election not measured: {note}"
                print(report["ring_election_note"], file=sys.stderr)
                systems.remove("ring-election")
            else:
                package_dir = scratch
        if "ring-election" in systems:
            report["ring_election"] = ring_election_version(package_dir)
            if report["ring_election"] is None:
                raise SystemExit(f"no ring-election package in {package_dir}/node_modules")
        for profile in profiles:
            hb, check = PROFILES[profile]
            report["results"][profile] = {}
            for system in systems:
                trials = []
                for i in range(args.runs):
                    with tempfile.TemporaryDirectory(prefix=f"failover-{system}-") as tmp:
                        trial = one_trial(system, tmp, args.nodes, hb, check, package_dir, args.deadline,
                                          kill_after(args.leader_kill_after, check))
                        if args.keep_logs:
                            dest = os.path.join(args.keep_logs, profile, system, f"trial{i + 1}")
                            shutil.copytree(tmp, dest, dirs_exist_ok=True,
                                            ignore=shutil.ignore_patterns("*.state", "node_modules"))
                    trials.append(trial)
                    shown = "  ".join("-" if getattr(trial, p) is None else f"{getattr(trial, p):.3f}"
                                      for p in ("start", "leader_kill", "follower_kill", "boot"))
                    notes = ("  " + "; ".join(trial.notes)) if trial.notes else ""
                    print(f"  {profile} {system} trial {i + 1}: start leader follower (boot): {shown}{notes}",
                          file=sys.stderr, flush=True)
                report["trials"].setdefault(profile, {})[system] = [asdict(t) for t in trials]
                report["results"][profile][system] = summarize(trials)
        report["targets"] = targets(report["results"])
        return report
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def render_text(report: dict) -> str:
    out = [markdown_tables(report)]
    if report.get("ring_election"):
        out.append(MAPPING)
    if report.get("ring_election_note"):
        out.append(report["ring_election_note"])
    out.append(machine_line(report["machine"], report.get("ring_election")))
    out.append(f"Command: {report['command']}")
    return "\n".join(out) + "\n"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="trials per system and profile (median)")
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--timings", default="default,fast", help="profiles: default, fast")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"any of {', '.join(SYSTEMS)}")
    ap.add_argument("--deadline", type=float, default=None,
                    help="seconds a phase may take (default 5 + 6 x check)")
    ap.add_argument("--leader-kill-after", default="0", metavar="SECONDS",
                    help="wait this long after the cold start has settled before the leader kill "
                         "(default 0: at once; 'lease': one check interval of the profile)")
    ap.add_argument("--ring-election-spec", default=RING_ELECTION_SPEC, help="what npm installs")
    ap.add_argument("--ring-election-dir", default=None,
                    help="a folder where ring-election is already installed (skips npm install)")
    ap.add_argument("--markdown", metavar="FILE", help="write the tables and the machine line here")
    ap.add_argument("--json", metavar="FILE", help="write every trial and summary here")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy each trial's node logs here")
    args = ap.parse_args(argv)
    for p in args.timings.split(","):
        if p.strip() and p.strip() not in PROFILES:
            ap.error(f"unknown profile {p!r} (have {', '.join(PROFILES)})")
    for s in args.systems.split(","):
        if s.strip() and s.strip() not in SYSTEMS:
            ap.error(f"unknown system {s!r} (have {', '.join(SYSTEMS)})")
    try:
        kill_after(args.leader_kill_after, 0)
    except ValueError:
        ap.error("--leader-kill-after takes seconds or 'lease'")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.nodes - 2 <= args.nodes // 2:
        # every node is a seed (a voter): after both kills a majority must still be alive
        ap.error("--nodes must be at least 5: the nodes left after both kills must be a majority")
    args.argv = list(argv)
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report = run(args)
    except (KeyboardInterrupt, _Terminated):
        print("failover.py: interrupted; every process it started was killed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render_text(report)
    print(text, end="")
    for t in report["targets"]:
        print(f"{t['verdict']}  {t['profile']:<8} {LABELS[t['system']]:<24} {t['what']}: "
              f"{fmt(t['value'])} (target <= {t['limit']:.2f} s)")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
