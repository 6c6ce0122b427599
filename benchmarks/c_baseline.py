"""Builds benchmarks/c_baseline.c with the system C compiler and loads it with ctypes.

The C loop runs ringfast's own murmur3 (src/ringfast/_murmur3.h) over keys encoded up front,
so partition_many's time over it is the price of reading Python objects, nothing else.
"""

import ctypes
import os
import shutil
import subprocess
import sysconfig
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.normpath(os.path.join(HERE, "..", "src", "ringfast"))


def build(tmpdir):
    """The loaded library, or None (with the reason) where there is no C compiler."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    if shutil.which(cc) is None:
        return None, f"no C compiler ({cc})"
    lib = os.path.join(str(tmpdir), "c_baseline.so")
    # -O3 like the extension (setup.py); nothing machine-specific, like the extension
    cmd = [cc, "-O3", "-shared", "-fPIC", "-I", INCLUDE, os.path.join(HERE, "c_baseline.c"), "-o", lib]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"{' '.join(cmd)} failed: {proc.stderr[-500:]}"
    dll = ctypes.CDLL(lib)
    fn = dll.rf_baseline_partition_many
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
    return fn, None


def encode(keys):
    """(bytes of every key's UTF-8 back to back, array('Q') of len(keys)+1 offsets)."""
    encoded = [k.encode() for k in keys]
    offsets = array("Q", [0])
    total = 0
    for e in encoded:
        total += len(e)
        offsets.append(total)
    return b"".join(encoded), offsets


def partition_many(fn, data, offsets, seed, num_partitions, out):
    """Runs the C loop; fills `out` (an array('I') of len(offsets) - 1 items) and returns it."""
    n = len(offsets) - 1
    assert len(out) == n and offsets.itemsize == 8 and out.itemsize == 4
    data_addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    fn(data_addr, offsets.buffer_info()[0], n, seed, num_partitions, out.buffer_info()[0])
    return out
