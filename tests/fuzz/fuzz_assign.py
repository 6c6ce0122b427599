"""Differential fuzzing of assign() against the twin.

    python tests/fuzz/fuzz_assign.py -runs=200000          # or -max_total_time=600

Members (duplicates, non-str, str subclasses, given as lists, tuples, sets, generators or
one str), previous (dicts, mapping proxies, non-mappings; entries as lists, tuples,
iterators, None, ints, str; partitions small, huge, negative, bool, lying int subclasses)
and weights of every numeric type (float from subnormal to the largest, inf and nan, ints
of any size, Decimal, Fraction, float subclasses whose __float__ lies, complex, str). The
compiled core and the twin must raise the same exception type or give the same result.
"""

import sys
import types

import atheris

from ringfast import assign  # compiled: nothing to instrument (and the package pulls in gevent)

with atheris.instrument_imports():
    import core_inputs as ci
    import reference

POOL = ["a", "b", "c", "d", "e", "é", "node-1", "node-10", "Z", ""]


def draw_member(fdp):
    kind = fdp.ConsumeIntInRange(0, 15)
    if kind == 0:
        return ("int", 1)
    if kind == 1:
        return ("lyingstr", fdp.PickValueInList(POOL))
    return ("str", fdp.PickValueInList(POOL))


def draw_parts(fdp, P):
    kind = fdp.ConsumeIntInRange(0, 12)
    if kind == 0:
        return ("none", None)
    if kind == 1:
        return ("int", 3)
    if kind == 2:
        return ("str", "12")
    items = []
    for _ in range(fdp.ConsumeIntInRange(0, 20)):
        k = fdp.ConsumeIntInRange(0, 20)
        if k == 0:
            items.append(("int", ci.draw_int(fdp)))
        elif k == 1:
            items.append(("lyingint", fdp.ConsumeIntInRange(-1, P + 2)))
        elif k == 2:
            items.append(("str", "1"))
        else:
            items.append(("int", fdp.ConsumeIntInRange(0, max(P + 2, 1))))
    return (fdp.PickValueInList(["list", "tuple", "iter", "gen"]), items)


def build_parts(desc):
    tag, v = desc
    if tag in ("none", "int", "str"):
        return v
    items = [ci.LyingInt(x) if t == "lyingint" else x for t, x in v]
    return {"list": lambda: items, "tuple": lambda: tuple(items), "iter": lambda: iter(items),
            "gen": lambda: (x for x in items)}[tag]()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    P = fdp.ConsumeIntInRange(1, 300) if fdp.ConsumeIntInRange(0, 9) else ci.draw_int(fdp)
    if isinstance(P, int) and 2000 < int.__index__(P) < 2**31:
        return  # valid, but the twin's lists would not fit in memory
    Pn = P if type(P) is int and 1 <= P <= 300 else 10
    members = [draw_member(fdp) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    members_as = fdp.ConsumeIntInRange(0, 5)
    prev_kind = fdp.ConsumeIntInRange(0, 4)
    previous = {fdp.PickValueInList(POOL + ["gone"]): draw_parts(fdp, Pn) for _ in range(fdp.ConsumeIntInRange(0, 8))}
    weighted = fdp.ConsumeIntInRange(0, 2)
    weights = {fdp.PickValueInList(POOL + ["gone"]): ci.draw_weight(fdp) for _ in range(fdp.ConsumeIntInRange(0, 8))}

    def args():
        ms = [ci.LyingStr(v) if t == "lyingstr" else v for t, v in members]
        ms = [ms, tuple(ms), set(ms) if all(isinstance(m, str) for m in ms) else ms, (m for m in ms), "ab", ms][members_as]
        prev = {k: build_parts(v) for k, v in previous.items()}
        prev = [None, prev, types.MappingProxyType(prev), list(prev.items()), prev][prev_kind]
        w = None if weighted == 0 else {k: ci.build_weight(v) for k, v in weights.items()}
        return P, ms, prev, w

    def core():
        a = args()
        return assign(a[0], a[1], previous=a[2], weights=a[3])

    result = ci.differential(core, lambda: reference.assign(*args()),
                             f"assign({P!r}, {members!r} as #{members_as}, previous #{prev_kind} {previous!r}, "
                             f"weights {weighted and weights!r})")
    if result[0] == "ok":
        flat = sorted(p for parts in result[1].values() for p in parts)
        assert flat == list(range(int.__index__(P))), "not an exact cover"


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
