"""Scripted transcripts of the protocol: `Ring`s on a manual clock, events in, actions out.

A transcript (``tests/transcripts/*.txt``) is a list of blocks, each a command, a line
``----`` and the exact text the command must produce, ended by a blank line (so an output
never holds a blank line). Lines starting with ``#`` and blank lines between blocks are
comments::

    # n3 voted for n1 in 1001: n2 is denied the same epoch
    msg n2->n3 vote_req e=1001
    ----
    n2->n3 vote_req e=1001
      n3->n2 vote e=1001 denied

The runner keeps one small world per file: named nodes (``n1``, ``n2``...; a node's name
is its id, and its address is ``NAME:7000``), a manual clock starting at 0, and a network
of connections between them. A node that was started is a real `Ring`; a name that was
never started is a *scripted* peer, whose messages the script writes (``msg``) and whose
received messages are only shown. Everything is deterministic: each Ring's rng has a fixed
seed, the wall clock is fixed (1000 s: pass epoch floors explicitly), and every message a
Ring receives first goes through the wire codec (``ringfast.protocol``), as on a real node.
After every step, each leader's partition table must pass `PartitionTable.check()`.

Messages between running nodes are queued per connection (FIFO, as TCP) until ``deliver``
or ``run`` moves them; replies travel back on the connection they answer, so the leader's
``assign`` to a member goes on the connection that member opened, and votes come back on
the candidate's own connection (it checks that). A node keeps sending on a connection until
it hears that the far end closed it (`close`, which arrives after what was sent before
it); what arrives at an end already closed is lost, and its sender then learns that the
connection is gone (a reset). A stopped node refuses connections: what is sent to it is
lost. `cut` loses everything between two nodes, closes included.

Commands (``[...]`` optional; times in seconds):

    cluster NAME... [voters=N1,N2] [partitions=6] [heartbeat=0.125] [lease=1] [grace=S]
            [handler=S] [quorum=Q] [step=0.125] [leader-owns]
        the names and the settings every node shares (once, first); voters default to all
        names. The defaults are binary fractions so that sums of times are exact.
    start NAME... [floor=1000] [dir] [seed=N] [id=ID]
        start a process: a new Ring (epoch floor `floor`, as from the wall clock). With `dir`
        it has a state dir kept across restarts: fresh while it holds nothing, else the
        floor is what it persisted. `id` gives it another node's id (a duplicate NODE_ID).
    stop NAME...          the process exits: its connections close after what it sent
    leave NAME [restart]  Ring.leave(restart)
    advance SECONDS       move the clock, nothing else
    tick [NAME...]        tick the nodes (all running ones by default) at the current time
    run SECONDS [step=S]  repeat: advance one step, tick every running node, deliver everything
    deliver [A->B...] [n=N]
        deliver queued messages, oldest first, until none matches (`*` matches any node),
        or N of the kinds shown; what deliveries send is delivered too if it matches
    drop [A->B...] [kind=K]   throw queued messages away
    msg A->B KIND [field=value...]
        deliver a hand-written message at once. Defaults fill what is not given: `from`,
        the settings fingerprint, the incarnation (1 for a scripted peer), the receiver's
        epoch, and per kind (sequence numbers count up, `acked` is `seq-1`, a vote is
        granted and answers the receiver's current round...). If A runs, what B answers on
        that connection is delivered to A at once. Values: true/false, none,
        integers, lists `0,1,2`, holdings `0@1001.1,1@1001.1` (partition@epoch.generation);
        `e=` is short for `epoch=`.
    finish NAME [timeout] [n=N]   revoke handlers waiting in NAME return (oldest first)
    disconnect A B        the connection A opened to B breaks: both ends learn it at once
    cut A B / heal        from now on, messages between A and B are lost (at delivery) / none are
    hide KIND... / show KIND...   leave a kind of message out of the output (see below)
    state [NAME...]       a dump of each node (all by default)
    net                   the messages in flight

Output: one line per thing that happened, in order.

    n1->n2 KIND e=EPOCH ...  a message. Where it was delivered its line stands where it
                             arrived and what the receiver did is indented below it; a
                             message still in flight, or to a scripted or stopped node,
                             stands where it was sent. `(cut)`, `(down)`, `(closed)`: lost.
    n1->n2 close             the far end of a connection closed (delivered after its data)
    n2: assigned P@TOKEN,... partitions given to the application
    n2: revoke P,... (REASON) revoke handlers started (they return with `finish`)
    n2: role ROLE ...        role_changed;   n1: member n2 joined|left: member_changed
    n2: persist e=E vote=V   the state written before a vote or a candidacy
    (hidden: 4 heartbeat)    messages of hidden kinds left out (a delivery that did
                             something visible is shown anyway); "probe", an empty assign
                             (the leader's probe of a voter), is hidden unless shown

Inside `run` every line starts with the time. Fencing tokens print as EPOCH.GENERATION
(`token_of(1001, 2)` is `1001.2`), a leader's message numbers as SESSION.N.

Run them with pytest (tests/transcripts/test_transcripts.py). With
``RINGFAST_REWRITE_TRANSCRIPTS=1`` every expected output is rewritten in place with what
the runner produced, so a change of behaviour shows as a diff of the .txt files;
``python tests/transcripts/runner.py FILE...`` does the same.
"""

