"""Ratio report for a pytest-benchmark JSON file (from --benchmark-json).

    python benchmarks/report.py path/to/benchmark.json

Absolute times depend on the machine, so the interesting number is each variant's ratio
to its group's baseline, per key. A group with a plain C loop (role "c-baseline") also
shows each ringfast variant's speed as a fraction of it ("0.75 C": three quarters of C). Targets are printed next to the ratios for a reader to
judge; this script never fails on them (exit 2 only if the JSON cannot be read).
"""

import json
import sys


def target(group, role, scenario):
    """(text, check(ratio, median_s)) for a variant with a stated goal, else None."""
    if role != "ringfast":
        return None
    if group.startswith("per-key-"):
        return ">= 1.6x", lambda r, m: r >= 1.6
    if group == "batch-str":
        return ">= 7x", lambda r, m: r >= 7
    if group.startswith("assign-") and scenario == "leave":
        return "< 1 ms and >= 20x", lambda r, m: m < 1e-3 and r >= 20
    return None


def c_target(group, role):
    """(text, check(fraction of the C loop's speed)) for a variant with a goal against C."""
    if role == "ringfast" and group == "batch-str":
        return ">= 0.6 of C", lambda f: f >= 0.6
    return None


def load(path):
    """Groups in file order: {group: [(name, median_s, keys or None, role, scenario, min_s)]}."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    groups = {}
    for b in data["benchmarks"]:
        info = b.get("extra_info") or {}
        name = b["name"].removeprefix("test_")
        median = float(b["stats"]["median"])
        fastest = float(b["stats"]["min"])
        row = (name, median, info.get("keys"), info.get("role"), info.get("scenario"), fastest)
        groups.setdefault(b.get("group") or "(no group)", []).append(row)
    return groups


def per_key(median, keys):
    # assign has no keys: one call is one unit, so its ratio is just the ratio of medians
    return median / keys if keys else median


def print_group(group, rows):
    # the baseline for a row is the one with its scenario (None outside assign)
    baselines = {s: (per_key(m, k), per_key(f, k)) for _, m, k, role, s, f in rows if role == "baseline"}
    c_rows = [(per_key(m, k), per_key(f, k)) for _, m, k, role, _, f in rows if role == "c-baseline"]
    print(f"\n{group}")
    header = f"  {'variant':<32} {'median':>11} {'keys/s':>10} {'vs base':>9} {'(by min)':>9}  target"
    print(header)
    for name, median, keys, role, scenario, fastest in rows:
        rate = f"{keys / median / 1e6:.2f} M" if keys else "-"
        base = baselines.get(scenario)
        ratio = base[0] / per_key(median, keys) if base else None
        by_min = base[1] / per_key(fastest, keys) if base else None
        shown = f"{ratio:.2f}x" if ratio is not None else "n/a"
        shown_min = f"{by_min:.2f}x" if by_min is not None else "n/a"
        goal = target(group, role, scenario)
        verdict = ""
        if goal:
            met = ratio is not None and goal[1](ratio, median)
            verdict = f"{goal[0]}  {'met' if met else 'MISSED'}"
        line = f"  {name:<32} {median * 1e3:>8.3f} ms {rate:>10} {shown:>9} {shown_min:>9}  {verdict}"
        print(line.rstrip())
        if c_rows and role == "ringfast":
            print_vs_c(group, role, c_rows[0], per_key(median, keys), per_key(fastest, keys))


def print_vs_c(group, role, c_row, median_per_key, fastest_per_key):
    """The variant's speed as a fraction of the plain C loop's (1.0 = as fast as C)."""
    frac, frac_min = c_row[0] / median_per_key, c_row[1] / fastest_per_key
    goal = c_target(group, role)
    verdict = f"{goal[0]}  {'met' if goal[1](frac) else 'MISSED'}" if goal else ""
    print(f"  {'':<32} {'':>11} {'':>10} {f'{frac:.2f} C':>9} {f'{frac_min:.2f} C':>9}  {verdict}".rstrip())


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} path/to/benchmark.json", file=sys.stderr)
        return 2
    try:
        groups = load(argv[1])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"report.py: cannot read {argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print("ratio = baseline time per key / variant time per key (higher is faster), from the")
    print("medians; '(by min)' uses each side's fastest round, which noise cannot make faster")
    for group, rows in groups.items():
        print_group(group, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
