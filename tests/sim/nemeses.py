"""Faults beyond crashes, pauses and partitions: broken assumptions (issue 10, G7).

Each nemesis breaks one thing the protocol assumes and the checker must still find no two
owners, no two leaders of one epoch and no shrinking token:

- **impostor**: a second process started with a live node's id (at another address), for a
  while; the leader must refuse it, not take it as a reconnect;
- **misconfigured**: a node restarted with another partition count or a voter set that
  differs by one voter, for a while; everyone must refuse it;
- **botched rollout**: two nodes restarted with a voter set of their own, of which they are
  a majority; nobody may elect while a voter runs conflicting settings;
- **deadline pause**: the leader frozen just before its quorum deadline (its sockets queue
  heartbeats it must not answer when it wakes), and a follower frozen just before its lease
  runs out;
- **failing disk**: a node's state dir refusing writes for a while (it neither votes nor runs);
- **bogus epoch**: a frame from a non-member claiming an epoch near the top of the range;
- **clock rates** within the documented bound (``ringfast.ring.DRIFT``) per node, and wall
  clocks minutes apart on nodes with state dirs (the case where epochs must still grow).
"""

from __future__ import annotations

import random
from dataclasses import replace

from ringfast.assumptions import MAX_EPOCH, WALL_SKEW_WARN
from ringfast.ring import DRIFT

from simulator import Sim, SimNode, TICK


def skew_clocks(sim: Sim, rates: bool, walls: bool, widened: bool = True):
    """Lease clocks up to DRIFT apart (the whole bound) and wall clocks apart: up to 10 min
    with state dirs (epochs then come from the state dir), within WALL_SKEW_WARN without
    (the documented assumption: epochs then start from the wall clock). Not `widened`: as
    before December 2026 (rates within 95% of the bound, wall offsets only with state dirs),
    so that seeds pinned then replay exactly."""
    spread = 600.0 if sim.state_dirs else WALL_SKEW_WARN
    for a in sim.addrs:
        if rates:
            sim.rates[a] = sim.rng.uniform(1 - (DRIFT if widened else 0.95 * DRIFT), 1.0)
        if walls and (widened or sim.state_dirs):
            sim.wall_offsets[a] = sim.rng.uniform(-spread, spread)


def start_impostor(sim: Sim, addr: str, duration: float):
    """Another process with the id of the node at `addr`, at an address of its own."""
    target = sim.cfg[addr]
    sim.impostors += 1
    host = f"10.99.0.{sim.impostors}"
    cfg = replace(target, host=host)
    imp_addr = cfg.address
    sim.cfg[imp_addr] = cfg
    node = SimNode(sim, imp_addr, incarnation=0, name=f"{target.node_id}!impostor{sim.impostors}")
    sim.nodes[imp_addr] = node
    sim.at(sim.now + TICK, node.tick)
    sim.at(sim.now + duration, sim.crash, imp_addr)


def misconfigure(sim: Sim, addr: str, duration: float):
    """Restart the node at `addr` with settings that differ from the others' for a while."""
    cfg = sim.cfg[addr]
    if sim.rng.random() < 0.5:
        bad = replace(cfg, num_partitions=cfg.num_partitions + 1)
    else:  # one voter fewer: it and the rest must not vote for each other
        other = sim.rng.choice([s for s in cfg.seeds if s != cfg.address])
        bad = replace(cfg, seeds=tuple(s for s in cfg.seeds if s != other))
    sim.crash(addr)
    sim.at(sim.now + 0.05, sim.restart, addr, bad)
    sim.at(sim.now + max(duration, 0.1), restore, sim, addr)


def restore(sim: Sim, addr: str):
    """The node at `addr` restarted with its own settings, whatever restarted it meanwhile."""
    node = sim.nodes[addr]
    if not node.down and node.ring.cfg != sim.cfg[addr]:
        sim.crash(addr)
    sim.at(sim.now + 0.05, sim.restart, addr)


def botched_rollout(sim: Sim, duration: float):
    """Two nodes restarted with a voter set of their own (themselves and a third that does not
    exist): a majority of it, so they could form a second ring beside the others'."""
    a, b = sim.rng.sample(sim.addrs, 2)
    for addr in (a, b):
        bad = replace(sim.cfg[addr], seeds=(a, b, "10.98.0.1:7000"))
        sim.crash(addr)
        sim.at(sim.now + 0.05, sim.restart, addr, bad)
        sim.at(sim.now + duration, sim.crash, addr)
        sim.at(sim.now + duration + 0.05, sim.restart, addr)


def pause_leader_at_deadline(sim: Sim):
    """Freeze the leader a moment before its quorum deadline, for less than a lease."""
    leaders = [n for n in sim.nodes.values() if n.ring.role == "leader" and not n.down and not n.paused]
    if not leaders:
        return
    node = leaders[0]
    local_deadline = node.ring._quorum_until(node.ring.clock())
    wait = node.true_time(local_deadline) - sim.now - sim.rng.uniform(0.0, 0.05)
    duration = sim.rng.uniform(0.3, 1.0) * sim.lease
    sim.at(sim.now + max(0.0, wait), sim.pause, node.addr, duration)