from __future__ import annotations

import difflib
import os
import random
import shlex
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ringfast import protocol
from ringfast.assumptions import fingerprint
from ringfast import events as ev
from ringfast.config import Config
from ringfast.driver import Driver
from ringfast.ring import Ring
from ringfast.table import GEN_BITS, HELD, Slot, token_of

SEP = "----"
WALL = 1000.0  # the fixed wall clock: epochs above WALL + 2**24 are refused
REWRITE = "RINGFAST_REWRITE_TRANSCRIPTS"
# kinds sent as an answer, on the connection the receiver opened (votes must come back there)
REPLIES = {"vote", "heartbeat_ack", "assign", "revoke", "refused", "leader_is"}


class ScriptError(Exception):
    """A transcript the runner cannot run (a bad command), or a Ring that raised."""


# ---------------------------------------------------------------------- rendering


def tok(t: int) -> str:
    return f"{t >> GEN_BITS}.{t & ((1 << GEN_BITS) - 1)}"


def holds(pairs) -> str:
    return ",".join(f"{p}@{tok(t)}" for p, t in sorted(pairs)) or "-"


def plist(ps) -> str:
    return ",".join(map(str, sorted(ps))) or "-"


def mseq(n: int) -> str:
    return f"{n >> 32}.{n & 0xFFFFFFFF}" if n >> 32 else str(n)


def secs(t: float) -> str:
    return "-" if t in (float("inf"), float("-inf")) else f"{t:.3f}"


FIELDS = {  # kind -> the body fields that matter, as text
    "hello": lambda b: "",
    "leader_is": lambda b: f"leader={b['leader'] or '-'}",
    "vote_req": lambda b: "pre" if b["pre"] else "",
    "vote": lambda b: " ".join(w for w in ("pre" if b["pre"] else "", "granted" if b["granted"] else "denied",
                                           "fresh" if b["fresh"] else "") if w),
    "heartbeat": lambda b: f"seq={b['seq']} seen={mseq(b['seen'])} holds={holds(b['holdings'])}",
    "heartbeat_ack": lambda b: f"seq={b['seq']}",
    "assign": lambda b: f"mseq={mseq(b['mseq'])} {holds(b['partitions'])}",
    "revoke": lambda b: f"mseq={mseq(b['mseq'])} {plist(b['partitions'])}",
    "revoked": lambda b: f"mseq={mseq(b['mseq'])} {plist(b['partitions'])}",
    "leave": lambda b: "restart" if b["restart"] else "",
    "refused": lambda b: f"reason={b['reason']}",
}


def label(kind: str, body: dict | None) -> str:
    """The kind a message is shown (and hidden) as: an empty assign is the leader's probe
    of a voter (every half heartbeat, every quarter while a wait needs the proof), shown as
    "probe" and hidden unless a script says show probe."""
    if kind == "assign" and body is not None and not body["partitions"]:
        return "probe"
    return kind


def render(src: str, dst: str, kind: str, body: dict | None) -> str:
    if body is None:
        return f"{src}->{dst} {kind}"
    return f"{src}->{dst} {kind} e={body['epoch']} {FIELDS[kind](body)}".rstrip()


def slot_text(e) -> str:
    s = e.state.value
    if e.state in HELD:
        s += f" {e.holder}"
    if e.state is Slot.RESERVED:
        s += f" for {e.reserved_for}"
    if e.state in (Slot.WAITING, Slot.RESERVED):
        s += f" until {secs(e.until)}"
    return s


