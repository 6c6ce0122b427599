"""Replay one simulation seed with a trace: python tests/sim/replay.py SEED [--partition P]"""

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simulator  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("--partition", type=int, default=None, help="also print this partition's holding intervals")
    args = ap.parse_args()
    current = {}

    class SimTime(logging.Filter):
        def filter(self, record):
            record.simtime = current["sim"].now if "sim" in current else 0.0
            record.node = current.get("node", "?")
            return True

    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(SimTime())
    handler.setFormatter(logging.Formatter("%(simtime)8.3f %(node)-6s %(message)s"))
    logging.getLogger("ringfast").addHandler(handler)
    logging.getLogger("ringfast").setLevel(logging.DEBUG)
    original = simulator.Sim.__init__

    def init(self, *a, **kw):
        current["sim"] = self
        original(self, *a, **kw)

    simulator.Sim.__init__ = init
    for name in ("crash", "restart", "pause", "partition", "heal", "cut_one_way", "graceful_stop"):
        fn = getattr(simulator.Sim, name)

        def wrapped(self, *a, _fn=fn, _name=name, **kw):
            print(f"{self.now:8.3f} FAULT {_name} {a}{' ' + repr(kw) if kw else ''}")
            return _fn(self, *a, **kw)

        setattr(simulator.Sim, name, wrapped)
    for name in ("tick", "receive", "resume", "connection_closed", "_connect_failed"):
        fn = getattr(simulator.SimNode, name)

        def on_node(self, *a, _fn=fn):
            current["node"] = self.name
            return _fn(self, *a)

        setattr(simulator.SimNode, name, on_node)
    sim = simulator.run_seed(args.seed)
    print("violations:", sim.log.violations or "none", "settle:", sim.settle_time)
    if sim.log.forgotten:
        print("forgotten (the limit without state dirs):", sim.log.forgotten[:3])
    if args.partition is not None:
        for iv in sorted(sim.log.intervals.get(args.partition, []), key=lambda iv: iv.start):
            print(f"  {iv.holder:8} [{iv.start:.3f}, {iv.end}) token {iv.token}")


if __name__ == "__main__":
    main()
