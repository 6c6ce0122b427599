"""Hostile and mistaken peers against a real cluster (issue 10, G7), from the outside.

What the simulation's nemeses (tests/sim/nemeses.py) do inside the simulator, done here to
real `ringfast node` processes of a `harness.Cluster`; benchmarks/soak.py draws them at random
beside its kills and partitions, and test_hostile.py runs each once. Each returns an `Outcome`:
what was done, `problems` (empty when everything the protocol promises held) and `notes`.

- `impostor(cluster, victim, seconds)`: a second `ringfast node` with the node id of a live
  member (its own ports, the same seeds, so not a voter: its address is in nobody's seed
  list) runs for a while and is then killed (SIGKILL, or SIGTERM: it then sends a `leave`
  with the member's id). It connects to the nodes directly, not through the fault proxy
  (there is one proxy per pair of configured nodes, and nothing else runs meanwhile).
  Asserted: somebody counted it in ringfast_peers_refused_total{reason="duplicate_id"}; it
  never held a partition nor led; the real member's journal has no revoke, no assignment
  and no role change from the impostor's start until two leases after its end, and its
  /partitions (with tokens) never changed meanwhile.
  The impostor journals to ``<dir>/<id>~impostor<k>.journal.jsonl``, a file of its own: in
  the member's file its lines would read as the member's (the checker tells processes apart
  by the harness's start lines, and two processes at once in one file are one process to
  it). `journals(cluster, impostors)` reads it beside the nodes' files under its own name,
  so the checker proves that nothing it held overlapped anyone (it should hold nothing).
- `misconfigured_restart(cluster, victim, variant, seconds)`: a follower stopped (SIGTERM),
  started with a setting of its own (`VARIANTS`: one partition more, one voter fewer, one
  unknown voter more, one voter swapped for an unknown one), left running a while, stopped
  and started again as configured. Asserted: the others counted
  ringfast_peers_refused_total{reason="settings_mismatch"}; it never held a partition nor
  led (/partitions while it ran, and its journal). The caller then waits for the cluster to
  settle with it. (A swapped voter is a conflict, not only a mismatch: with voter sets two
  voters apart two rings could each reach a quorum, so the others stop electing while it
  runs; a voter more or fewer cannot, and the others go on without it.)
- `bogus_epoch(cluster, target, kind, sender, rnd)`: one well-formed frame (protocol.encode,
  the right settings fingerprint, no shared secret needed) claiming an epoch above what the
  wall clock allows (assumptions.epoch_cap) sent on a raw TCP connection to a node's cluster
  port; or, with `beyond_wire=True`, an epoch above the wire's range (MAX_EPOCH). Asserted:
  the answer is `refused` with reason epoch_out_of_range, counted in /metrics (beyond the
  wire: no answer, the connection closed, counted in ringfast_frames_rejected_total{reason=
  "field"}); no node's epoch changed and the leader is the same.

Clock skew (the simulation's rate and offset nemeses) is not here: a real process's clocks
cannot be skewed from outside without faketime (LD_PRELOAD) or a VM.
"""

from __future__ import annotations

import atexit
import http.client
import json
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from journal import Journals, read_lines
from nodes import HOST, http_get_json, node_env, tail
from support import free_ports, kill_and_wait

from ringfast import protocol
from ringfast.assumptions import MAX_EPOCH, epoch_cap, fingerprint
from ringfast.clock import now

if TYPE_CHECKING:
    from harness import Cluster

VARIANTS = ("partitions", "fewer_voters", "extra_voter", "swapped_voter")
BOGUS_KINDS = ("hello", "heartbeat", "vote_req", "vote", "leader_is", "assign", "revoke")
_LIVE_IMPOSTORS: "weakref.WeakSet[Impostor]" = weakref.WeakSet()


@atexit.register
def _kill_all_impostors() -> None:  # pragma: no cover - safety net if a caller forgot
    for imp in list(_LIVE_IMPOSTORS):
        imp.close()


@dataclass
class Outcome:
    kind: str
    what: str
    problems: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        notes = ", ".join(f"{k}={v}" for k, v in self.notes.items())
        head = f"{self.what}: {'ok' if self.ok else 'FAILED'}" + (f" ({notes})" if notes else "")
        return head + "".join(f"\n    - {p}" for p in self.problems)