def table_text(table) -> str:
    """Consecutive partitions in the same state as one range: `0-2 owned n2 | 3 free`."""
    groups: list[list] = []
    for p, e in enumerate(table.slots):
        text = slot_text(e)
        if groups and groups[-1][2] == text:
            groups[-1][1] = p
        else:
            groups.append([p, p, text])
    return " | ".join(f"{a}-{b} {t}" if a != b else f"{a} {t}" for a, b, t in groups) or "-"


# ---------------------------------------------------------------------- the network


class Conn:
    """One end of a connection, as the Ring sees it (`peer_addr` is set at the opener's end)."""

    def __init__(self, link: Link, at: str, peer_addr: str | None):
        self.link, self.at, self.peer_addr = link, at, peer_addr

    def close(self):
        self.link.world.close(self.link, self.at)


class Link:
    """A connection `opener` opened to `target`; its `closed` ends send nothing more."""

    def __init__(self, world: World, opener: str, target: str):
        self.world, self.opener, self.target = world, opener, target
        self.ends = {opener: Conn(self, opener, world.addr[target]), target: Conn(self, target, None)}
        self.closed: set[str] = set()

    def other(self, name: str) -> str:
        return self.target if name == self.opener else self.opener


@dataclass
class Item:
    link: Link
    src: str
    kind: str
    body: dict | None
    cell: list | None  # its output line where it was sent, blanked when it is delivered

    @property
    def dst(self) -> str:
        return self.link.other(self.src)


class Shown:
    """A node's `World` for the driver (ringfast/driver.py): everything is shown, and
    messages go to the transcript's network."""

    def __init__(self, world: World, name: str):
        self.w, self.name = world, name
        self.handlers: list = []  # (change, done) of revoke handlers still running

    def send(self, addr, kind, body):
        self.w.send(self.name, self.w.by_addr.get(addr, addr), kind, body)

    def reply(self, conn, kind, body):
        self.w.transmit(conn.link, self.name, kind, body)

    def close(self, conn):
        conn.close()

    def run_revoke(self, change, done):
        until = "" if change.expired_at is None else f", expired at {secs(change.expired_at)}"
        self.w.say(f"{self.name}: revoke {plist(change.partitions)} ({change.reason}{until})")
        self.handlers.append((change, done))

    def notify(self, event, payload):
        if event == ev.PARTITIONS_ASSIGNED:
            self.w.say(f"{self.name}: assigned {holds(payload.tokens.items())}")
        elif event in (ev.MEMBER_JOINED, ev.MEMBER_LEFT):
            self.w.say(f"{self.name}: member {payload.id} {'joined' if event == ev.MEMBER_JOINED else 'left'}")

    def record(self, event, fields):
        if event in ("follower", "candidate", "leader"):  # the role lines of the journal
            leader = f" leader={fields['leader'] or '-'}" if event == "follower" else ""
            self.w.say(f"{self.name}: role {event}{leader} e={fields['epoch']}")


class Disk:
    """The state dir of a node: shows every write; with `kept`, the epoch survives a restart."""

    def __init__(self, world: World, name: str, kept: dict | None):
        self.w, self.name, self.kept = world, name, kept

    def save(self, epoch, vote):
        self.w.say(f"{self.name}: persist e={epoch} vote=" + (f"{vote[1]}@{vote[0]}" if vote else "-"))
        if self.kept is not None:
            self.kept[self.name] = max(epoch, vote[0] if vote else 0, self.kept.get(self.name, 0))
        return True


# ---------------------------------------------------------------------- the world


