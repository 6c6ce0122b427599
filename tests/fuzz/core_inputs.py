"""Hostile inputs for fuzzing the compiled core, drawn from atheris' FuzzedDataProvider.

Inputs are drawn as a plain description first and built from it twice, once for the
compiled core and once for the twin, because some (iterators, generators) are used up by
the first call. `differential()` runs both and fails on any disagreement: a different
exception type, or a different result.
"""

import decimal
import fractions
import os
import sys
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


class LyingInt(int):
    """An int whose methods and comparisons lie: everything must read its value."""

    def __int__(self):
        return 3

    def __index__(self):
        return 3

    def __str__(self):
        return "3"

    def __repr__(self):
        return "LyingInt(...)"

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return False

    def __le__(self, other):
        return True

    def __ge__(self, other):
        return True

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingStr(str):
    def encode(self, *args, **kwargs):
        return b"lie"


class LyingFloat(float):
    def __float__(self):
        return 1e300


INTS = [0, 1, -1, 7, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, -(10**30)]
FLOATS = [0.0, -0.0, 1.0, 0.5, 1e-300, 5e-324, 2.2e-308, 1e300, 1.7e307, 8e307, 1e308, 1.7976931348623157e308,
          float("inf"), float("-inf"), float("nan"), -2.0]


def draw_int(fdp):
    kind = fdp.ConsumeIntInRange(0, 5)
    if kind == 0:
        return fdp.PickValueInList(INTS)
    if kind == 1:
        return fdp.ConsumeIntInRange(-3, 300)
    if kind == 2:
        return LyingInt(fdp.PickValueInList(INTS))
    if kind == 3:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 20))  # up to 160 bits
    if kind == 4:
        return fdp.ConsumeBool()
    return fdp.ConsumeIntInRange(0, 2**32)


def draw_key(fdp):
    """A key description: (tag, value)."""
    kind = fdp.ConsumeIntInRange(0, 11)
    if kind <= 2:
        return ("str", fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24)))
    if kind == 3:
        return ("lyingstr", fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 8)))
    if kind == 4:
        return ("bytes", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)))
    if kind == 5:
        return ("bytearray", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)))
    if kind == 6:
        return ("memoryview", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)))
    if kind == 7:
        return ("stridedview", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)))
    if kind in (8, 9):
        return ("int", draw_int(fdp))
    if kind == 10:
        return ("float", fdp.PickValueInList(FLOATS))
    return ("none", None)


def build_key(desc):
    tag, v = desc
    if tag == "lyingstr":
        return LyingStr(v)
    if tag == "bytearray":
        return bytearray(v)
    if tag == "memoryview":
        return memoryview(v)
    if tag == "stridedview":
        return memoryview(v)[::2]
    return v


def draw_weight(fdp):
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind <= 2:
        return ("float", fdp.PickValueInList(FLOATS))
    if kind == 3:
        return ("float", fdp.ConsumeRegularFloat())
    if kind == 4:
        return ("int", draw_int(fdp))
    if kind == 5:
        return ("decimal", fdp.PickValueInList(["2.5", "1e-400", "1e400", "NaN", "sNaN", "-1", "0.001", "3"]))
    if kind == 6:
        return ("fraction", (fdp.ConsumeIntInRange(-5, 10**6), fdp.ConsumeIntInRange(1, 10**6)))
    if kind == 7:
        return ("lyingfloat", fdp.PickValueInList(FLOATS))
    if kind == 8:
        return ("complex", fdp.ConsumeRegularFloat())
    return ("str", "1")


def build_weight(desc):
    tag, v = desc
    if tag == "decimal":
        return decimal.Decimal(v)
    if tag == "fraction":
        return fractions.Fraction(*v)
    if tag == "lyingfloat":
        return LyingFloat(v)
    if tag == "complex":
        return complex(v, 0)
    return v


def draw_out(fdp, n):
    """An `out` description for n keys (often right, sometimes wrong in one way)."""
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind <= 3:
        return ("I", n)
    if kind == 4:
        return ("I", n + fdp.ConsumeIntInRange(-2, 2))
    if kind == 5:
        return (fdp.PickValueInList(["i", "L", "B", "f"]), n)
    if kind == 6:
        return (fdp.PickValueInList(["bytes", "list"]), n)
    return None


def build_out(desc):
    if desc is None:
        return None
    code, n = desc
    n = max(n, 0)
    if code == "bytes":
        return bytes(4 * n)
    if code == "list":
        return [0] * n
    return array(code, [0] * n)


def outcome(call):
    """('ok', value) or ('raised', exception type)."""
    try:
        return ("ok", call())
    except Exception as e:  # noqa: BLE001 - the type is compared with the other side's
        return ("raised", type(e), e)


def differential(core_call, twin_call, what):
    """Runs both; raises AssertionError naming `what` if they disagree."""
    core = outcome(core_call)
    twin = outcome(twin_call)
    if core[0] != twin[0] or (core[0] == "raised" and core[1] is not twin[1]) or (core[0] == "ok" and core[1] != twin[1]):
        raise AssertionError(f"core and twin disagree on {what}:\n  core: {core!r:.2000}\n  twin: {twin!r:.2000}")
    return core
