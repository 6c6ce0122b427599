"""A stand-in for `ringfast node`, for testing the cluster harness itself (stdlib only).

It accepts the same flags and environment variables as the real node, fails on bad
configuration the same way (exit 2, one line on stderr), serves the same /status and
/partitions JSON, leaves on SIGTERM/SIGINT with exit code 0, and behaves like a correct
cluster: the nodes share one state file (in the working directory, under an exclusive file
lock) instead of talking over the network, so every answer is computed from one
linearizable view. Membership = registered processes that are still alive (not exited, not
zombies; a SIGSTOPped one stays a member). On every change of membership the epoch grows, the
best priority (lowest, then id) leads, and the followers get a sticky balanced assignment;
a partition given to a new owner gets a new token (epoch * 1_000_000 + partition).

Harness test knobs (environment): STANDIN_EXIT_CODE makes SIGTERM exit with that code;
STANDIN_IGNORE_TERM=1 ignores SIGTERM; STANDIN_STALE_MS=N makes the node go on reporting a
partition (with its old token) for N ms after losing it: a real double ownership, which the
OwnershipMonitor must catch.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = ".standin-state.json"
LOCK = ".standin-state.lock"


def fail(name: str, value: object, why: str) -> None:
    sys.stderr.write(f"ringfast-standin: invalid {name}={value!r}: {why}\n")
    sys.exit(2)


def config() -> dict:
    ap = argparse.ArgumentParser(prog="standin_node")
    for flag in ("--id", "--host", "--port", "--seeds", "--monitoring-port", "--partitions",
                 "--heartbeat-ms", "--check-ms", "--priority", "--quorum", "--journal", "--log-level",
                 "--exit-mode"):
        ap.add_argument(flag)
    a = ap.parse_args()
    env = os.environ

    def pick(flag_value, env_name, flag, default=None):
        if flag_value is not None:
            return flag_value, flag
        if env_name in env:
            return env[env_name], env_name
        return default, flag

    def as_int(value, name, lo=1, hi=2**31 - 1):
        try:
            v = int(value)
        except (TypeError, ValueError):
            fail(name, value, "not an integer")
        if not lo <= v <= hi:
            fail(name, value, f"must be in [{lo}, {hi}]")
        return v

    node_id, _ = pick(a.id, "NODE_ID", "--id")
    host, _ = pick(a.host, "HOST", "--host", "127.0.0.1")
    port_v, port_name = pick(a.port, "PORT", "--port")
    seeds_v, seeds_name = pick(a.seeds, "SEED_NODES", "--seeds", "")
    mport_v, mport_name = pick(a.monitoring_port, "MONITORING_PORT", "--monitoring-port", "9000")
    parts_v, parts_name = pick(a.partitions, "NUM_PARTITIONS", "--partitions", "10")
    prio_v, prio_name = pick(a.priority, "PRIORITY", "--priority")
    port = as_int(port_v, port_name, 1, 65535)
    mport = as_int(mport_v, mport_name, 1, 65535)
    parts = as_int(parts_v, parts_name)
    seeds = [s for s in seeds_v.split(",") if s]
    for s in seeds:
        h, sep, p = s.rpartition(":")
        if not sep or not h or not p.isdigit():
            fail(seeds_name, seeds_v, f"seed {s!r} is not host:port")
    address = f"{host}:{port}"
    if prio_v is not None:
        prio = as_int(prio_v, prio_name, 0)
    else:
        prio = seeds.index(address) if address in seeds else len(seeds)
    node_id = node_id or address
    return dict(id=node_id, host=host, port=port, mport=mport, partitions=parts, priority=prio,
                address=address, port_name=port_name, mport_name=mport_name)


def log(cfg: dict, msg: str) -> None:
    sys.stderr.write(f"standin {cfg['id']}: {msg}\n")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


class Shared:
    """The shared state file, read-modify-written under an exclusive lock."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.lock_fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o644)

    def update(self, register: bool | None = None) -> dict:
        """register=True: (re)join as this pid; False: leave; None: just refresh the view."""
        cfg = self.cfg
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            try:
                with open(STATE) as f:
                    st = json.load(f)
            except FileNotFoundError:
                st = {"epoch": 0, "members": {}, "key": [], "leader": None, "owners": {}, "tokens": {}}
            members = st["members"]
            if register is True:
                members[cfg["id"]] = {"pid": os.getpid(), "address": cfg["address"], "priority": cfg["priority"]}
            elif register is False and members.get(cfg["id"], {}).get("pid") == os.getpid():
                del members[cfg["id"]]
            for mid in [m for m, info in members.items() if not alive(info["pid"])]:
                del members[mid]
            key = sorted([m, info["pid"]] for m, info in members.items())
            if key != st["key"]:
                self._reassign(st)
                st["key"] = key
                tmp = STATE + f".{os.getpid()}"
                with open(tmp, "w") as f:
                    json.dump(st, f)
                os.replace(tmp, STATE)
            return st
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def _reassign(self, st: dict) -> None:
        n = self.cfg["partitions"]
        members = st["members"]
        st["epoch"] += 1
        ranked = sorted(members, key=lambda m: (members[m]["priority"], m))
        st["leader"] = ranked[0] if ranked else None
        followers = sorted(ranked[1:])
        owners = {int(p): o for p, o in st["owners"].items() if o in followers}
        tokens = {int(p): t for p, t in st["tokens"].items()}
        new_owners: dict[int, str] = {}
        if followers:
            base, extra = divmod(n, len(followers))
            held = {f: sorted(p for p, o in owners.items() if o == f) for f in followers}
            order = sorted(followers, key=lambda f: (-len(held[f]), f))
            cap = {f: base + (1 if i < extra else 0) for i, f in enumerate(order)}
            for f in followers:
                for p in held[f][: cap[f]]:
                    new_owners[p] = f
            for p in range(n):
                if p not in new_owners:
                    f = min(followers, key=lambda f: (sum(1 for o in new_owners.values() if o == f) - cap[f], f))
                    new_owners[p] = f
        for p, f in new_owners.items():
            if owners.get(p) != f or p not in tokens:
                tokens[p] = st["epoch"] * 1_000_000 + p
        st["owners"] = {str(p): f for p, f in new_owners.items()}
        st["tokens"] = {str(p): tokens[p] for p in new_owners}


