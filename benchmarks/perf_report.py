"""The performance report: runs the benchmarks and writes docs/performance.md and the
README's short table (between <!-- perf:start --> and <!-- perf:end -->).

    python benchmarks/perf_report.py [--runs 5] [--cpu-followers 200] [--scale-nodes 200]
        [--ring-election-dir DIR] [--skip failover,kill-later,cpu,scale,assign]

What it runs, one after the other (each section that fails is reported as failed, the
others still run):

- failover: benchmarks/failover.py, ringfast with and without a state dir and ring-election
  (installed with npm into a temporary folder), default and fast profiles, 5 nodes;
- kill-later: failover.py for ringfast with a state dir, the leader killed one check
  interval after the cold start settled instead of at once (--leader-kill-after lease);
- cpu: benchmarks/leader_cpu.py, the leader's CPU with 200 followers heartbeating at 1 Hz;
- scale: benchmarks/scale_processes.py, 200 `ringfast node` processes: memory per node;
- assign: ringfast.assign() at 100,000 partitions x 1,000 members (from scratch, after
  one member leaves, after one joins), checked against the plain-Python reference.

--docs/--readme write elsewhere (--readme '' leaves the README alone); --json keeps every
figure, and --from-json FILE writes the page and the table again from such a file
without measuring anything. Exit status 0 even when a target is missed or a section failed (the page says
so); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path[:0] = [HERE, os.path.join(ROOT, "tests")]

import failover  # noqa: E402

SECTIONS = ("failover", "kill-later", "cpu", "scale", "assign")
START, END = "<!-- perf:start -->", "<!-- perf:end -->"


# --------------------------------------------------------------------------- measuring


def assign_times(partitions: int = 100_000, members: int = 1000, repeat: int = 7) -> dict:
    """Median seconds of one ringfast.assign() call per scenario, each result checked
    against the plain-Python reference (tests/reference.py)."""
    import reference

    import ringfast

    names = ["m%04d" % i for i in range(members)]
    before = ringfast.assign(partitions, names)
    middle = members // 2
    scenarios = {
        "scratch": (names, None),
        "leave": (names[:middle] + names[middle + 1:], before),
        "join": (names + ["m%04d" % members], before),
    }
    out = {"partitions": partitions, "members": members, "repeat": repeat,
           "core": ringfast.core_implementation}
    for name, (m, previous) in scenarios.items():
        if ringfast.assign(partitions, m, previous) != reference.assign(partitions, m, previous):
            raise AssertionError(f"assign {name}: ringfast and the reference differ")
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            ringfast.assign(partitions, m, previous)
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def measure(args) -> dict:
    """Every section not skipped -> {section: figures or {"error": why}}."""
    report = {"command": "python benchmarks/perf_report.py " + " ".join(args.argv)}
    common = ["--runs", str(args.runs), "--nodes", str(args.nodes)]
    if args.ring_election_dir:
        common += ["--ring-election-dir", args.ring_election_dir]
    plan = {
        "failover": lambda: failover.run(failover.parse_args(common)),
        "kill-later": lambda: failover.run(failover.parse_args(
            common + ["--systems", "ringfast-state", "--leader-kill-after", "lease"])),
        "cpu": lambda: _import("leader_cpu").measure(args.cpu_followers, args.cpu_seconds),
        "scale": lambda: _import("scale_processes").measure(args.scale_nodes, 1000),
        "assign": lambda: assign_times(),
    }
    for section, run in plan.items():
        if section in args.skip:
            continue
        print(f"perf_report: {section} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            report[section] = run()
        except (Exception, SystemExit) as e:  # SystemExit: the scripts' own "timed out" exits
            report[section] = {"error": f"{type(e).__name__}: {e}"}
        print(f"perf_report: {section} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return report


def _import(name):
    __import__(name)
    return sys.modules[name]


# --------------------------------------------------------------------------- rendering


def _s(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f} s"


def _ms(value):
    return "n/a" if value is None else f"{value * 1000:.2f} ms"


def _phase(report, profile, system, phase):
    return ((report.get("failover") or {}).get("results", {}).get(profile, {}).get(system) or {}).get(phase)


def readme_block(report: dict) -> str:
    """The README's short table (Markdown, no code blocks)."""
    lines = [START,
             "<!-- generated by benchmarks/perf_report.py: edit that script, not this table -->",
             "",
             "| 5 nodes, loopback, median | ringfast, state dir | ringfast, no state dir | ring-election |",
             "|---|---|---|---|"]
    fo = report.get("failover") or {}
    if "results" in fo:
        for phase, label in (("start", "cold start -> every partition owned"),
                             ("leader_kill", "leader kill -9 -> every partition owned again"),
                             ("follower_kill", "follower kill -9 -> its partitions owned again")):
            for profile in fo["results"]:
                hb, check = failover.PROFILES[profile]
                row = [f"{label} ({hb}/{check} ms)"]
                for system in failover.SYSTEMS:
                    s = fo["results"][profile].get(system)
                    row.append("not measured" if s is None else failover.fmt(
                        s[phase], s[phase + "_converged"], s["runs"]).replace(" converged)", ")"))
                lines.append("| " + " | ".join(row) + " |")
    else:
        lines.append(f"| failover | {fo.get('error', 'not measured')} | | |")
    if "results" in fo and any(s[p + "_converged"] < s["runs"] for r in fo["results"].values()
                               for s in r.values() for p in failover.PHASES):
        lines += ["", "(k/n): it got there in k trials of n; the median counts the others as never."]
    lines.append("")
    extra = []
    cpu = report.get("cpu") or {}
    if "cpu_percent" in cpu:
        extra.append(f"leader CPU with {cpu['followers']} followers at the default heartbeat: "
                     f"{cpu['cpu_percent']:.1f}% of a core")
    scale = report.get("scale") or {}
    if "rss_mib_mean" in scale:
        extra.append(f"memory per node ({scale['nodes']} `ringfast node` processes): {scale['rss_mib_mean']:.0f} MiB")
    a = report.get("assign") or {}
    if "scratch" in a:
        extra.append(f"`assign()` at {a['partitions']:,} partitions x {a['members']:,} members: "
                     f"{_ms(a['scratch'])} from scratch, {_ms(a['leave'])} after a leave")
    if extra:
        lines.append("; ".join(extra) + ".")
        lines.append("")
    m = fo.get("machine")
    if m:
        lines.append(failover.machine_line(m, fo.get("ring_election")) + " All figures, the targets and how "
                     "they are measured: [docs/performance.md](docs/performance.md).")
    else:
        lines.append("How these are measured: [docs/performance.md](docs/performance.md).")
    lines.append(END)
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """`text` with the part from START to END (markers included) replaced by `block`.
    Exactly one pair of markers, in that order, or ValueError."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"expected one {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def regenerating(command: str) -> str:
    """The command as run, less the options that only say where to keep a copy (--json)."""
    return re.sub(r"\s--(json|from-json)(=|\s+)\S+", "", command.strip())


def page(report: dict) -> str:
    """docs/performance.md."""
    out = [
        "# Performance",
        "",
        "<!-- generated by benchmarks/perf_report.py: do not edit by hand -->",
        "",
        "This page is generated: `" + regenerating(report["command"]) + "` measured every figure",
        "on it and wrote it (and the short table in the README); run it again to regenerate both.",
        "The machine is shared and has 2 cores, so single figures are noisy: compare the ratios",
        "and the medians, not one run.",
        "",
    ]
    fo = report.get("failover") or {}
    m = fo.get("machine")
    if m:
        out += [failover.machine_line(m, fo.get("ring_election")), ""]
    out += ["## Failover and cold start", ""]
    if "results" in fo:
        out += [
            "`benchmarks/failover.py`: real processes on loopback, one per node, 10 partitions. Each",
            "trial starts a new cluster with every node at once and waits until every partition is",
            "owned by exactly one live follower under one leader (cold start), kills the leader with",
            "kill -9 and waits until every partition is owned again, then kills a follower that",
            "owns partitions and waits until they are owned again. Ownership is read from outside",
            "(every node's `/status` and `/partitions`, polled), so figures include one polling round.",
            "The cold start counts from the start of the last process, so it includes the processes",
            "booting (interpreter and imports), shown separately below each table. The ratio columns",
            "are ringfast's time over ring-election's (below 1: ringfast is faster).",
            "",
            failover.markdown_tables(fo),
        ]
        if fo.get("ring_election"):
            out += [
                "ring-election " + fo["ring_election"] + " comes from npm, installed into a temporary folder",
                "for the run; `benchmarks/ring_election_node.js` starts each node as its README says",
                "(every node a follower of the same `SEED_NODES`) and the benchmark reads its",
                "`/status` and `/partitions`. A null in its partition lists is not counted as a",
                "partition, and its loads are not required to balance. Its failover phases run on a",
                "cluster formed one node first, then the others (\"the first node to start will be",
                "the leader\"): after a simultaneous start it often keeps two leaders for good (the",
                "cold start row counts those trials as not converged), and then a leader failover",
                "cannot work at all.",
                "",
                failover.MAPPING,
                "",
            ]
        elif fo.get("ring_election_note"):
            out += [fo["ring_election_note"], ""]
    else:
        out += [f"Not measured: {fo.get('error', 'skipped')}.", ""]
    later = report.get("kill-later") or {}
    if "results" in later:
        out += [
            "### The leader killed later",
            "",
            "The same trials for ringfast with a state dir, but the leader is killed one check",
            "interval after the cold start settled rather than at once:",
            "",
        ]
        rows = ["| profile | leader kill -9 at once | one check interval after the start |", "|---|---|---|"]
        for profile, by_system in later["results"].items():
            s = by_system.get("ringfast-state") or {}
            rows.append(f"| {profile} | {failover.fmt(_phase(report, profile, 'ringfast-state', 'leader_kill'))} | "
                        f"{failover.fmt(s.get('leader_kill'), s.get('leader_kill_converged'), s.get('runs'))} |")
        out += rows + [
            "",
            "Both are fast: a voter that follows the leader it elected may vote again as soon as",
            "it loses it, and its vote says how much longer that leader may renew leases, so the",
            "new leader waits that out only for partitions nobody reports (here: none, a leader",
            "owns no partition by default). Earlier, a voter refused any other vote for a",
            "failure timeout after voting, and a leader killed right after a cold start cost",
            "7.4 s at the default timings.",
            "",
        ]
    elif "error" in later:
        out += ["### The leader killed later", "", f"Not measured: {later['error']}.", ""]
    out += ["## Leader CPU and memory per node", ""]
    cpu = report.get("cpu") or {}
    if "cpu_percent" in cpu:
        out += [
            f"`benchmarks/leader_cpu.py`: one `ringfast node` leader, {cpu['followers']} followers (in one",
            "separate gevent process, real loopback sockets) heartbeating once a second (the default),",
            "1000 partitions; the leader's CPU time over "
            f"{cpu['seconds']:g} s of steady state: **{cpu['cpu_percent']:.1f}% of one core** "
            f"(its resident memory: {cpu['rss_mib']:.0f} MiB).",
            "",
        ]
    else:
        out += [f"Leader CPU: not measured: {cpu.get('error', 'skipped')}.", ""]
    scale = report.get("scale") or {}
    if "rss_mib_mean" in scale:
        out += [
            f"`benchmarks/scale_processes.py`: {scale['nodes']} separate `ringfast node` processes (5 of them",
            f"voters), {scale['partitions']} partitions, default timings.",
            "",
            "| what | measured |",
            "|---|---|",
            f"| memory per node (resident, mean) | {scale['rss_mib_mean']:.0f} MiB |",
            f"| the leader's memory | {scale['rss_mib_leader']:.0f} MiB |",
            f"| all {scale['nodes']} processes | {scale['rss_mib_total'] / 1024:.1f} GiB |",
            f"| first start -> every partition owned and balanced | {_s(scale['settle_s'], 1)} |",
            f"| leader CPU in steady state | {scale['leader_cpu_percent']:.1f}% of a core |",
            f"| leader kill -9 -> new leader, every partition owned | {_s(scale['failover_s'], 1)} |",
            "",
        ]
    else:
        out += [f"Memory per node: not measured: {scale.get('error', 'skipped')}.", ""]
    out += ["## Assignment", ""]
    a = report.get("assign") or {}
    if "scratch" in a:
        out += [
            f"`ringfast.assign()` with {a['partitions']:,} partitions over {a['members']:,} members, core",
            f"`{a['core']}`, median of {a['repeat']} calls, each result checked against the plain-Python",
            "reference (`benchmarks/bench_assign.py` has the 10,000-partition suite):",
            "",
            "| scenario | one call |",
            "|---|---|",
            f"| from scratch | {_ms(a['scratch'])} |",
            f"| after one member leaves | {_ms(a['leave'])} |",
            f"| after one member joins | {_ms(a['join'])} |",
            "",
        ]
    else:
        out += [f"Not measured: {a.get('error', 'skipped')}.", ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- main


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--cpu-followers", type=int, default=200)
    ap.add_argument("--cpu-seconds", type=float, default=10)
    ap.add_argument("--scale-nodes", type=int, default=200)
    ap.add_argument("--ring-election-dir", default=None, help="ring-election already installed here")
    ap.add_argument("--skip", default="", help=f"comma-separated, of {', '.join(SECTIONS)}")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", "performance.md"))
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="'' to leave it alone")
    ap.add_argument("--json", metavar="FILE", help="also keep every figure here")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: write the page and the README table from a --json of an earlier run")
    args = ap.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    args.argv = list(argv)
    return args


def write(report: dict, docs: str | None, readme: str | None) -> None:
    if docs:
        with open(docs, "w", encoding="utf-8") as f:
            f.write(page(report))
    if readme:
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        with open(readme, "w", encoding="utf-8") as f:
            f.write(replace_block(text, readme_block(report)))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            report = json.load(f)
        write(report, args.docs, args.readme)
        print(f"perf_report: wrote {args.docs}" + (f" and {args.readme}" if args.readme else "")
              + f" from {args.from_json}")
        return 0
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report = measure(args)
    except (KeyboardInterrupt, _Terminated):
        print("perf_report.py: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    write(report, args.docs, args.readme)
    fo = report.get("failover") or {}
    if "results" in fo:
        print(failover.render_text(fo), end="")
    for t in fo.get("targets", []):
        print(f"{t['verdict']}  {t['profile']:<8} {failover.LABELS[t['system']]:<24} {t['what']}: "
              f"{failover.fmt(t['value'])} (target <= {t['limit']:.2f} s)")
    for section in SECTIONS:
        if "error" in (report.get(section) or {}):
            print(f"perf_report: {section} failed: {report[section]['error']}")
    print(f"perf_report: wrote {args.docs}" + (f" and {args.readme}" if args.readme else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
