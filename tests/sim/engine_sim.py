"""The simulation of the engine backend: nodes running `EngineRing` through the real
`EngineDriver`, against the in-memory engine (engine_model.py), on one virtual clock.

What differs from a real deployment is only time and transport: every request to the engine
and every answer takes a random latency; a "watch" is a read scheduled at every node after
each write (plus a poll). Faults, drawn from the seed: a node crashes (and comes back as a
new process with the same id), a node freezes (everything it would have handled waits, and
arrives late: stale reads, late answers), the engine freezes (requests wait; at the thaw
leases that ran out expire, or, as after an etcd leader change, every lease is renewed),
slow answers, revoke handlers that are slow or never return in time, and stops (half of them
with restart=True, the process coming back within its rejoin grace or after it).

The checker reads the nodes' journal lines (written by the driver, as on a real node):
per partition no two processes' holds overlap (a crashed process holds until the end of
its own right, `lease_expiry` at the crash, not just until the crash), each grant's token
is above every earlier one, at most one leader per epoch, and once the faults stop every
partition is held by exactly one live member.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field

from engine_model import EngineModel, LeaseNotFound

from ringfast.config import Config
from ringfast.engine import keyspace as ks
from ringfast.engine.driver import EngineDriver
from ringfast.engine.member import EngineRing

PREFIX = ks.prefix_of("sim")
TTL = 2


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@dataclass
class Hold:
    node: str
    inc: int
    partition: int
    token: int
    start: float
    end: float | None = None


class SimNode:
    """One process: a ring, its driver, and the requests it has out."""

    def __init__(self, sim: EngineSim, ident: str, priority: int, inc: int):
        self.sim, self.id, self.inc = sim, ident, inc
        cfg = Config(node_id=ident, host="127.0.0.1", port=7000 + priority, priority=priority,
                     num_partitions=sim.P, cluster_name="sim", failure_timeout=3.0, heartbeat_interval=1.0,
                     leader_owns_partitions=sim.leader_owns)
        self.ring = EngineRing(cfg, sim.clock, epoch_floor=int(sim.clock()) + 1_000_000, wall=sim.clock)
        self.driver = EngineDriver(self.ring, self)
        self.alive = True
        self.frozen_until = 0.0
        self.deaf_until = 0.0  # until then its keepalives' answers are lost (they do renew)
        self.lease: int | None = None
        self.dropped: set[int] = set()
        self.txns: list = []  # one at a time, in order
        self.txn_busy = False

    # ---- scheduling on this node: nothing runs while it is frozen (it runs late)

    def at(self, delay: float, fn, *args):
        self.sim.at(delay, self._run, fn, args)

    def _run(self, fn, args):
        if not self.alive:
            return
        now = self.sim.clock()
        if now < self.frozen_until:
            self.sim.at(self.frozen_until - now, self._run, fn, args)
            return
        fn(*args)

    def start(self):
        self.grant()
        self.at(0.0, self.tick)
        self.at(0.0, self.poll)

    def tick(self):
        self.driver.tick()
        self.at(0.05, self.tick)

    def poll(self):
        self.read()
        self.at(0.5, self.poll)

    # ---- the engine, through the simulated network

    def grant(self):
        sent = self.sim.clock()

        def arrive():
            lease = self.sim.engine.grant(TTL)
            self.at(self.sim.latency(), self._granted, lease, sent)

        self.sim.to_engine(arrive)

    def _granted(self, lease, sent):
        self.lease = lease
        self.driver.lease_granted(lease, TTL, sent)
        self.at(TTL / 3, self.keepalive, lease)

    def keepalive(self, lease):
        if lease != self.lease or lease in self.dropped:
            return
        sent = self.sim.clock()

        def arrive():
            try:
                ttl = self.sim.engine.keepalive(lease)
            except LeaseNotFound:
                self.at(self.sim.latency(), self._lost, lease)
                return
            if self.sim.clock() < self.deaf_until:
                return  # renewed in the engine, but the answer is lost
            self.at(self.sim.latency(), self.driver.lease_renewed, lease, ttl, sent)

        self.sim.to_engine(arrive)
        self.at(TTL / 3, self.keepalive, lease)

    def _lost(self, lease):
        if lease == self.lease:
            self.lease = None
            self.driver.lease_lost(lease)
            self.grant()

    def read(self):
        def arrive():
            kvs, rev = self.sim.engine.range(PREFIX)
            entries = {k[len(PREFIX):]: ks.Entry(e.value, e.create_revision, e.mod_revision, e.lease) for k, e in kvs}
            self.at(self.sim.latency(), self.driver.view, rev, entries)

        self.sim.to_engine(arrive)

    # ---- the EngineWorld

    def txn(self, txn):
        self.txns.append(txn)
        self._next_txn()

    def _next_txn(self):
        if self.txn_busy or not self.txns:
            return
        txn = self.txns.pop(0)
        self.txn_busy = True
        compare = [(c[0], PREFIX + c[1], c[2], c[3]) for c in txn.compare]
        ops = [(o[0], PREFIX + o[1], *o[2:]) for o in txn.success]

        def arrive():
            try:
                self.sim.engine.txn(compare, ops)
                self.sim.wrote()
            except LeaseNotFound:
                pass
            self.at(self.sim.latency(), done)

        def done():
            self.txn_busy = False
            self.driver.txn_done(txn.what)
            self.read()
            self._next_txn()

        self.sim.to_engine(arrive)

    def end_lease(self, lease):
        self.dropped.add(lease)

        def arrive():
            try:
                self.sim.engine.revoke(lease)
                self.sim.wrote()
            except LeaseNotFound:
                pass

        self.sim.to_engine(arrive)

    def drop_lease(self, lease):
        self.dropped.add(lease)
        if lease == self.lease:
            self.lease = None
            self.grant()

    def run_revoke(self, change, done):
        roll = self.sim.rng.random()
        if roll < self.sim.slow_handlers:
            took = self.sim.rng.uniform(11, 13)  # past the handler timeout
        elif roll < 3 * self.sim.slow_handlers:
            took = self.sim.rng.uniform(0.5, 5)  # slow, still within it
        else:
            took = self.sim.rng.uniform(0, 0.2)
        ok = took < 10  # the handler timeout
        self.at(min(took, 10), done, ok)

    def notify(self, event, payload):
        pass

    def record(self, event, fields):
        self.sim.journal.append({"t": self.sim.clock(), "node": self.id, "inc": self.inc, "event": event, **fields})

    def send(self, *a):
        raise AssertionError("an engine-backed node sends nothing to peers")

    reply = close = send


@dataclass
class Result:
    violations: list = field(default_factory=list)
    journal: list = field(default_factory=list)
    holds: dict = field(default_factory=dict)
    leaders: dict = field(default_factory=dict)
    settled: bool = False


class EngineSim:
    def __init__(self, seed: int, nodes: int = 4, partitions: int = 12, leader_owns: bool | None = None):
        self.rng = random.Random(seed)
        self.seed = seed
        self.clock = Clock()
        self.engine = EngineModel(self.clock)
        self.P = partitions
        self.leader_owns = self.rng.random() < 0.3 if leader_owns is None else leader_owns
        self.queue: list = []
        self.seq = itertools.count()
        self.journal: list[dict] = []
        self.engine_frozen_until = 0.0
        self.engine_waiting: list = []
        self.slow_answers = self.rng.random() < 0.3
        self.slow_handlers = self.rng.choice([0.05, 0.1, 0.2]) if self.rng.random() < 0.4 else 0.0
        self.nodes: dict[str, SimNode] = {}  # the latest process of each id
        self.procs: list[SimNode] = []  # every process started
        self.incs = itertools.count(1)
        self.crashed_rights: list[tuple[str, int, int, float]] = []  # (node, inc, partition, end of its right)
        self.names = [f"n{i}" for i in range(1, nodes + 1)]

    # ---- time

    def at(self, delay, fn, *args):
        heapq.heappush(self.queue, (self.clock.t + delay, next(self.seq), fn, args))

    def run_until(self, t):
        while self.queue and self.queue[0][0] <= t:
            when, _, fn, args = heapq.heappop(self.queue)
            self.clock.t = max(self.clock.t, when)
            fn(*args)
        self.clock.t = max(self.clock.t, t)

    def latency(self):
        if self.slow_answers and self.rng.random() < 0.05:
            return self.rng.uniform(0.2, 1.5)
        return self.rng.uniform(0.0005, 0.005)

    # ---- the engine end of the network

    def to_engine(self, fn):
        self.at(self.latency(), self._engine_run, fn)

    def _engine_run(self, fn):
        if self.clock.t < self.engine_frozen_until:
            self.engine_waiting.append(fn)
            return
        fn()

    def wrote(self):
        for node in self.nodes.values():
            if node.alive:
                node.at(self.latency(), node.read)

    def freeze_engine(self, seconds):
        self.engine_frozen_until = self.clock.t + seconds
        renew = self.rng.random() < 0.5
        self.at(seconds, self._thaw_engine, renew)

    def _thaw_engine(self, renew):
        if renew:  # a new etcd leader renews every lease for its full TTL
            for lease in self.engine.leases.values():
                lease.expires = max(lease.expires, self.clock.t + lease.ttl)
        waiting, self.engine_waiting = self.engine_waiting, []
        for fn in waiting:
            fn()
        self.wrote()

    # ---- processes

    def start_node(self, name):
        node = SimNode(self, name, self.names.index(name), next(self.incs))
        self.nodes[name] = node
        self.procs.append(node)
        node.start()

    def running(self, name) -> list[SimNode]:
        """The live processes of `name` that have not finished leaving."""
        return [n for n in self.procs if n.id == name and n.alive and not n.ring.stopped]

    def start_if_down(self, name):
        if not self.running(name):
            self.start_node(name)

    def crash(self, name, node=None):
        node = node or self.nodes[name]
        node.alive = False
        ring = node.ring
        # what it held: until the end of its right (a revoke running when its right ended:
        # until then, though the journal line of it never came)
        for p in ring.held:
            request = ring.revoking.get(p, (None,))[0]
            change = ring.requests.get(request)
            ended = ring.lapsed_at.get(request, change.expired_at if change is not None else None)
            self.crashed_rights.append((name, node.inc, p, ring.lease_expiry if ended is None else ended))

    def stop(self, name, restart=False):
        node = self.nodes[name]
        node.at(0.0, node.driver.leave, restart)  # (a frozen process handles its SIGTERM when it wakes)

    # ---- a run

    def run(self, faults: int = 8, duration: float = 40.0) -> Result:
        for name in self.names:
            self.at(self.rng.uniform(0, 0.3), self.start_node, name)
        t = 2.0  # seconds from now
        for _ in range(faults):
            t += self.rng.uniform(0.5, duration / max(faults, 1))
            self.at(t, self._fault)
        self.run_until(self.clock.t + duration)
        # heal: no more slow answers or slow handlers, start whoever is down, let it settle
        self.slow_answers, self.slow_handlers = False, 0.0
        for name in self.names:
            self.start_if_down(name)
        self.run_until(self.clock.t + 20.0)
        return self.check()

    def _fault(self):
        live = [n for n in self.names if n in self.nodes and self.nodes[n].alive and not self.nodes[n].ring.stopping]
        kind = self.rng.choice(["crash", "freeze", "freeze", "engine", "stop", "restart", "duplicate", "deaf"])
        if kind == "engine":
            self.freeze_engine(self.rng.uniform(0.5, 4.0))
        elif kind == "restart":
            down = [n for n in self.names if not self.running(n)]
            if down:
                self.start_node(self.rng.choice(down))
        elif live:
            name = self.rng.choice(live)
            if kind == "crash":
                self.crash(name)
                if self.rng.random() < 0.5:
                    self.at(self.rng.uniform(0.1, 5.0), self.start_if_down, name)
            elif kind == "freeze":
                self.nodes[name].frozen_until = self.clock.t + self.rng.uniform(0.5, 5.0)
            elif kind == "deaf":
                self.nodes[name].deaf_until = self.clock.t + self.rng.uniform(1.0, 6.0)
            elif kind == "stop":
                # half of them to restart: back within the rejoin grace (9 s) or after it
                restart = self.rng.random() < 0.5
                self.stop(name, restart)
                if restart:
                    self.at(self.rng.uniform(0.2, 12.0), self.start_if_down, name)
            elif kind == "duplicate":
                # an operator starts a second process with a live node's id; one of the
                # two is killed a while later (which one: the seed's choice)
                first = self.nodes[name]
                self.start_node(name)
                second = self.nodes[name]
                self.at(self.rng.uniform(0.5, 6.0), lambda: self.crash(name, self.rng.choice([first, second])))

    # ---- the checker

    def check(self) -> Result:
        res = Result(journal=self.journal)
        holds: dict[int, list[Hold]] = defaultdict(list)
        open_: dict[tuple[str, int, int], Hold] = {}
        best: dict[int, int] = {}
        leaders: dict[int, set] = defaultdict(set)
        for r in self.journal:
            who = (r["node"], r["inc"])
            if r["event"] == "leader":
                leaders[r["epoch"]].add(who)  # (per process: two processes of one id count as two)
            elif r["event"] == "assigned":
                for p in r["partitions"]:
                    tok = r["tokens"][str(p)]
                    if p in best and tok <= best[p]:
                        res.violations.append(f"partition {p}: {who} got token {tok} at {r['t']:.3f}, not above {best[p]}")
                    best[p] = max(best.get(p, 0), tok)
                    old = open_.pop((*who, p), None)
                    if old is not None:
                        old.end = r["t"]  # taken again with a new token: the old hold ends here
                    h = Hold(r["node"], r["inc"], p, tok, r["t"])
                    open_[(*who, p)] = h
                    holds[p].append(h)
            elif r["event"] == "revoked":
                for p in r["partitions"]:
                    h = open_.pop((*who, p), None)
                    if h is None:
                        res.violations.append(f"partition {p}: {who} revoked it at {r['t']:.3f} without holding it")
                        continue
                    h.end = r.get("expired_at", r["t"]) if r.get("expired_at") is not None else r["t"]
        for node, inc, p, right in self.crashed_rights:
            h = open_.pop((node, inc, p), None)
            if h is not None:
                h.end = max(h.start, right)
        horizon = self.clock.t + 1
        for p, hs in holds.items():
            hs.sort(key=lambda h: h.start)
            for a, b in itertools.combinations(hs, 2):
                if (a.node, a.inc) == (b.node, b.inc):
                    continue
                a_end = horizon if a.end is None else a.end
                b_end = horizon if b.end is None else b.end
                if a.start < b_end and b.start < a_end:
                    res.violations.append(
                        f"partition {p}: {a.node}#{a.inc} [{a.start:.3f}, {a_end:.3f}) token {a.token} and "
                        f"{b.node}#{b.inc} [{b.start:.3f}, {b_end:.3f}) token {b.token} overlap")
        for epoch, who in leaders.items():
            if len(who) > 1:
                res.violations.append(f"epoch {epoch}: leaders {sorted(who)}")
        # once the faults stopped: every partition held by exactly one live process
        owners: dict[int, list[str]] = defaultdict(list)
        for node in self.procs:
            if node.alive and not node.ring.stopping:
                ring = node.ring
                # a revoke whose right already ended (its handlers still run) holds nothing
                ended = {p for r, c in ring.requests.items() if c.expired_at is not None or r in ring.lapsed_at
                         for p in c.partitions}
                for p in set(ring.held) - ended:
                    owners[p].append(f"{node.id}#{node.inc}")
        for node in self.procs:
            if node.alive and node.ring.stopping and not node.ring.stopped:
                res.violations.append(f"{node.id}#{node.inc} began to leave and never finished")
        res.settled = all(len(owners.get(p, [])) == 1 for p in range(self.P))
        if not res.settled:
            missing = [p for p in range(self.P) if len(owners.get(p, [])) != 1]
            res.violations.append(f"not settled 20 s after the faults stopped: partitions {missing} "
                                  f"held by {[owners.get(p, []) for p in missing]}")
        res.holds, res.leaders = dict(holds), dict(leaders)
        return res


def run_seed(seed: int, **kwargs) -> Result:
    return EngineSim(seed, **kwargs).run()


if __name__ == "__main__":
    import sys

    seeds = range(int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else [int(sys.argv[1])]
    bad = 0
    for s in seeds:
        r = run_seed(s)
        if r.violations:
            bad += 1
            print(s, r.violations[:3])
    print(f"{len(seeds)} seeds, {bad} failing")
