"""Names that move: three hosts in network namespaces that know each other only by name.

Each host resolves the others through its own hosts file (`ip netns exec` mounts
/etc/netns/<ns>/hosts over /etc/hosts), so a test can do what DNS does in Kubernetes: a
voter comes back with a new IP under its old name, or a name appears only after the node that
needs it has started. The seeds are names (`n0.ring.test:7000`...), never IPs.

- every voter, one after the other, restarts with a new address: the ring keeps its quorum,
  a follower that comes back within the rejoin grace gets exactly its partitions back, and
  the journals show no partition held twice;
- a node started before its peers' names resolve keeps trying (counted in its metrics) and
  joins once they do;
- `HOST` unset with seeds elsewhere: each node listens on the address that routes to the
  seeds and finds its own seed entry; with seeds that do not resolve, it stops with status 2
  and the line the docs give.

Slow (real processes, many seconds each): run with RINGFAST_MULTIHOST_NAMES=1, as `.ci/run`
does after the main test command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))

from journal import Journals, read_lines  # noqa: E402
from netns import Hosts, available  # noqa: E402
from support import wait_for  # noqa: E402

from ringfast.clock import now  # noqa: E402

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("RINGFAST_MULTIHOST_NAMES"), reason="slow: set RINGFAST_MULTIHOST_NAMES=1"),
]

P = 9
PORT, MON = 7000, 9100
HB_MS, CHECK_MS = 100, 500
NAMES = [f"n{i}.ring.test" for i in range(3)]
SEEDS = ",".join(f"{n}:{PORT}" for n in NAMES)


class Ring:
    """Three hosts, one `ringfast node` each (id h<i>), seeds by name."""

    def __init__(self, tmp_path):
        self.h = Hosts(3, net=os.getpid() % 200)
        self.dir = tmp_path
        self.procs: dict[int, subprocess.Popen] = {}
        self.incarnation = [0, 0, 0]

    def records(self) -> dict[str, str]:
        return dict(zip(NAMES, self.h.ips))

    def publish(self, hosts=(0, 1, 2), records=None):
        for i in hosts:
            self.h.write_hosts(i, self.records() if records is None else records)

    def start(self, i, host=True, extra=()):
        self.incarnation[i] += 1
        with open(self.dir / f"h{i}.jsonl", "a") as f:  # a new process: a new incarnation for the checker
            f.write(json.dumps({"t": now(), "node": f"h{i}", "event": "harness", "action": "start",
                                "incarnation": self.incarnation[i]}) + "\n")
        cmd = [sys.executable, "-m", "ringfast", "node", "--id", f"h{i}", "--port", str(PORT), "--seeds", SEEDS,
               "--partitions", str(P), "--monitoring-port", str(MON), "--heartbeat-ms", str(HB_MS),
               "--check-ms", str(CHECK_MS), "--journal", str(self.dir / f"h{i}.jsonl"), "--exit-mode", "restart",
               *(["--host", self.h.ips[i]] if host else []), *extra]
        env = {**os.environ, "RINGFAST_REJOIN_GRACE": "15"}  # a process start under load takes seconds
        log = open(self.dir / f"h{i}.log", "a")
        self.procs[i] = subprocess.Popen(self.h.exec_prefix(i) + cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def stop(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"h{i} did not stop within 20 s of SIGTERM")

    def close(self):
        for p in self.procs.values():  # every process by its pid
            p.kill()
            p.wait()
        self.h.close()

    def get(self, i, path):
        try:
            with urllib.request.urlopen(f"http://{self.h.ips[i]}:{MON}{path}", timeout=1) as r:
                return r.read().decode()
        except OSError:
            return None

    def status(self, i):
        text = self.get(i, "/status")
        return json.loads(text) if text else None

    def owned_by(self, among):
        """{id: partitions} with leader and epoch, if the nodes `among` agree on one leader
        among them that gives every partition to exactly one of its followers, else None."""
        views = [self.status(i) for i in among]
        if any(v is None for v in views) or len({(v["leader"], v["epoch"]) for v in views}) != 1:
            return None
        leader = views[0]["leader"]
        ids = {f"h{i}" for i in among}
        lv = next((v for v in views if v["node"]["id"] == leader), None)
        if lv is None:
            return None
        members = {m["id"]: m["partitions"] for m in lv["members"]}
        if set(members) != ids or members[leader] or sorted(p for ps in members.values() for p in ps) != list(range(P)):
            return None
        return {"leader": leader, "epoch": lv["epoch"], "members": members,
                "addresses": {m["id"]: m["address"] for m in lv["members"]}}

    def journals(self):
        recs = {f"h{i}": read_lines(self.dir / f"h{i}.jsonl") for i in range(3)}
        return Journals(recs, killed_hold=(CHECK_MS - 2 * HB_MS) / 1000, num_partitions=P)

    def log(self, i):
        return (self.dir / f"h{i}.log").read_text()


@pytest.fixture
def ring(tmp_path):
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"multi-host tests need network namespaces: {why}")
        pytest.skip(f"multi-host tests need network namespaces: {why}")
    r = Ring(tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_every_voter_comes_back_with_a_new_address_and_the_ring_keeps_its_quorum(ring):
    original = list(ring.h.ips)
    ring.publish()
    for i in range(3):
        ring.start(i)
    first = wait_for(lambda: ring.owned_by([0, 1, 2]), 30, what="three hosts to settle")
    assert first["addresses"] == {f"h{i}": f"{NAMES[i]}:{PORT}" for i in range(3)}  # known by name
    leader = int(first["leader"][1:])
    order = [i for i in range(3) if i != leader] + [leader]  # two followers, then the leader
    for round_, victim in enumerate(order):
        before = wait_for(lambda: ring.owned_by([0, 1, 2]), 30, what="a settled ring before the move")
        ring.stop(victim)
        ring.h.readdress(victim, f"10.213.{os.getpid() % 200}.{20 + 10 * round_ + victim}")
        ring.publish()  # every host's records updated, as DNS would be
        ring.start(victim, host=True)
        after = wait_for(lambda: ring.owned_by([0, 1, 2]), 40, what=f"h{victim} back at its new address")
        if f"h{victim}" != before["leader"]:
            # back within the rejoin grace: nothing moved, the same leader kept its term
            assert after["members"] == before["members"], (before, after)
            assert (after["leader"], after["epoch"]) == (before["leader"], before["epoch"])
        else:
            # a new term: the leader's restart is an election, and with a 500 ms lease the
            # followers' leases may run out meanwhile (then their partitions are reassigned)
            assert after["epoch"] > before["epoch"] and after["leader"] != before["leader"]
    assert not set(ring.h.ips) & set(original)  # every voter moved, and all three still vote
    ring.journals().assert_safe()


def test_a_node_started_before_its_peers_names_resolve_waits_and_joins(ring):
    ring.publish(hosts=(1, 2))
    ring.publish(hosts=(0,), records={NAMES[0]: ring.h.ips[0]})  # h0 knows only itself
    for i in range(3):
        ring.start(i)
    wait_for(lambda: ring.owned_by([1, 2]), 30, what="the two that resolve each other to form a ring")

    def failures():
        text = ring.get(0, "/metrics") or ""
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("ringfast_peer_resolve_failures_total{"))

    wait_for(lambda: failures() >= 5, 20, what="h0 to keep trying the names it cannot resolve")
    assert ring.procs[0].poll() is None, ring.log(0)  # not fatal
    said = ring.log(0).count("cannot resolve")
    assert 1 <= said <= 4, ring.log(0)  # once per peer name (and per 30 s), not per attempt
    ring.publish(hosts=(0,))  # the records appear
    wait_for(lambda: ring.owned_by([0, 1, 2]), 30, what="h0 to join once the names resolve")
    ring.journals().assert_safe()


def test_host_unset_listens_where_the_seeds_are_or_stops_with_the_documented_line(ring):
    ring.publish()
    for i in range(3):
        ring.start(i, host=False)
    settled = wait_for(lambda: ring.owned_by([0, 1, 2]), 30, what="three hosts with HOST unset to settle")
    assert settled["addresses"] == {f"h{i}": f"{NAMES[i]}:{PORT}" for i in range(3)}  # each found its entry
    # seeds that do not resolve (yet): nothing to find the address by
    done = subprocess.run(ring.h.exec_prefix(0) + [sys.executable, "-m", "ringfast", "node", "--port", "7001",
                                                   "--seeds", "x.invalid:7000,y.invalid:7000"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("ringfast: HOST is not set and the seed nodes (x.invalid:7000, y.invalid:7000) "
                                "are not on loopback"), done.stderr
    assert "set HOST (--host)" in lines[-1]