# ---------------------------------------------------------------- metrics

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(port: int, timeout: float = 1.0) -> dict[str, float] | None:
    """GET /metrics: {'name{labels}': value}, or None if the node did not answer."""
    try:
        with _NO_PROXY.open(f"http://{HOST}:{port}/metrics", timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return None
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            try:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def refused_key(reason: str) -> str:
    return f'ringfast_peers_refused_total{{reason="{reason}"}}'


def rejected_key(reason: str) -> str:
    return f'ringfast_frames_rejected_total{{reason="{reason}"}}'


def counters(cluster: Cluster, names: Iterable[str], key: str, tries: int = 5) -> dict[str, float | None]:
    """{node: value of metric `key`} (None: /metrics did not answer, tried `tries` times)."""
    out: dict[str, float | None] = {}
    for name in names:
        value = None
        for _ in range(tries):
            got = scrape(cluster.nodes[name].monitoring_port) if cluster.running(name) else None
            if got is not None:
                value = got.get(key, 0.0)
                break
            time.sleep(0.1)
        out[name] = value
    return out


def increase(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    return {n: after[n] - before[n] for n in before if before[n] is not None and after.get(n) is not None
            and after[n] != before[n]}


# ---------------------------------------------------------------- journals


def journal_records(path: Path | str, label: str | None = None) -> list[dict]:
    """One journal file's records; with `label`, each record's node is renamed to it (the
    original kept as "as_node"), so an impostor's lines are a process of their own."""
    recs = read_lines(path)
    if label is None:
        return recs
    return [{**r, "node": label, "as_node": r.get("node")} if "malformed" not in r else r for r in recs]


def journals(cluster: Cluster, impostors: Iterable[Impostor] = ()) -> Journals:
    """The cluster's journals (as Journals.from_cluster) and every impostor's, under its label."""
    recs = {name: read_lines(cluster.journal_path(name)) for name in cluster.names}
    for imp in impostors:
        recs[imp.label] = journal_records(imp.journal_path, imp.label)
    killed_hold = (cluster.check_ms - 2 * cluster.heartbeat_ms) / 1000
    return Journals(recs, killed_hold, horizon=now(), num_partitions=cluster.num_partitions)


def _window(path: Path | str, t0: float, t1: float, events: Iterable[str]) -> list[dict]:
    events = set(events)
    return [r for r in read_lines(path) if r.get("event") in events and t0 <= r.get("t", -1) <= t1]


def _mark(path: Path, node: str, action: str, t: float | None = None, **extra) -> None:
    """A harness line in an impostor's journal (as harness.Cluster writes in the nodes')."""
    rec = {"t": now() if t is None else t, "node": node, "event": "harness", "action": action, "incarnation": 1, **extra}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------- impostor


def _with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    return argv


class Impostor:
    """Another `ringfast node` process with the id of `victim` (see the module docstring).
    Started by `start()`, ended by `stop()` (by pid); `close()` kills it whatever its state."""

    def __init__(self, cluster: Cluster, victim: str, label: str) -> None:
        self.cluster, self.victim, self.label = cluster, victim, label
        self.port, self.monitoring_port = free_ports(2)
        self.log_path = cluster.dir / f"{label}.log"
        self.journal_path = cluster.dir / f"{label}.journal.jsonl"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        argv = self.cluster.argv(self.victim)  # the member's id, seeds, partitions, timings
        argv = _with_flag(argv, "--port", str(self.port))
        argv = _with_flag(argv, "--monitoring-port", str(self.monitoring_port))
        return _with_flag(argv, "--journal", str(self.journal_path))

    def start(self) -> None:
        argv = self.argv()
        # the cluster's environment, not the member's: no routes through the fault proxy
        env = node_env(dict(self.cluster.env))
        _mark(self.journal_path, self.victim, "start")
        with open(self.log_path, "ab") as log:
            log.write(f"=== impostor of {self.victim}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.cluster.dir, env=env)
        _LIVE_IMPOSTORS.add(self)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 20.0) -> int | None:
        """End it with `sig` and wait; returns its exit code (None if it had to be killed)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        t = now()
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return None
        if sig == signal.SIGKILL:
            _mark(self.journal_path, self.victim, "kill", t)
        else:
            _mark(self.journal_path, self.victim, "exit", code=rc)
        _LIVE_IMPOSTORS.discard(self)
        return rc

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            t = now()
            kill_and_wait(proc)
            _mark(self.journal_path, self.victim, "kill", t)
        _LIVE_IMPOSTORS.discard(self)

    def partitions(self) -> dict | None:
        return http_get_json(self.monitoring_port, "/partitions") if self.running() else None

    def status(self) -> dict | None:
        return http_get_json(self.monitoring_port, "/status") if self.running() else None


def _holding(cluster: Cluster, name: str) -> tuple | None:
    """(partitions, tokens) a node reports, or None if it did not answer."""
    got = cluster.partitions(name)
    if got is None:
        return None
    return tuple(sorted(got.get("partitions") or [])), dict(sorted((got.get("tokens") or {}).items()))


def impostor(cluster: Cluster, victim: str, seconds: float = 3.0, how: str = "kill",
             label: str | None = None, started: list | None = None) -> Outcome:
    """Run an impostor of `victim` for `seconds`, end it (`how`: "kill" = SIGKILL, "term" =
    SIGTERM), watch two leases more, and check (module docstring). `started`, if given, gets
    the Impostor appended as soon as it exists (so a caller can kill it on an error)."""
    lease = cluster.check_ms / 1000
    label = label or f"{victim}~impostor"
    out = Outcome("impostor", f"impostor {victim} ({how}, {seconds:.1f}s)")
    live = cluster.live()
    before = _holding(cluster, victim)
    status0 = cluster.status(victim) or {}
    was_leader = (status0.get("node") or {}).get("role") == "leader"
    out.what = f"impostor of {'leader' if was_leader else 'follower'} {victim} ({how}, {seconds:.1f}s)"
    dup0 = counters(cluster, live, refused_key("duplicate_id"))
    imp = Impostor(cluster, victim, label)
    if started is not None:
        started.append(imp)
    changed: list[str] = []
    imp_held: list[str] = []

    def watch(until: float) -> None:
        while time.monotonic() < until:
            got = _holding(cluster, victim)
            if got is not None and before is not None and got != before and not changed:
                changed.append(f"{victim}'s /partitions went from {before} to {got} at {now():.3f}")
            if imp.running():
                held = imp.partitions()
                if held and held.get("partitions") and not imp_held:
                    imp_held.append(f"the impostor's /partitions says it holds {held.get('partitions')} at {now():.3f}")
                st = imp.status()
                if st and (st.get("node") or {}).get("role") == "leader" and not imp_held:
                    imp_held.append(f"the impostor's /status says it leads (epoch {st.get('epoch')}) at {now():.3f}")
            time.sleep(0.1)

    t0 = now()
    imp.start()
    try:
        watch(time.monotonic() + seconds)
        exited = imp.proc.poll() if imp.proc else None
        if exited is not None:
            out.problems.append(f"the impostor exited by itself with {exited} (log {imp.log_path}):\n{tail(imp.log_path, 15)}")
    finally:
        rc = imp.stop(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    if how != "kill" and rc != 0:
        out.problems.append(f"the impostor exited with {rc} after SIGTERM, expected 0:\n{tail(imp.log_path, 15)}")
    watch(time.monotonic() + 2 * lease)  # what its end could cause (a member dropped with its connection)
    t2 = now()
    out.problems += changed + imp_held

    dup = increase(dup0, counters(cluster, live, refused_key("duplicate_id")))
    out.notes["duplicate_id"] = dup
    if not dup:
        out.problems.append(f'no node counted the impostor in ringfast_peers_refused_total{{reason="duplicate_id"}} '
                            f"(before: {dup0})")
    log_text = imp.log_path.read_text(encoding="utf-8", errors="replace")
    out.notes["told"] = len(re.findall(r"refused this node: 'duplicate_id'", log_text))
    if cluster.journal:
        events = ("assigned", "revoked") + (("leader", "follower", "candidate") if was_leader else ())
        moved = _window(cluster.journal_path(victim), t0, t2, events)
        for r in moved[:5]:
            out.problems.append(f"{victim}'s journal while its impostor ran (or just after): {r}")
        own = _window(imp.journal_path, t0, t2 + 60, ("assigned", "leader"))
        for r in own[:5]:
            out.problems.append(f"the impostor's journal: {r}")
    if was_leader:
        after = cluster.status(victim) or {}
        if after.get("epoch") != status0.get("epoch") or (after.get("node") or {}).get("role") != "leader":
            out.problems.append(f"{victim} led in epoch {status0.get('epoch')} before its impostor, after it: "
                                f"role {(after.get('node') or {}).get('role')} epoch {after.get('epoch')}")
    out.notes["held"] = len(before[0]) if before else 0
    return out


# ---------------------------------------------------------------- misconfigured restart


def misconfigured_restart(cluster: Cluster, victim: str, variant: str, seconds: float = 3.0,
                          rnd: random.Random | None = None) -> Outcome:
    """Stop `victim`, start it with a setting of its own (`variant`, one of VARIANTS) for
    `seconds`, stop it and start it again as configured (module docstring). The caller waits
    for the cluster to settle afterwards."""
    rnd = rnd or random.Random()
    node = cluster.nodes[victim]
    out = Outcome("misconfigured", f"misconfigured {victim} ({variant}, {seconds:.1f}s)")
    others = [n for n in cluster.live() if n != victim]
    mismatch0 = counters(cluster, others, refused_key("settings_mismatch"))
    seeds, args = list(node.seeds), list(node.args)
    other_seed = rnd.choice([s for s in seeds if s != node.address])
    unknown = f"{HOST}:{free_ports(1)[0]}"  # a voter nobody runs: nothing listens there
    if variant == "partitions":
        node.args = args + ["--partitions", str(cluster.num_partitions + 1)]
        out.notes["partitions"] = cluster.num_partitions + 1
    elif variant == "fewer_voters":
        node.seeds = [s for s in seeds if s != other_seed]
    elif variant == "extra_voter":
        node.seeds = seeds + [unknown]
    elif variant == "swapped_voter":
        node.seeds = [unknown if s == other_seed else s for s in seeds]
    else:
        raise ValueError(f"variant {variant!r}: expected one of {VARIANTS}")
    cluster.stop(victim)
    held: list[str] = []
    log_from = cluster.log_path(victim).stat().st_size if cluster.log_path(victim).exists() else 0
    try:
        t0 = now()
        cluster.start(victim)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = cluster.partitions(victim)
            if got and got.get("partitions") and not held:
                held.append(f"misconfigured {victim} reports holding {got.get('partitions')} at {now():.3f}")
            st = cluster.status(victim)
            if st and (st.get("node") or {}).get("role") == "leader" and not held:
                held.append(f"misconfigured {victim} says it leads (epoch {st.get('epoch')}) at {now():.3f}")
            if not cluster.running(victim):
                out.problems.append(f"misconfigured {victim} exited with {cluster.exit_code(victim)}:\n"
                                    f"{tail(cluster.log_path(victim), 15)}")
                break
            time.sleep(0.1)
        if cluster.running(victim):
            cluster.stop(victim)
        t1 = now()
    finally:
        node.seeds, node.args = seeds, args
    out.problems += held
    mismatch = increase(mismatch0, counters(cluster, others, refused_key("settings_mismatch")))
    out.notes["settings_mismatch"] = mismatch
    if not mismatch:
        out.problems.append(f'no other node counted misconfigured {victim} in ringfast_peers_refused_total'
                            f'{{reason="settings_mismatch"}} (before: {mismatch0})')
    with open(cluster.log_path(victim), "rb") as f:  # what this process logged
        f.seek(log_from)
        text = f.read().decode("utf-8", "replace")
    out.notes["told"] = len(re.findall(r"refused this node: 'settings_mismatch'", text))
    if cluster.journal:
        for r in _window(cluster.journal_path(victim), t0, t1, ("assigned", "leader"))[:5]:
            out.problems.append(f"misconfigured {victim}'s journal: {r}")
    cluster.start(victim)
    return out


# ---------------------------------------------------------------- bogus epoch


def _cluster_name(cluster: Cluster, name: str) -> str:
    argv = cluster.argv(name)
    return argv[argv.index("--cluster") + 1] if "--cluster" in argv else "ringfast"


def bogus_body(kind: str, sender: str, epoch: int, cfg: str, addr: str, rnd: random.Random) -> dict:
    body = {"from": sender, "epoch": epoch, "cfg": cfg, "inc": rnd.getrandbits(62)}
    wall = int(time.time() * 1000)
    fields = {
        "hello": {"addr": addr, "priority": 0, "wall": wall, "voters": [addr]},
        "heartbeat": {"addr": addr, "priority": 0, "seq": 1, "acked": 0, "holdings": [[0, min(epoch << 31, protocol.MAX_TOKEN)]],
                      "seen": 0, "mv": 0},
        "vote_req": {"addr": addr, "priority": 0, "pre": rnd.random() < 0.5, "wall": wall, "voters": [addr]},
        "vote": {"granted": True, "pre": False, "addr": addr, "fresh": False, "grants": 0},
        "leader_is": {"leader": sender, "leader_addr": addr},
        "assign": {"mseq": 1 << 40, "partitions": [[0, min(epoch << 31, protocol.MAX_TOKEN)]]},
        "revoke": {"mseq": 1 << 40, "partitions": [0]},
    }[kind]
    return {**body, **fields}


def _exchange(port: int, frame: bytes, cluster_name: str, timeout: float = 3.0) -> tuple[list, bool]:
    """Send one frame on a new connection; (messages answered within `timeout`, whether the
    node closed the connection)."""
    decoder = protocol.Decoder(cluster_name, 1 << 22)
    got: list = []
    closed = False
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(frame)
        deadline = time.monotonic() + timeout
        s.settimeout(0.2)
        while time.monotonic() < deadline and not got:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            got += decoder.feed(data)
    return got, closed


def bogus_epoch(cluster: Cluster, target: str, kind: str, sender: str, rnd: random.Random | None = None,
                beyond_wire: bool = False) -> Outcome:
    """Send `target` one `kind` frame from `sender` with an impossible epoch (module docstring)."""
    rnd = rnd or random.Random()
    node = cluster.nodes[target]
    live = cluster.live()
    epochs0 = {n: (cluster.status(n) or {}).get("epoch") for n in live}
    leader0 = cluster.leader()
    if beyond_wire:
        epoch = MAX_EPOCH + rnd.randint(1, 2**20)
        key = rejected_key("field")
    else:  # well above the cap the target will compute (its wall clock and ours are one)
        epoch = min(MAX_EPOCH, epoch_cap(time.time()) + rnd.randint(3600, 2**24))
        key = refused_key("epoch_out_of_range")
    out = Outcome("bogus-epoch", f"bogus epoch {epoch} {kind} from {sender!r} to {target}"
                  + (" (beyond the wire)" if beyond_wire else ""))
    count0 = counters(cluster, [target], key)
    seeds = list(node.seeds)
    cfg = fingerprint(cluster.num_partitions, len(seeds) // 2 + 1, seeds, cluster.check_ms / 1000)
    addr = cluster.nodes[sender].address if sender in cluster.nodes else f"{HOST}:{rnd.randint(1024, 9999)}"
    name = _cluster_name(cluster, target)
    frame = protocol.encode(kind, bogus_body(kind, sender, epoch, cfg, addr, rnd), name)
    try:
        answers, closed = _exchange(node.port, frame, name)
    except OSError as e:
        out.problems.append(f"could not reach {target}'s cluster port {node.port}: {e}")
        return out
    if beyond_wire:
        if answers:
            out.problems.append(f"{target} answered a frame with epoch {epoch} (beyond the wire's range): {answers}")
        if not closed:
            out.problems.append(f"{target} did not close the connection of a frame with epoch {epoch}")
    else:
        refusals = [b for k, b in answers if k == "refused"]
        if not refusals or refusals[0].get("reason") != "epoch_out_of_range":
            out.problems.append(f"{target} answered {answers} (closed: {closed}), expected refused: epoch_out_of_range")
        elif refusals[0].get("epoch") == epoch:
            out.problems.append(f"{target}'s refusal carries the bogus epoch {epoch}: {refusals[0]}")
    counted = increase(count0, counters(cluster, [target], key))
    out.notes["counted"] = counted.get(target, 0)
    if not counted:
        out.problems.append(f"{target}'s {key} did not grow (before: {count0})")
    epochs = {n: (cluster.status(n) or {}).get("epoch") for n in live}
    answered = [n for n in live if epochs0[n] is not None and epochs[n] is not None]
    if any(epochs[n] != epochs0[n] for n in answered) or any(isinstance(e, int) and e >= epoch for e in epochs.values()):
        out.problems.append(f"epochs before the frame {epochs0}, after {epochs}")
    leader = cluster.leader()
    if None not in (leader, leader0) and leader != leader0:
        out.problems.append(f"leader before the frame {leader0}, after {leader}")
    out.notes["epoch"] = epochs.get(target)
    return out