class World:
    def __init__(self):
        self.now = 0.0
        self.names: list[str] = []
        self.addr: dict[str, str] = {}
        self.by_addr: dict[str, str] = {}
        self.rings: dict[str, Ring] = {}  # running processes
        self.drivers: dict[str, Driver] = {}  # their drivers (ringfast/driver.py), by name
        self.started: Counter = Counter()  # name -> processes started so far
        self.disk: dict[str, int] = {}  # what a node with a state dir persisted (its epoch floor)
        self.links: dict[tuple[str, str], Link] = {}  # open connections by (opener, target)
        self.queue: list[Item] = []
        self.cuts: set[frozenset] = set()
        self.hidden: set[str] = {"probe"}  # (show probe to see them)
        self.counted: Counter = Counter()  # hidden messages in this command's output
        self.out: list[list] = []  # cells: [text or None]
        self.depth = 0
        self.prefix = ""
        self.seq: Counter = Counter()  # hand-written sequence numbers by (kind, src, dst)

    # ------------------------------------------------------------ output

    def say(self, text: str, kind: str | None = None) -> list | None:
        if kind in self.hidden:
            self.counted[kind] += 1
            return None
        cell = [self.prefix + "  " * self.depth + text]
        self.out.append(cell)
        return cell

    def take_output(self) -> list[str]:
        lines = [c[0] for c in self.out if c[0] is not None]
        if self.counted:
            lines.append("(hidden: " + ", ".join(f"{n} {k}" for k, n in sorted(self.counted.items())) + ")")
        self.out, self.counted = [], Counter()
        return lines

    # ------------------------------------------------------------ messages

    def link(self, opener: str, target: str) -> Link:
        link = self.links.get((opener, target))
        if link is None or opener in link.closed:  # (a close it has not heard of yet: reused)
            link = self.links[(opener, target)] = Link(self, opener, target)
        return link

    def send(self, src: str, dst: str, kind: str, body: dict):
        """A Ring sends on its own connection to `dst` (opened now if it has none)."""
        if dst not in self.addr:
            raise ScriptError(f"{src} sent {kind} to an address the cluster does not name: {dst}")
        if dst not in self.rings and self.started[dst]:
            self.say(render(src, dst, kind, body) + " (down)", label(kind, body))  # the connection is refused
            return
        self.transmit(self.link(src, dst), src, kind, body)

    def transmit(self, link: Link, src: str, kind: str, body: dict | None):
        dst = link.other(src)
        text, shown = render(src, dst, kind, body), label(kind, body)
        if src in link.closed:
            self.say(text + " (closed)", shown)
        elif dst not in self.rings:
            self.say(text + (" (down)" if self.started[dst] else ""), shown)  # scripted peer: shown only
        else:
            self.queue.append(Item(link, src, kind, body, self.say(text, shown)))

    def deliver(self, item: Item):
        self.queue.remove(item)
        if item.cell is not None:
            item.cell[0] = None  # shown where it arrives instead
        dst, kind, shown = item.dst, item.kind, label(item.kind, item.body)
        text = render(item.src, dst, kind, item.body)
        if frozenset((item.src, dst)) in self.cuts:
            self.say(text + " (cut)", shown)
            return
        if dst in item.link.closed or dst not in self.rings:
            self.say(text + " (closed)", shown)
            if item.src not in item.link.closed:  # a reset: the sender learns its connection is gone
                item.link.closed.add(item.src)
                self.queue.append(Item(item.link, dst, "close", None, None))
            return
        mark = len(self.out)
        self.out.append([self.prefix + "  " * self.depth + text])
        ring, driver, conn = self.rings[dst], self.drivers[dst], item.link.ends[dst]
        self.depth += 1
        try:
            if kind == "close":
                item.link.closed.add(dst)
                if dst == item.link.opener:
                    driver.connection_lost(self.addr[item.src])
                else:
                    driver.inbound_closed(conn)
            else:
                # through the wire codec, as a real node reads it: a hand-written message
                # missing a field fails here, and the Ring sees the types a socket gives it
                frame = protocol.encode(kind, item.body, ring.cfg.cluster_name)
                (kind, body), = protocol.Decoder(ring.cfg.cluster_name, 1 << 24).feed(frame)
                driver.receive(conn, kind, body, conn.peer_addr)
        finally:
            self.depth -= 1
        if shown in self.hidden and len(self.out) == mark + 1:
            self.out.pop()  # nothing visible came of it
            self.counted[shown] += 1
        self.check()

    def close(self, link: Link, by: str):
        """`by` closes its end: the far end learns it after what `by` sent before."""
        if by in link.closed:
            return
        link.closed.add(by)
        if link.other(by) not in link.closed:
            self.queue.append(Item(link, by, "close", None, None))

    def matching(self, patterns: list[str], kind: str | None = None):
        def match(item):
            if kind is not None and item.kind != kind:
                return False
            for pat in patterns or ["*->*"]:
                src, _, dst = pat.partition("->")
                if src in ("*", item.src) and dst in ("*", item.dst):
                    return True
            return False

        return match

    # ------------------------------------------------------------ checks

    def check(self):
        for name, ring in self.rings.items():
            if ring.role == "leader":
                ring.table.check()  # the partition table's invariants, after every step

    def ring(self, name: str) -> Ring:
        if name not in self.rings:
            raise ScriptError(f"{name} is not running")
        return self.rings[name]

    # ------------------------------------------------------------ commands

    def run(self, line: str) -> list[str]:
        words = shlex.split(line)
        cmd, pos, kw = words[0], [], {}
        for w in words[1:]:
            if "=" in w and "->" not in w:
                k, _, v = w.partition("=")
                kw[k] = v
            else:
                pos.append(w)
        handler = getattr(self, "do_" + cmd.replace("-", "_"), None)
        if handler is None:
            raise ScriptError(f"unknown command {cmd!r}")
        if cmd != "cluster" and not self.names:
            raise ScriptError("the first command must be `cluster`")
        handler(pos, kw)
        return self.take_output()

    def do_cluster(self, pos, kw):
        if self.names:
            raise ScriptError("one cluster per transcript")
        self.names = [n for n in pos if n != "leader-owns"]
        self.addr = {n: f"{n}:7000" for n in self.names}
        self.by_addr = {a: n for n, a in self.addr.items()}
        voters = kw.get("voters", ",".join(self.names)).split(",")
        self.settings = dict(
            seeds=",".join(self.addr[v] for v in voters), num_partitions=int(kw.get("partitions", 6)),
            heartbeat_interval=float(kw.get("heartbeat", 0.125)) * 1000, failure_timeout=float(kw.get("lease", 1)) * 1000,
            leader_owns_partitions="leader-owns" in pos, monitoring_port="off")
        for key, name in (("grace", "rejoin_grace"), ("handler", "handler_timeout")):
            if key in kw:
                self.settings[name] = float(kw[key])
        if "quorum" in kw:
            self.settings["quorum"] = int(kw["quorum"])
        self.step = float(kw.get("step", 0.125))
        cfg = self.config(self.names[0], self.names[0])
        self.fp = fingerprint(cfg.num_partitions, cfg.quorum_size(), cfg.seeds, cfg.failure_timeout)
        margin = Ring(cfg, None, lambda: 0.0, 0, random.Random(0)).margin
        self.say(f"voters {','.join(voters)} (quorum {cfg.quorum_size()}), {cfg.num_partitions} partitions, "
                 f"heartbeat {cfg.heartbeat_interval:g}s, lease {cfg.failure_timeout:g}s (+{margin:.3f}s margin), "
                 f"rejoin grace {cfg.rejoin_grace:g}s, handler timeout {cfg.handler_timeout:g}s"
                 + (", the leader owns partitions" if cfg.leader_owns_partitions else ""))

    def config(self, name: str, node_id: str) -> Config:
        return Config.load({}, node_id=node_id, host=name, port=7000, **self.settings)

    def do_start(self, pos, kw):
        for name in pos:
            if name == "dir":
                continue
            if name not in self.addr or name in self.rings:
                raise ScriptError(f"cannot start {name}: not in the cluster, or running")
            disk = self.disk if "dir" in pos else None
            floor = int(kw.get("floor", 1000))
            fresh = disk is not None and name not in disk
            if disk is not None and not fresh:
                floor = max(floor, disk[name])
            seed = int(kw.get("seed", 100 * self.started[name] + self.names.index(name) + 1))
            self.started[name] += 1
            ring = Ring(self.config(name, kw.get("id", name)), Disk(self, name, disk), lambda: self.now, floor,
                        rng=random.Random(seed), wall=lambda: WALL, fresh=fresh)
            self.rings[name] = ring
            self.drivers[name] = Driver(ring, Shown(self, name))
            self.say(f"{name}: started as {ring.id}, epoch floor {floor}" + (", fresh" if fresh else ""))

    def do_stop(self, pos, kw):
        for name in pos:
            self.ring(name)
            del self.rings[name], self.drivers[name]
            for link in [lk for lk in self.links.values() if name in (lk.opener, lk.target)]:
                self.close(link, name)
            lost = [i for i in self.queue if i.dst == name]
            for item in lost:
                self.queue.remove(item)
            self.say(f"{name}: stopped" + (f" ({len(lost)} in flight to it lost)" if lost else ""))

    def do_leave(self, pos, kw):
        self.ring(pos[0])
        self.drivers[pos[0]].leave(restart="restart" in pos[1:])
        self.check()

    def do_advance(self, pos, kw):
        self.now += float(pos[0])
        self.say(f"t={secs(self.now)}")

    def do_tick(self, pos, kw):
        for name in pos or list(self.rings):
            self.ring(name)
            self.drivers[name].tick()
            self.check()

    def do_run(self, pos, kw):
        end, step = self.now + float(pos[0]), float(kw.get("step", self.step))
        try:
            while self.now + step <= end + 1e-9:
                self.now += step
                self.prefix = f"{secs(self.now)} "
                for name in [n for n in self.names if n in self.rings]:
                    self.drivers[name].tick()
                    self.check()
                self.deliver_all(self.matching([]))
        finally:
            self.prefix = ""

    def deliver_all(self, match, limit: int | None = None):
        done = steps = 0
        while limit is None or done < limit:
            item = next((i for i in self.queue if match(i)), None)
            if item is None:
                return
            self.deliver(item)
            done += label(item.kind, item.body) not in self.hidden  # n counts the messages shown
            steps += 1
            if steps > 100_000:
                raise ScriptError("messages never stop: a loop?")

    def do_deliver(self, pos, kw):
        self.deliver_all(self.matching(pos), int(kw["n"]) if "n" in kw else None)

    def do_drop(self, pos, kw):
        for item in [i for i in self.queue if self.matching(pos, kw.get("kind"))(i)]:
            self.queue.remove(item)
            if item.cell is not None:
                item.cell[0] = None
            self.say("dropped " + render(item.src, item.dst, item.kind, item.body))

    def do_msg(self, pos, kw):
        src, _, dst = pos[0].partition("->")
        kind = pos[1]
        ring = self.ring(dst)
        opener, target = (dst, src) if kind in REPLIES else (src, dst)
        link = self.link(opener, target)
        body = self.defaults(src, dst, kind, ring)
        body.update({("epoch" if k == "e" else k): field(kind, k, v, self) for k, v in kw.items()})
        if body.get("leader") and "leader_addr" not in kw:
            body["leader_addr"] = self.addr.get(body["leader"])
        self.queue.insert(0, item := Item(link, src, kind, body, None))
        self.deliver(item)
        if src in self.rings:  # a running sender gets the answers on that connection at once
            self.deliver_all(lambda i: i.link is link and i.src == dst)

    def defaults(self, src, dst, kind, ring) -> dict:
        sender = self.rings.get(src)
        me = self.config(src, src)
        key = (kind, src, dst)
        self.seq[key] += 1
        n = self.seq[key]
        body = {"from": sender.id if sender else src, "epoch": ring.epoch, "cfg": self.fp,
                "inc": sender.inc if sender else 1, "addr": self.addr[src], "priority": me.priority,
                "wall": int(WALL * 1000), "voters": list(me.seeds)}
        body.update({
            "hello": {},
            "leader_is": {"leader": src},
            "vote_req": {"pre": False},
            "vote": {"granted": True, "pre": ring.prevote, "fresh": False, "grants": 0},
            "heartbeat": {"seq": n, "acked": n - 1, "holdings": [], "seen": 0, "mv": 0},
            "heartbeat_ack": {"seq": ring.hb_seq, "mv": 0, "members": None, "lease": int(ring.L * 1000)},
            "assign": {"mseq": n, "partitions": []},
            "revoke": {"mseq": n, "partitions": []},
            "revoked": {"mseq": 0, "partitions": []},
            "leave": {"restart": False},
            "refused": {"reason": "settings_mismatch", "detail": ""},
        }[kind])
        return body

    def do_finish(self, pos, kw):
        self.ring(pos[0])
        shown = self.drivers[pos[0]].world
        n = int(kw.get("n", len(shown.handlers)))
        if not shown.handlers:
            raise ScriptError(f"{pos[0]} runs no revoke handler")
        for change, done in shown.handlers[:n]:
            shown.handlers.remove((change, done))
            done("timeout" not in pos[1:])
            self.check()

    def do_disconnect(self, pos, kw):
        opener, target = pos
        link = self.links.get((opener, target))
        if link is None or opener in link.closed:  # (a close it has not heard of yet: reused)
            raise ScriptError(f"no open connection from {opener} to {target}")
        link.closed.update((opener, target))
        self.queue = [i for i in self.queue if i.link is not link]
        if opener in self.rings:
            self.drivers[opener].connection_lost(self.addr[target])
        if target in self.rings:
            self.drivers[target].inbound_closed(link.ends[target])
        self.check()

    def do_cut(self, pos, kw):
        self.cuts.add(frozenset(pos))

    def do_heal(self, pos, kw):
        self.cuts.clear()

    def do_hide(self, pos, kw):
        self.hidden.update(pos)

    def do_show(self, pos, kw):
        self.hidden.difference_update(pos)

    def do_net(self, pos, kw):
        for item in self.queue:
            self.say(render(item.src, item.dst, item.kind, item.body))

    def do_state(self, pos, kw):
        for name in pos or self.names:
            ring = self.rings.get(name)
            if ring is None:
                self.say(f"{name}: " + ("stopped" if self.started[name] else "scripted"))
                continue
            head = f"{name}: {ring.role}"
            if ring.role == "follower":
                head += f" leader={ring.leader or '-'}"
            head += f" e={ring.epoch}"
            if ring.voted:
                head += f" voted={ring.voted[1]}@{ring.voted[0]}"
            if ring.role != "leader":
                head += f" lease={secs(ring.lease_expiry) if ring.lease_expiry else '-'}"
            head += f" held={holds(ring.held.items())}"
            if ring.revoke_in_progress:
                head += f" revoking={plist(ring.revoke_in_progress)}"
            if self.drivers[name].world.handlers:
                head += f" handlers={len(self.drivers[name].world.handlers)}"
            if ring.stopping:
                head += " stopping"
            self.say(head)
            if ring.role == "leader":
                members = [m.id + ("" if self.by_addr.get(m.addr) == m.id else f"(at {self.by_addr.get(m.addr, m.addr)})")
                           + ("(restarting)" if m.restarting else "(leaving)" if m.leaving else "")
                           for m in sorted(ring.members.values(), key=lambda m: m.id)]
                self.say(f"  members: {' '.join(members) or '-'}")
                self.say(f"  table: {table_text(ring.table)}")


