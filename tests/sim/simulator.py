"""Deterministic simulation: many `Ring`s in one process, a virtual clock, an in-memory network.

Everything random comes from one seeded `random.Random`, so a seed replays exactly. The
network models TCP as the nodes see it: per-connection FIFO delivery with random delay,
black-holed links during a network partition, resets, and refused connections to a node
that is down. Nodes can crash (and restart with the same id and a fresh state), and pause
(no ticks, no message handling, like SIGSTOP) for a while.

The checker records, on the one virtual clock, when each node held each partition:

- from the moment it accepted an assignment,
- until its revoke handler returned, or for a lease expiry until ``expired_at`` (the end of
  its right to act), or for a crash until its lease expiry (nobody else may act before,
  and a process frozen past its lease had lost the right even if it never woke).

and proves G1 (no two holding intervals of a partition overlap), G3 (at most one leader
per epoch, fencing tokens only grow per partition) and G2 (after the faults stop, every
partition is held by exactly one live follower within a bound).
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

import os

from ringfast import protocol
from ringfast.assumptions import voter_change_refusal
from ringfast.config import Config
from ringfast.driver import Driver
from ringfast.ring import Ring

# Messages go through protocol.py's framing and validation, as between real nodes. Wide
# scans of the protocol's logic alone may turn it off (RINGFAST_SIM_FRAMING=0: ~2.5x faster).
FRAMING = os.environ.get("RINGFAST_SIM_FRAMING", "1") != "0"
TICK = 0.05


class Sim:
    def __init__(self, seed: int, nodes: int = 5, partitions: int = 12, heartbeat: float = 0.1,
                 lease: float = 0.5, delay: tuple[float, float] = (0.0005, 0.01), handler: tuple[float, float] = (0.0, 0.03),
                 leader_owns: bool = False, voters: int | None = None, state_dirs: bool = False,
                 prepare=None):
        self.seed = seed
        # Each node's lease clock runs at its own rate (1.0 unless a nemesis skews it) and its
        # wall clock at its own offset; with state dirs a node persists its epoch and vote and
        # starts from them, without one from its wall clock (as the real node does).
        self.rates: dict[str, float] = {}
        self.wall_offsets: dict[str, float] = {}
        self.state_dirs = state_dirs
        self.state: dict[str, int] = {}  # addr -> persisted epoch (with state dirs)
        # addr -> (voters, quorum) its state dir remembers: a start with a voter set that
        # allows a second quorum beside it is refused, as `ringfast node` exits 2 (disk.py)
        self.voter_state: dict[str, tuple[tuple[str, ...], int]] = {}
        self.refused_starts: list[str] = []
        self.disk_failing: set[str] = set()  # addrs whose state dir refuses writes (nemeses.failing_disk)
        self.impostors = 0
        self.rng = random.Random(seed)
        self.now = 0.0
        self.queue: list = []
        self.seq = itertools.count()
        self.delay = delay
        self.handler = handler
        self.P = partitions
        self.addrs = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256 + 1}:7000" for i in range(nodes)]
        seeds = ",".join(self.addrs[:voters] if voters else self.addrs)  # the first `voters` nodes vote
        self.cfg = {a: Config.load({}, node_id=f"n{i + 1}", host=f"10.{i // 65536}.{i // 256 % 256}.{i % 256 + 1}", port=7000, seeds=seeds,
                                   num_partitions=partitions, heartbeat_interval=heartbeat * 1000,
                                   failure_timeout=lease * 1000, monitoring_port="off", handler_timeout=5,
                                   leader_owns_partitions=leader_owns)
                    for i, a in enumerate(self.addrs)}
        self.lease = lease
        self.cut: set[tuple[str, str]] = set()  # (from, to) pairs whose packets are dropped
        self.nodes: dict[str, SimNode] = {}
        self.log = Log(partitions, amnesiac=not state_dirs)
        if prepare is not None:  # a nemesis that sets clocks before the nodes start
            prepare(self)
        for a in self.addrs:
            self.nodes[a] = SimNode(self, a, incarnation=0)
            self.at(self.rng.uniform(0, 0.05), self.nodes[a].tick)

    # -------------------------------------------------------------- scheduling

    def at(self, t: float, fn, *args):
        heapq.heappush(self.queue, (t, next(self.seq), fn, args))

    def run_until(self, t_end: float):
        while self.queue and self.queue[0][0] <= t_end:
            t, _, fn, args = heapq.heappop(self.queue)
            self.now = max(self.now, t)
            fn(*args)
        self.now = t_end

    # -------------------------------------------------------------- network

    def connect(self, src: SimNode, dst_addr: str) -> SimConn | None:
        dst = self.nodes.get(dst_addr)
        if dst is None or dst.down or (src.addr, dst_addr) in self.cut or (dst_addr, src.addr) in self.cut:
            return None
        a = SimConn(self, src, dst_addr)
        b = SimConn(self, dst, None)
        a.other, b.other = b, a
        src.conns[a.id] = a
        dst.conns[b.id] = b
        return a

    def deliver(self, conn: SimConn, kind: str, body: dict):
        """Send on `conn`: FIFO per direction. While the link is cut, frames wait (TCP keeps
        retransmitting them) and arrive after the heal, unless the connection dies first."""
        other = conn.other
        if conn.closed or other is None or other.closed:
            return
        if (conn.node.addr, other.node.addr) in self.cut or conn.stalled:
            conn.stalled.append((kind, body))
            return
        # Through the framing and validation that ship (protocol.py): what the node would
        # refuse to send or to accept, the simulation does too.
        t = max(self.now + self.rng.uniform(*self.delay), conn.last_delivery)
        conn.last_delivery = t
        if FRAMING:
            frame = protocol.encode(kind, body, conn.node.ring.cfg.cluster_name)
            self.at(t, other.node.receive_frame, other, frame)
        else:
            self.at(t, other.node.receive, other, kind, body)

    # -------------------------------------------------------------- faults

    def crash(self, addr: str):
        node = self.nodes[addr]
        if node.down:
            return
        node.crash()

    def restart(self, addr: str, cfg: Config | None = None, force: bool = False):
        """Start the process at `addr` again (with `cfg`: misconfigured, say, else its own).
        With state dirs, a voter set the state dir's does not allow is refused (the node
        stays down) unless `force` (the operator clears the remembered set: docs/operations.md)."""
        old = self.nodes[addr]
        if not old.down:
            return
        run = cfg or self.cfg[addr]
        remembered = self.voter_state.get(addr) if self.state_dirs else None
        if remembered is not None and not force:
            why = voter_change_refusal(remembered[0], remembered[1], run.seeds, run.quorum_size())
            if why is not None:
                self.refused_starts.append(f"{addr}: {why}")
                return
        node = SimNode(self, addr, incarnation=old.incarnation + 1, cfg=cfg)
        self.nodes[addr] = node
        self.at(self.now + TICK, node.tick)

    def pause(self, addr: str, duration: float):
        node = self.nodes[addr]
        if node.down or node.paused:
            return
        node.paused = True
        self.at(self.now + duration, node.resume)

    def partition(self, side: set[str]):
        for a in self.addrs:
            for b in self.addrs:
                if (a in side) != (b in side):
                    self.cut.add((a, b))

    def cut_one_way(self, src: str, dst: str):
        self.cut.add((src, dst))

    def heal(self):
        self.cut.clear()
        for node in list(self.nodes.values()):
            for conn in list(node.conns.values()):
                stalled, conn.stalled = conn.stalled, []
                for kind, body in stalled:
                    self.deliver(conn, kind, body)

    def reset_random_connection(self):
        live = [n for n in self.nodes.values() if n.conns and not n.down]
        if live:
            node = self.rng.choice(sorted(live, key=lambda n: n.addr))
            conn = self.rng.choice(sorted(node.conns.values(), key=lambda c: c.id))
            conn.close()

    def random_faults(self, until: float, rate: float = 1.0):
        """A random schedule of faults from now to `until` (about `rate` per second)."""
        t = self.now
        while True:
            t += self.rng.expovariate(rate)
            if t >= until:
                return
            kind = self.rng.choice(["crash", "restart", "pause", "partition", "heal", "oneway", "reset", "stop"])
            addr = self.rng.choice(self.addrs)
            if kind == "crash":
                self.at(t, self.crash, addr)
                self.at(t + self.rng.uniform(0.1, 2.0), self.restart, addr)
            elif kind == "pause":
                self.at(t, self.pause, addr, self.rng.uniform(0.1, 3 * self.lease))
            elif kind == "partition":
                side = set(self.rng.sample(self.addrs, self.rng.randint(1, len(self.addrs) // 2)))
                self.at(t, self.partition, side)
                self.at(t + self.rng.uniform(0.2, 3.0), self.heal)
            elif kind == "oneway":
                other = self.rng.choice([a for a in self.addrs if a != addr])
                self.at(t, self.cut_one_way, addr, other)
                self.at(t + self.rng.uniform(0.2, 2.0), self.heal)
            elif kind == "reset":
                self.at(t, self.reset_random_connection)
            elif kind == "stop":
                self.at(t, self.graceful_stop, addr, self.rng.random() < 0.5)
                self.at(t + self.rng.uniform(0.3, 2.0), self.restart, addr)
            elif kind == "heal":
                self.at(t, self.heal)
            elif kind == "restart":
                self.at(t, self.restart, addr)

    def graceful_stop(self, addr: str, restart: bool):
        node = self.nodes[addr]
        if node.down or node.paused:
            return
        node.ring.leave(restart)
        self.at(self.now + 0.2, self.crash, addr)  # then the process exits

    # -------------------------------------------------------------- checks

    def live_followers(self):
        return [n for n in self.nodes.values() if not n.down and not n.paused and n.ring.role != "leader"]

    def settled(self) -> bool:
        live = [n for n in self.nodes.values() if not n.down]
        leaders = [n for n in live if n.ring.role == "leader"]
        if len(leaders) != 1:
            return False
        # what a frozen node, or one whose lease has run out, still lists does not count
        held = sorted(p for n in live if not n.paused and n.ring.holding_deadline() > n.ring.clock()
                      for p in n.ring.held)
        return held == list(range(self.P)) and all(n.ring.leader == leaders[0].ring.id for n in live)


class SimConn:
    ids = itertools.count()

    def __init__(self, sim: Sim, node: SimNode, peer_addr: str | None):
        self.sim = sim
        self.node = node
        self.peer_addr = peer_addr
        self.other: SimConn | None = None
        self.closed = False
        self.last_delivery = 0.0
        self.stalled: list = []  # frames waiting for a cut link to heal
        self.decoder: protocol.Decoder | None = None  # the receiving end's (node.py has one per connection)
        self.id = next(SimConn.ids)

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.node.conns.pop(self.id, None)
        self.node.connection_closed(self)
        if self.other is not None and not self.other.closed:
            other = self.other
            # the far end learns of it a little later (a FIN or RST on the wire)
            self.sim.at(self.sim.now + self.sim.rng.uniform(*self.sim.delay), other.close)


class SimNode:
    """One process: a Ring, its connections, its event handlers; can crash and pause."""

    def __init__(self, sim: Sim, addr: str, incarnation: int, cfg: Config | None = None, name: str | None = None):
        self.sim = sim
        self.addr = addr
        self.incarnation = incarnation
        self.rate = rate = sim.rates.get(addr, 1.0)
        offset = sim.wall_offsets.get(addr, 0.0)
        cfg = cfg or sim.cfg[addr]
        wall = lambda: 1000 + sim.now + offset  # noqa: E731
        epoch = max(int(wall()), sim.state.get(addr, 0)) if sim.state_dirs else int(wall())
        self.down = False
        self.paused = False
        self.backlog: list = []
        self.conns: dict[int, SimConn] = {}  # by id: iteration order must not depend on addresses
        self.outbound: dict[str, SimConn] = {}
        self.ring = Ring(cfg, _Storage(self, cfg) if sim.state_dirs else None, lambda: rate * sim.now, epoch=epoch,
                         rng=random.Random(sim.rng.random()), wall=wall,
                         fresh=sim.state_dirs and addr not in sim.state,
                         recorded=sim.state.get(addr, 0) if sim.state_dirs else 0)
        self.driver = Driver(self.ring, _World(self))  # the node's own driver (ringfast/driver.py)
        if sim.state_dirs and name is None:  # (an impostor has no state dir of its own)
            sim.voter_state[addr] = (tuple(cfg.seeds), cfg.quorum_size())  # recorded at start
        self.name = name or f"{self.ring.id}#{incarnation}"
        self.heard = 0  # the highest epoch this process was told of (SimNode._informs) or voted in

    def true_time(self, local: float) -> float:
        """A time on this node's lease clock, on the simulation's (true) clock."""
        return local / self.rate

    def tick(self):
        if self.down:
            return
        if not self.paused:
            self.driver.tick()
            self.sim.log.observe(self)
        period = TICK * self.sim.rng.uniform(0.9, 1.1)
        if not self.paused:  # (as the node's tick loop: sooner when a leader's wait ends)
            period = self.driver.next_tick(self.ring.clock(), period * self.rate) / self.rate
        self.sim.at(self.sim.now + period, self.tick)

    def receive_frame(self, conn: SimConn, frame: bytes):
        if self.down or conn.closed:
            return
        if conn.decoder is None:
            cfg = self.ring.cfg
            conn.decoder = protocol.Decoder(cfg.cluster_name, cfg.max_frame_size)
        try:
            messages = conn.decoder.feed(frame)
        except protocol.ProtocolError as e:
            self.sim.log.refused_frames.append(f"{self.name}: {e}")
            conn.close()  # as the node does with a peer that breaks the protocol
            return
        for kind, body in messages:
            self.receive(conn, kind, body)

    def receive(self, conn: SimConn, kind: str, body: dict):
        if self.down or conn.closed:
            return
        if self.paused:
            self.backlog.append((conn, kind, body))
            return
        self._handle(conn, kind, body)
        self.sim.log.observe(self)

    def _handle(self, conn: SimConn, kind: str, body: dict):
        ring = self.ring
        vote = kind == "vote_req" and not body["pre"]
        if vote:
            before = ring.voted
        self.driver.receive(conn, kind, body, conn.peer_addr)
        granted = vote and ring.voted != before and ring.voted == (body["epoch"], body["from"])
        if granted:
            # what this process had been told before it voted: the checker asks whether a
            # lower epoch came from voters that could not know the higher one (Log.knew)
            self.sim.log.knew[(ring.id, body["from"], body["epoch"])] = self.heard
        if granted or self._informs(conn, kind, body):
            self.heard = max(self.heard, body["epoch"])

    def _informs(self, conn: SimConn, kind: str, body: dict) -> bool:
        """Whether, by the protocol's design, this frame tells its receiver of an epoch that
        exists and that it must keep (docs/operations.md, "epochs come from honest nodes"):
        a refused vote (the voter's floor), leader_is, and hellos from voters, from a
        genuine node with our settings; a vote request it granted counts too (_handle).
        The checker's own account, independent of what the node made of it."""
        sender = conn.other.node if conn.other is not None else None
        if sender is None or "!" in sender.name or body.get("cfg") != self.ring.fp:
            return False
        if kind == "vote":
            return not body["granted"]  # a refusal carries the voter's floor; a grant, our own epoch
        if kind == "leader_is":
            return True
        return kind == "hello" and body["addr"] in self.ring.seeds

    def resume(self):
        if self.down:
            return
        self.paused = False
        backlog, self.backlog = self.backlog, []
        for conn, kind, body in backlog:  # frames that waited in the socket buffers
            if not self.down and not conn.closed:
                self._handle(conn, kind, body)
        self.sim.log.observe(self)

    def crash(self):
        self.sim.log.crashed(self, self.sim.now)
        self.down = True
        for conn in list(self.conns.values()):
            conn.close()

    def connection_closed(self, conn: SimConn):
        if self.down:
            return
        if conn.peer_addr is not None:
            if self.outbound.get(conn.peer_addr) is conn:
                del self.outbound[conn.peer_addr]
                self.driver.connection_lost(conn.peer_addr)
        else:
            self.driver.inbound_closed(conn)

    def send(self, addr: str, kind: str, body: dict):
        conn = self.outbound.get(addr)
        if conn is None or conn.closed:
            conn = self.sim.connect(self, addr)
            if conn is None:  # refused or unreachable: the connect fails after a while
                self.sim.at(self.sim.now + 0.01, self._connect_failed, addr)
                return
            self.outbound[addr] = conn
        self.sim.deliver(conn, kind, body)

    def _connect_failed(self, addr):
        if not self.down and not self.paused:
            self.driver.connection_lost(addr)


class _World:
    """A simulated process as the driver's `World`: the virtual network, revoke handlers
    that take a random while, and a journal that the checker reads."""

    def __init__(self, node: SimNode):
        self.node = node

    def send(self, to, kind, body):
        self.node.send(to, kind, body)

    def reply(self, conn, kind, body):
        sim, ring = self.node.sim, self.node.ring
        if kind == "heartbeat_ack" and not ring.clock() < ring._quorum_until(ring.clock()):
            # renewing a lease after our quorum ran out: it could outlive the next leader's wait
            sim.log.violations.append(f"t={sim.now:.3f} {self.node.name} renewed a lease without a quorum")
        sim.deliver(conn, kind, body)

    def close(self, conn):
        conn.close()

    def run_revoke(self, change, done):
        node, sim = self.node, self.node.sim

        def finish():
            if node.down:
                return
            if node.paused:  # a frozen handler finishes after the thaw
                sim.at(sim.now + TICK, finish)
                return
            done(True)

        sim.at(sim.now + sim.rng.uniform(*sim.handler), finish)

    def notify(self, event, payload):
        pass  # no application here: the checker reads the journal

    def record(self, event, fields):
        self.node.sim.log.record(self.node, event, fields)


class _Storage:
    """A state dir that survives the process (kept by the Sim, by address)."""

    def __init__(self, node: SimNode, cfg: Config):
        self.node = node
        self.cfg = cfg

    def save(self, epoch, voted):
        sim, cfg = self.node.sim, self.cfg
        if self.node.addr in sim.disk_failing:
            return False
        sim.state[self.node.addr] = max(epoch, sim.state.get(self.node.addr, 0))
        sim.voter_state[self.node.addr] = (tuple(cfg.seeds), cfg.quorum_size())
        return True


@dataclass
class Interval:
    holder: str
    start: float
    end: float | None
    token: int


@dataclass
class Log:
    """What the checker needs: holding intervals, leaders per epoch, tokens."""

    P: int
    intervals: dict = field(default_factory=dict)  # partition -> [Interval]
    open: dict = field(default_factory=dict)  # (holder, partition) -> Interval
    leaders: dict = field(default_factory=dict)  # epoch -> set of holders
    violations: list = field(default_factory=list)
    # Without state dirs a voter forgets its votes at a restart, and its epochs then start
    # from its wall clock (docs/operations.md). An epoch elected by voters that all forgot the
    # older one they shared can be at or below it: the documented limit, not a protocol
    # failure. Such cases land here, not in `violations` (see `_forgotten`).
    forgotten: list = field(default_factory=list)
    # epoch -> [(when, {voter id: the highest epoch it knew when it voted})], one per election
    elections: dict = field(default_factory=dict)
    knew: dict = field(default_factory=dict)  # (voter id, candidate id, epoch) -> what it knew then
    amnesiac: bool = False  # the nodes run without state dirs
    refused_frames: list = field(default_factory=list)  # frames a node's decoder refused

    def record(self, node, event, fields):
        """A journal line of `node` (what ringfast.driver writes for a real node): the
        intervals are built from these alone, as tests/cluster/journal.py builds them from
        real journals."""
        if event == "assigned":
            self.assigned(node, {int(p): t for p, t in fields["tokens"].items()})
        elif event == "revoked":
            at = fields.get("expired_at")
            self.revoked(node, fields["partitions"], node.sim.now if at is None else node.true_time(at))
        elif event == "leader":
            self.leader(node, fields["epoch"])

    def assigned(self, node, tokens):
        for p, token in sorted(tokens.items()):
            iv = Interval(node.name, node.sim.now, None, token)
            prev = self.intervals.setdefault(p, [])
            held = self.open.pop((node.name, p), None)
            if held is not None:  # held already, now with a newer token: one continuous hold
                held.end = node.sim.now
            if prev and iv.token <= max(x.token for x in prev):
                # every earlier token at or above this one must have been forgotten
                olders = sorted({x.token >> 31 for x in prev if x.token >= iv.token})
                msg = f"t={node.sim.now:.3f} token of partition {p} did not grow: {iv.token}"
                if all(self._forgotten(o, iv.token >> 31, node.sim.now) for o in olders):
                    self.forgotten.append(f"{msg} (epoch {iv.token >> 31} elected by voters that forgot epochs {olders})")
                else:
                    self.violations.append(msg)
            prev.append(iv)
            self.open[(node.name, p)] = iv

    def revoked(self, node, partitions, end):
        for p in partitions:
            iv = self.open.pop((node.name, p), None)
            if iv is not None:
                iv.end = end

    def crashed(self, node, now):
        # Its right to act ends with its lease, crash or not: a live node cannot be told
        # from a dead one before that, and a frozen one lost the right even if it never woke.
        end = node.true_time(node.ring.holding_deadline())
        for (holder, p), iv in list(self.open.items()):
            if holder == node.name:
                iv.end = end
                del self.open[(holder, p)]

    def leader(self, node, epoch):
        sim = node.sim
        me = node.ring.id
        # what each voter had been told of when it voted (the candidate: by now); unknown is
        # infinity, which never exempts anything
        voters = {vid: node.heard if vid == me else self.knew.get((vid, me, epoch), float("inf"))
                  for vid in node.ring.votes.values()}
        self.elections.setdefault(epoch, []).append((sim.now, voters))
        holders = self.leaders.setdefault(epoch, set())
        holders.add(node.name)
        if len(holders) > 1 and len({h.split("#")[0] for h in holders}) > 1:
            msg = f"t={sim.now:.3f} two leaders in epoch {epoch}: {sorted(holders)}"
            if self._forgotten(epoch, epoch, sim.now):
                self.forgotten.append(f"{msg} (elected by voters that forgot the other)")
            else:
                self.violations.append(msg)

    def _forgotten(self, older: int, newer: int, now: float) -> bool:
        """Whether the latest election of epoch `newer` (at or before `now`) could not know
        of the earlier elections of epoch `older`: without state dirs, each voter the two
        quorums share knew, when it voted for `newer`, no epoch as high as `older` (it had
        restarted since and not heard of it again). Quorums always share a voter, and one
        that knows refuses to vote at or below an epoch it voted or followed in: so any
        other case is a protocol failure."""
        if not self.amnesiac:
            return False
        new = [e for e in self.elections.get(newer, []) if e[0] <= now]
        if not new:
            return False
        t_new, q_new = new[-1]
        old = [e for e in self.elections.get(older, []) if e[0] < t_new]
        if not old:
            return False
        for _, q_old in old:
            shared = q_new.keys() & q_old.keys()
            # (no shared voter at all: two quorums that cannot both exist, a failure too)
            if not shared or any(q_new[v] >= older for v in shared):
                return False
        return True

    def observe(self, node):
        """After every step of a node: a leader's partition table keeps its invariants
        (ringfast.table); a broken one is a violation of the run like a double owner."""
        if node.ring.role == "leader":
            try:
                node.ring.table.check()
            except AssertionError as e:
                self.violations.append(f"{node.name}: {e}")

    def close_lapsed(self, sim):
        """At the end of a run: a node still frozen (or not yet ticked) past its lease has
        lost its right at the lease's end, as a crashed one has, even if it never woke."""
        for node in sim.nodes.values():
            if node.down:
                continue
            end = node.true_time(node.ring.holding_deadline())
            if end >= sim.now:
                continue
            for (holder, p), iv in list(self.open.items()):
                if holder == node.name:
                    iv.end = end
                    del self.open[(holder, p)]

    def check_overlaps(self, now: float):
        for p, ivs in self.intervals.items():
            ivs = sorted(ivs, key=lambda iv: iv.start)
            for i, a in enumerate(ivs):
                a_end = float("inf") if a.end is None else a.end  # still held
                for b in ivs[i + 1:]:
                    if b.start >= a_end:
                        break
                    if b.holder != a.holder:
                        self.violations.append(
                            f"partition {p} held by {a.holder} [{a.start:.3f}, {a_end:.3f}) and {b.holder} from {b.start:.3f}")


def run_seed(seed: int, nodes: int = 5, fault_seconds: float = 6.0, settle_limit: float = 6.0,
             nemeses: bool = True, widened: bool = True) -> Sim:
    """One schedule: settle, random faults for a while, then no faults until settled.

    By the seed: a quarter with a leader that owns partitions, half with state dirs (a
    quarter of all with wall clocks minutes apart, another quarter, without state dirs,
    seconds apart), a third with lease clocks at different rates within the bound; with
    `nemeses`, broken assumptions too (see nemeses.py). `widened=False` replays the
    schedules of before the widening (rollouts, the whole rate bound, skew without state
    dirs): the seeds pinned then."""
    import nemeses as nm  # (it imports this module)

    def clocks(sim):
        if nemeses:
            nm.skew_clocks(sim, rates=seed % 3 == 1, walls=seed % 4 in (0, 1), widened=widened)

    sim = Sim(seed, nodes=nodes, leader_owns=seed % 4 == 3, state_dirs=seed % 2 == 0, prepare=clocks)
    sim.run_until(2.0)
    sim.random_faults(until=2.0 + fault_seconds, rate=1.5)
    if nemeses:
        nm.schedule(sim, until=2.0 + fault_seconds, rate=0.4, widened=widened)
    sim.run_until(2.0 + fault_seconds)
    # faults stop: heal, restart whatever is down, thaw whatever is frozen
    sim.heal()
    for a in sim.addrs:
        if not sim.nodes[a].down and sim.nodes[a].ring.cfg != sim.cfg[a]:
            sim.crash(a)  # still misconfigured (a nemesis' own fix came too early): fix it now
        if sim.nodes[a].down:
            sim.restart(a, force=True)  # its own settings, whatever a refused start remembered
    end = sim.now + settle_limit
    while sim.now < end and not sim.settled():
        sim.run_until(sim.now + 0.1)
    sim.settle_time = None if not sim.settled() else sim.now - (2.0 + fault_seconds)
    # Revoke handlers still running say when the right they end ended (which may be long
    # before now, for a node that woke from a freeze): let them finish (they take at most
    # sim.handler[1]) before intervals still open are judged.
    sim.run_until(sim.now + 2 * sim.handler[1] + TICK)
    sim.log.close_lapsed(sim)
    sim.log.check_overlaps(sim.now)
    return sim