def failing_disk(sim: Sim, addr: str, duration: float):
    """The state dir of the node at `addr` refuses every write for `duration` (a full or
    failing disk): it must neither vote nor run meanwhile, and nothing else may change."""
    sim.disk_failing.add(addr)
    sim.at(sim.now + duration, sim.disk_failing.discard, addr)


def pause_follower_at_lease_end(sim: Sim, rnd: random.Random):
    """Freeze a follower that holds partitions a moment before its lease runs out, for less
    than a lease: it wakes to acks and assigns queued in its sockets after the lease's end."""
    holders = sorted((n for n in sim.nodes.values() if n.ring.role == "follower" and n.ring.held
                      and not n.down and not n.paused), key=lambda n: n.addr)
    if not holders:
        return
    node = rnd.choice(holders)
    wait = node.true_time(node.ring.lease_expiry) - sim.now - rnd.uniform(0.0, 0.05)
    sim.at(sim.now + max(0.0, wait), sim.pause, node.addr, rnd.uniform(0.3, 1.0) * sim.lease)


def bogus_epoch(sim: Sim):
    """A non-member's hello and heartbeat claiming a huge epoch, straight into a live node."""
    live = sorted((n for n in sim.nodes.values() if not n.down), key=lambda n: n.addr)
    if not live:
        return
    node = sim.rng.choice(live)
    for kind in ("hello", "heartbeat", "leader_is"):
        body = {"from": "intruder", "epoch": MAX_EPOCH - 1, "cfg": node.ring.fp, "addr": "10.66.0.1:7000",
                "priority": 0, "inc": 1, "wall": 0, "voters": [], "seq": 1, "acked": 0, "holdings": [], "seen": 0, "mv": 0,
                "leader": "intruder", "leader_addr": "10.66.0.1:7000"}
        conn = _NullConn()
        if not node.paused:
            node.driver.receive(conn, kind, body)


class _NullConn:
    other = None
    peer_addr = None
    closed = False

    def close(self):
        self.closed = True


def reset_all(sim: Sim, addr: str):
    """Every connection of the live node at `addr` reset at once while it lives on (a
    firewall rule, a flushed NAT table): its peers see closes, as if it had died, and elect
    at once if it led. Often it is cut off too, so that it cannot simply reconnect."""
    node = sim.nodes[addr]
    if node.down:
        return
    if sim.rng.random() < 0.5:
        sim.partition({addr} | ({sim.rng.choice(sim.addrs)} if sim.rng.random() < 0.5 else set()))
    for conn in sorted(node.conns.values(), key=lambda c: c.id):
        conn.close()


NEMESES = ["impostor", "misconfigured", "deadline_pause", "bogus_epoch", "reset_all"]


def schedule(sim: Sim, until: float, rate: float, widened: bool = True):
    """A random schedule of these nemeses from now to `until` (about `rate` per second).

    `widened`: botched rollouts too (about two schedules in five of those with state dirs),
    drawn from a random stream of their own; without, the seeds pinned before they joined
    replay exactly as found. Without state dirs a botched rollout is found only if the two
    groups reach each other before the restarted pair has waited out its vote block:
    seed 40031809 (no state dirs) had the others' connections to the pair waiting to
    reconnect, the pair elected a leader of its own, and two rings had epoch 1008. That
    is the documented limit (docs/operations.md, "Changing the voter set"): with state dirs
    the pair cannot start, so the schedules that must stay clean have them."""
    if widened:
        extra = random.Random(sim.seed * 7919 + 17)
        if sim.state_dirs and extra.random() < 0.4:
            at = extra.uniform(sim.now, until)
            sim.at(at, botched_rollout, sim, min(until - at + 0.5, extra.uniform(0.5, 3.0)))
        if sim.state_dirs and extra.random() < 0.3:
            at = extra.uniform(sim.now, until)
            sim.at(at, failing_disk, sim, extra.choice(sim.addrs), extra.uniform(0.2, 3.0))
        if extra.random() < 0.3:
            sim.at(extra.uniform(sim.now, until), pause_follower_at_lease_end, sim, extra)
    t = sim.now
    while True:
        t += sim.rng.expovariate(rate)
        if t >= until:
            return
        kind = sim.rng.choice(NEMESES)
        addr = sim.rng.choice(sim.addrs)
        if kind == "impostor":
            sim.at(t, start_impostor, sim, addr, min(until - t, sim.rng.uniform(0.3, 2.0)))
        elif kind == "misconfigured":
            sim.at(t, misconfigure, sim, addr, min(until - t, sim.rng.uniform(0.3, 2.0)))
        elif kind == "rollout":
            sim.at(t, botched_rollout, sim, min(until - t, sim.rng.uniform(0.5, 3.0)))
        elif kind == "reset_all":
            sim.at(t, reset_all, sim, addr)
        elif kind == "deadline_pause":
            sim.at(t, pause_leader_at_deadline, sim)
        else:
            sim.at(t, bogus_epoch, sim)
