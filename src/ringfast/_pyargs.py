"""The argument checks of ringfast's plain-Python core (``_pycore``, ``_pyassign``): they
follow ``_core.pyx`` refusal for refusal, with the same exception classes and messages, in
the same order (tests/unit/test_pycore.py compares the two cores call by call)."""

from __future__ import annotations

import sys
from array import array

from .errors import ConfigError, InvalidTypeError

MASK = 0xFFFFFFFF
MAX_PARTITIONS = 2147483647
INT_CACHE_LIMIT = 1 << 20  # as in _core: result ints are shared up to this partition count
# The byte-order marks of a buffer format that mean this machine's own order: Cython's
# unsigned int[::1], which the compiled core writes `out` through, refuses the other one.
_NATIVE_ORDER = "@=<" if sys.byteorder == "little" else "@=>!"

_LLONG_MIN, _LLONG_MAX = -(1 << 63), (1 << 63) - 1  # the C long long the compiled core reads int arguments into


def _int_arg(value, what: str, lo: int, hi: int) -> int:
    """An int argument's value, checked to be in [lo, hi], as the compiled core checks it.

    The check reads the stored value (``int.__index__`` of the int type), never the object:
    an int subclass may answer comparisons with anything it likes (a width "not below 1"
    that is 0 would divide by zero), and its value is what every node hashes with. A value
    beyond 64 bits is reported by its size, as the compiled core (which reads it into a C
    long long) reports it.
    """
    if type(value) is not int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidTypeError(f"{what} must be an int, not {type(value).__name__}: {value!r:.80}")
        value = int.__index__(value)
    if lo <= value <= hi:
        return value
    bounds = f"at least {lo}" if hi == sys.maxsize else f"in [{lo}, {hi}]"
    if not _LLONG_MIN <= value <= _LLONG_MAX:
        sign = "-" if value < 0 else ""
        raise ConfigError(f"{what} must be {bounds}, got {sign}a {value.bit_length()}-bit number")
    raise ConfigError(f"{what} must be {bounds}, got {value}")


def _check_partitions(num_partitions, what: str = "num_partitions") -> int:
    return _int_arg(num_partitions, what, 1, MAX_PARTITIONS)


def _check_seed(seed) -> int:
    return _int_arg(seed, "seed", 0, MASK)


def _check_width(width) -> int:
    return _int_arg(width, "width", 1, sys.maxsize)  # a C Py_ssize_t in the compiled core


def _result_buffer(out, n: int):
    """(what to return, where to write): a new array('I'), or the caller's `out` once
    checked to be a writable, contiguous, one-dimensional buffer of n unsigned 32-bit ints."""
    if out is None:
        res = array("I", bytes(4 * n))
        return res, res
    try:
        view = memoryview(out)
    except TypeError as e:
        why = str(e).removeprefix("memoryview: ")  # the buffer protocol's words, as the C code gets them
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {why}") from None
    problem = None
    if view.readonly:
        problem = "buffer is read-only"
    elif view.format.lstrip(_NATIVE_ORDER) not in ("I", "L") or view.itemsize != 4:
        # what Cython's unsigned int[::1] takes: an unsigned integer code of 4 bytes ('L' is
        # one in standard size, '=L', or natively where a C long has 32 bits)
        problem = f"buffer holds {view.format!r} items"
    elif view.ndim != 1 or not view.c_contiguous:
        problem = f"buffer is not a contiguous 1-dimensional array (ndim={view.ndim})"
    if problem is not None:
        raise InvalidTypeError(f"out must be a writable buffer of unsigned 32-bit ints ('I'): {problem}")
    if len(view) != n:  # one-dimensional by now: its length is its item count
        raise ConfigError(f"out has {len(view)} items but there are {n} keys")
    return out, view.cast("B").cast("I")
