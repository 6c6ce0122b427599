"""What the dev-cluster shows: the nodes' journal records turned into events and a picture of
the ring, drawn as a live view redrawn in place (stdout a terminal) or as plain event lines."""

from __future__ import annotations

import re
import shutil
import time

from .devnode import DevNode
from .formatting import format_ranges
from .keyboard import KEYS
from .processes import HOST, MONITORING_OFFSET

EVENTS_SHOWN = 10
COLORS = ["32", "33", "34", "35", "36", "31", "92", "93", "94", "95", "96", "91"]  # one per node, in turn

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _visible_len(s: str) -> int:
    return len(_ANSI.sub("", s))


def _truncate(s: str, width: int) -> str:
    """Cut s to `width` visible characters, keeping (and closing) ANSI colour codes."""
    if _visible_len(s) <= width:
        return s
    out, n, i = [], 0, 0
    while i < len(s) and n < width:
        m = _ANSI.match(s, i)
        if m:
            out.append(m.group())
            i = m.end()
            continue
        out.append(s[i])
        n += 1
        i += 1
    return "".join(out) + ("\x1b[0m" if "\x1b[" in s else "")


def _unowned(owners) -> list[int]:
    """The partitions no running node owns (no owner, or only a paused one)."""
    return [p for p, o in enumerate(owners) if o is None or o.state == "paused"]