def field(kind: str, key: str, text: str, world: World):
    """A hand-written field value: true/false, none, integers, lists, holdings P@E.G."""
    if key == "holdings" or (kind == "assign" and key == "partitions"):
        pairs = []
        for item in filter(None, text.split(",")):
            p, _, t = item.partition("@")
            e, _, g = t.partition(".")
            pairs.append([int(p), token_of(int(e), int(g)) if g else int(t)])
        return pairs
    if key == "partitions":
        return [int(p) for p in filter(None, text.split(","))]
    if key in ("addr", "leader_addr") and text in world.addr:
        return world.addr[text]
    if text in ("true", "false"):
        return text == "true"
    if text in ("none", "-"):
        return None
    try:
        return int(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------- files


def parse(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, command, expected output) of every block."""
    lines, blocks, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != SEP:
            raise ScriptError(f"line {i + 1}: a command must be followed by a line {SEP!r}")
        j = i + 2
        while j < len(lines) and lines[j].strip():
            j += 1
        blocks.append((i + 1, line, lines[i + 2:j]))
        i = j
    return blocks


def execute(path: Path) -> tuple[str, str]:
    """Run a transcript: (its text, the text with every output as the runner produced it)."""
    text = path.read_text()
    lines = text.split("\n")
    world, out, last = World(), [], 0
    for lineno, command, expected in parse(text):
        out += lines[last:lineno]  # comments, blank lines and the command itself
        try:
            got = world.run(command)
        except Exception as e:
            raise ScriptError(f"{path.name}:{lineno}: {command}: {type(e).__name__}: {e}") from e
        out += [SEP, *got]
        last = lineno + 1 + len(expected)
    out += lines[last:]
    return text, "\n".join(out)


def check(path: Path) -> None:
    """Fail with a unified diff if a transcript's outputs differ from what the runner gives
    (with RINGFAST_REWRITE_TRANSCRIPTS=1, write what it gives instead)."""
    text, actual = execute(path)
    if actual == text:
        return
    if os.environ.get(REWRITE) == "1":
        path.write_text(actual)
        return
    diff = "".join(difflib.unified_diff(text.splitlines(True), actual.splitlines(True),
                                        f"{path.name} (expected)", f"{path.name} (actual)"))
    raise AssertionError(f"{path} differs (rewrite with {REWRITE}=1):\n{diff}")


if __name__ == "__main__":
    os.environ[REWRITE] = "1"
    for arg in sys.argv[1:]:
        check(Path(arg))