def main() -> int:
    cfg = config()
    try:
        cluster_sock = socket.create_server((cfg["host"], cfg["port"]))
    except OSError as e:
        fail(cfg["port_name"], cfg["port"], f"cannot listen: {e.strerror}")
    shared = Shared(cfg)
    stale_s = int(os.environ.get("STANDIN_STALE_MS", "0")) / 1000
    stale_lock = threading.Lock()
    last_reported: dict[int, int] = {}
    stale: dict[int, tuple[int, float]] = {}  # partition -> (token, report until)

    def reported(mine: list[int], tokens: dict[int, int]) -> dict[int, int]:
        """{partition: token} to report: what this node holds, plus (buggy knob) what it lost
        less than STANDIN_STALE_MS ago."""
        if not stale_s:
            return dict(tokens)
        now = time.monotonic()
        with stale_lock:
            for p, tok in last_reported.items():
                if p not in tokens and p not in stale:
                    stale[p] = (tok, now + stale_s)
            for p in [p for p, (_, until) in stale.items() if until <= now or p in tokens]:
                del stale[p]
            out = dict(tokens)
            out.update({p: tok for p, (tok, _) in stale.items()})
            last_reported.clear()
            last_reported.update(tokens)
            return out

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            st = shared.update()
            me = cfg["id"]
            role = "leader" if st["leader"] == me else "follower"
            mine = sorted(int(p) for p, o in st["owners"].items() if o == me)
            if self.path == "/status":
                body = {
                    "node": {"id": me, "address": cfg["address"], "priority": cfg["priority"], "role": role},
                    "leader": st["leader"],
                    "epoch": st["epoch"],
                    "num_partitions": cfg["partitions"],
                    "members": [
                        {"id": m, "address": info["address"], "priority": info["priority"],
                         "role": "leader" if st["leader"] == m else "follower",
                         "partitions": sorted(int(p) for p, o in st["owners"].items() if o == m)}
                        for m, info in sorted(st["members"].items())
                    ],
                }
            elif self.path == "/partitions":
                held = reported(mine, {p: st["tokens"][str(p)] for p in mine})
                body = {"node": me, "epoch": st["epoch"], "partitions": sorted(held),
                        "tokens": {str(p): t for p, t in held.items()}}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    try:
        http = ThreadingHTTPServer(("127.0.0.1", cfg["mport"]), Handler)
    except OSError as e:
        fail(cfg["mport_name"], cfg["mport"], f"cannot listen: {e.strerror}")
    http.daemon_threads = True
    done = threading.Event()
    if os.environ.get("STANDIN_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    st = shared.update(register=True)
    log(cfg, f"joined: epoch {st['epoch']}, leader {st['leader']}")
    threading.Thread(target=http.serve_forever, daemon=True).start()
    while not done.wait(0.05):
        pass
    st = shared.update(register=False)
    log(cfg, f"left: epoch {st['epoch']}, leader {st['leader']}")
    http.shutdown()
    cluster_sock.close()
    return int(os.environ.get("STANDIN_EXIT_CODE", "0"))


if __name__ == "__main__":
    sys.exit(main())