class ViewMixin:
    """DevCluster's output (uses its args, out, n, num_partitions, base_port, dir, nodes,
    events, started_at, tty_out, _dirty, _last_draw, _complete, _pending, _digits and
    _message)."""

    # -- events and output

    def event(self, text: str):
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        self.events.append(f"{stamp} {text}")
        self._dirty = True
        if not self.tty_out:
            self._print(f"{stamp} {text}")

    def _write(self, text: str):
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # a closed pipe or terminal: keep stopping the nodes
            pass

    def _print(self, text: str):
        self._write(text + "\n")

    # -- the journals

    def read_journals(self):
        """Apply every node's new journal records, all nodes' merged in time order."""
        records = []
        for node in self.nodes:
            for rec in node.read_journal():
                records.append((rec.get("t") if isinstance(rec.get("t"), (int, float)) else 0, node, rec))
        records.sort(key=lambda r: r[0])
        for _, node, rec in records:
            self.apply(node, rec)

    def apply(self, node: DevNode, rec: dict):
        ev = rec.get("event")
        epoch = rec.get("epoch")
        parts = rec.get("partitions") or []
        if isinstance(epoch, int) and epoch:
            node.epoch = epoch
        if ev in ("leader", "follower", "candidate"):
            node.role, node.leader = ev, rec.get("leader")
            if ev == "leader":
                self.event(f"{node.id} became leader (epoch {epoch})")
            elif ev == "candidate":
                self.event(f"{node.id} is a candidate")
            elif node.leader:
                self.event(f"{node.id} following leader {node.leader} (epoch {epoch})")
            else:
                self.event(f"{node.id} lost its leader (epoch {epoch})")
        elif ev == "assigned":
            node.partitions |= set(parts)
            self.event(f"{node.id} assigned [{format_ranges(parts)}] (epoch {epoch})")
        elif ev == "revoked":
            node.partitions -= set(parts)
            self.event(f"{node.id} revoked [{format_ranges(parts)}] ({rec.get('reason')}, epoch {epoch})")

    # -- the ring

    def ring(self):
        """(owner label per partition, leader node or None, number owned by a running node)."""
        owners = []
        for p in range(self.num_partitions):
            running = [n for n in self.nodes if n.state in ("running", "stopping") and p in n.partitions]
            paused = [n for n in self.nodes if n.state == "paused" and p in n.partitions]
            if running:
                owners.append(running[0])
            elif paused:
                owners.append(paused[0])
            else:
                owners.append(None)
        leaders = [n for n in self.nodes if n.alive and n.role == "leader"]
        leader = max(leaders, key=lambda n: n.epoch or 0) if leaders else None
        owned = sum(1 for o in owners if o is not None and o.state != "paused")
        return owners, leader, owned

    def _is_complete(self, leader, owned) -> bool:
        return leader is not None and leader.state != "paused" and owned == self.num_partitions

    def complete(self) -> bool:
        _, leader, owned = self.ring()
        return self._is_complete(leader, owned)

    def _announce(self):
        """Plain mode: one line each time the ring becomes complete (or its owners change while
        complete), and one when it stops being complete."""
        owners, leader, owned = self.ring()
        done = self._is_complete(leader, owned)
        key = (leader.id, tuple(o.id for o in owners)) if done else None
        if key == self._complete:
            return
        was, self._complete = self._complete, key
        if done:
            by: dict = {}
            for p, o in enumerate(owners):
                by.setdefault(o.id, []).append(p)
            shares = " ".join(f"{nid}[{format_ranges(ps)}]" for nid, ps in sorted(by.items()))
            self._print(f"ring complete: leader {leader.id} (epoch {leader.epoch}), "
                        f"all {self.num_partitions} partitions owned: {shares}")
        elif was is not None:
            missing = _unowned(owners)
            why = "no leader" if leader is None or leader.state == "paused" else f"not owned: [{format_ranges(missing)}]"
            self._print(f"ring incomplete: {why}")

    # -- drawing

    def _color(self, node: DevNode | None, text: str) -> str:
        if node is None:
            return f"\x1b[2m{text}\x1b[0m"
        return f"\x1b[{COLORS[(node.index - 1) % len(COLORS)]}m{text}\x1b[0m"

    def view(self, width: int = 100, height: int = 40, color: bool = False, keys: bool = True) -> list[str]:
        a = self.args
        c = (lambda n, t: self._color(n, t)) if color else (lambda n, t: t)
        up = int(time.monotonic() - self.started_at)
        lines = [
            f"ringfast dev-cluster: {self.n} nodes, {self.num_partitions} partitions, "
            f"heartbeat {a.heartbeat_ms} ms, check {a.check_ms} ms, up {up // 60}:{up % 60:02d}",
            f"dir {self.dir}   elsewhere: ringfast dev-cluster kill n2 | ringfast status {HOST}:{self.base_port + MONITORING_OFFSET}",
            self._engine_line(),
            "",
            f"{'NODE':<5} {'PID':>7}  {'STATE':<8} {'ROLE':<9} {'EPOCH':<11} {'PORT':>5} {'HTTP':>5}  PARTITIONS",
        ]
        for n in self.nodes:
            port = n.port if self.engine_endpoints is None else "-"  # with an engine: no cluster port
            row = (f"{n.id:<5} {n.pid or '-':>7}  {n.state:<8} {n.role or '-':<9} {n.epoch or '-':<11} "
                   f"{port:>5} {n.monitoring_port:>5}  ")
            parts = format_ranges(n.partitions) if n.alive else "-"
            if n.state == "dead" and n.exit_status:
                parts += f"   ({n.exit_status})"
            lines.append(c(n, row) + parts)
        owners, leader, owned = self.ring()
        lines.append("")
        if leader is None:
            summary = "no leader"
        else:
            summary = f"leader {leader.id}, epoch {leader.epoch}" + (" (paused)" if leader.state == "paused" else "")
        missing = _unowned(owners)
        if missing:
            summary += f"; {owned}/{self.num_partitions} partitions owned, not owned: {format_ranges(missing)}"
        else:
            summary += f"; all {self.num_partitions} partitions owned"
        lines.append(summary)
        cells = []
        for p, o in enumerate(owners):
            label = "--" if o is None else o.id + ("*" if o.state == "paused" else "")
            cells.append((f"{p}:{label}", o))
        row, row_len, first = "ring  ", 6, True
        for text, o in cells:
            if row_len + len(text) + 1 > width - 1 and not first:
                lines.append(row)
                row, row_len = "      ", 6
            row += c(o, text) + " "
            row_len += len(text) + 1
            first = False
        lines.append(row)
        if any(o is not None and o.state == "paused" for o in owners):
            lines.append("      (* held by a paused node)")
        footer = [
            "",
            "keys: k N kill -9 | p N pause/resume | r N restart | s N stop | q quit   (N: node number, e.g. k 2)"
            + ("   p e: pause/resume the engine" if self.engine is not None else ""),
        ]
        if self._pending:
            verb = KEYS[self._pending][1]
            footer.append(f"> {verb} node number: {self._digits}_   (Enter: go, Esc: cancel)")
        else:
            footer.append(f"> {self._message}" if self._message else "")
        if not keys:
            footer = []
        room = max(3, min(EVENTS_SHOWN, height - len(lines) - len(footer) - 3))
        lines += ["", "events"] + list(self.events)[-room:]
        return [_truncate(ln, width - 1) for ln in lines + footer]

    def _engine_line(self) -> str:
        info = self.engine_info()
        if info is None:
            return "backend builtin: the nodes elect the leader among themselves"
        where = f"pid {info['pid']}, {info['state']}" if info["pid"] else "not started by the dev-cluster"
        return f"backend {info['backend']}: {info['endpoints']} ({where})"

    def draw(self):
        size = shutil.get_terminal_size((100, 40))
        lines = self.view(size.columns, size.lines, color=True)
        self._write("\x1b[H" + "".join(ln + "\x1b[K\n" for ln in lines[: max(1, size.lines - 1)]) + "\x1b[J")
        self._dirty = False
        self._last_draw = time.monotonic()
