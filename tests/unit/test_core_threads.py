"""Concurrency stress of the compiled core: threads mixing partition, partition_many and
assign on shared inputs, collections forced all along, finalizers changing inputs.

Every result on a stable input must equal the plain-Python twin's (computed beforehand);
every result on an input that finalizers change must still be well formed (or a clean
RuntimeError/BufferError). The real verdict on memory safety comes from running this under
AddressSanitizer (.ci/sanitize sets RINGFAST_STRESS_SECONDS higher); the default run is
about a second.
"""

import gc
import os
import random
import sys
import threading
import time
from array import array

import reference
from ringfast import Partitioner, assign, partition

SECONDS = float(os.environ.get("RINGFAST_STRESS_SECONDS", "1.0"))
P = 61
SEED = 7

# Stable inputs, shared by every thread, and what the twin says about them.
KEYS = [f"key-{i}" for i in range(300)] + ["héllo", b"raw", bytearray(b"ba"), 0, -5, 2**70, memoryview(b"abcdef")[::2]]
TUPLE_KEYS = tuple(KEYS)
RECORDS = bytes(range(256)) * 8  # 256 records of 8 bytes
MEMBERS = [f"m{i}" for i in range(9)]
PREVIOUS = reference.assign(200, MEMBERS[:7])
WEIGHTS = {"m0": 2, "m3": 0.5, "m5": 3.25}

WANT_KEYS = reference.partition_many(KEYS, P, SEED)
WANT_RECORDS = reference.partition_many(RECORDS, P, SEED, width=8)
WANT_ASSIGN = reference.assign(200, MEMBERS, PREVIOUS)
WANT_WEIGHTED = reference.assign(200, MEMBERS, PREVIOUS, WEIGHTS)
SAME = "the-same-key"
WANT_SAME = reference.partition(SAME, P, SEED)


class Volatile:
    """Inputs that finalizers keep changing: lists of one repeated key, a bytearray of one
    repeated record, a `previous` whose lists grow and shrink."""

    def __init__(self):
        self.keys = [SAME] * 50
        self.records = bytearray(b"rec8rec8" * 64)
        self.previous = {m: [i, i + 9] for i, m in enumerate(MEMBERS)}


class Meddler:
    """Garbage in a cycle: its finalizer (run by whichever thread's allocation starts a
    collection) changes a volatile input."""

    def __init__(self, vol, rnd):
        self.vol, self.rnd, self.me = vol, rnd.random(), self

    def __del__(self):
        vol, r = self.vol, self.rnd
        try:
            if r < 0.25:
                vol.keys.append(SAME)
            elif r < 0.5:
                del vol.keys[len(vol.keys) // 2 :]
            elif r < 0.6:
                vol.records.extend(b"rec8rec8")  # BufferError while a call holds it
            elif r < 0.7:
                del vol.records[-8:]
            else:
                parts = vol.previous[MEMBERS[int(r * 100) % len(MEMBERS)]]
                parts.append(int(r * 1000) % 250) if r < 0.85 else parts.clear()
        except BufferError:
            pass


def check_balanced(result, members, n):
    assert sorted(p for parts in result.values() for p in parts) == list(range(n))
    loads = [len(v) for v in result.values()]
    assert set(result) == set(members) and max(loads) - min(loads) <= 1


def worker(seed, vol, deadline, errors):
    rnd = random.Random(seed)
    p = Partitioner(P, SEED)
    out = array("I", bytes(4 * len(KEYS)))
    try:
        while time.monotonic() < deadline:
            Meddler(vol, rnd)
            op = rnd.randrange(9)
            if op == 0:
                i = rnd.randrange(len(KEYS))
                assert partition(KEYS[i], P, SEED) == p(KEYS[i]) == WANT_KEYS[i]
            elif op == 1:
                assert p.partition_many(KEYS).tolist() == WANT_KEYS
            elif op == 2:
                assert p.partition_many(iter(TUPLE_KEYS)).tolist() == WANT_KEYS
            elif op == 3:
                assert p.partition_many(TUPLE_KEYS, out=out) is out and out.tolist() == WANT_KEYS
            elif op == 4:
                assert p.partition_many(memoryview(RECORDS), width=8).tolist() == WANT_RECORDS
            elif op == 5:
                assert assign(200, MEMBERS, PREVIOUS) == WANT_ASSIGN
                assert assign(200, MEMBERS, PREVIOUS, WEIGHTS) == WANT_WEIGHTED
            elif op == 6:
                try:
                    got = p.partition_many(vol.keys)
                    assert set(got) <= {WANT_SAME}
                except RuntimeError as e:
                    assert "keys changed size during partition_many" in str(e)
            elif op == 7:
                try:
                    recs = vol.records
                    got = p.partition_many(recs, width=8, out=array("I", bytes(4 * (len(recs) // 8))))
                    assert set(got) <= {reference.partition(b"rec8rec8", P, SEED)}
                except Exception as e:  # the length changed between len() and the call
                    assert "out has" in str(e) or "whole number" in str(e), e
            else:
                check_balanced(assign(250, MEMBERS, vol.previous), MEMBERS, 250)
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        errors.append(e)


def test_threads_share_inputs_with_collections_and_meddling_finalizers():
    vol = Volatile()
    errors = []
    deadline = time.monotonic() + SECONDS
    threshold = gc.get_threshold()
    gc.set_threshold(50, 5, 5)  # collections start often, from any thread's allocation
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # and threads swap often
    try:
        threads = [threading.Thread(target=worker, args=(i, vol, deadline, errors)) for i in range(4)]
        for t in threads:
            t.start()
        while time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
        for t in threads:
            t.join(timeout=60 + SECONDS)
        assert not any(t.is_alive() for t in threads), "a worker is stuck"
    finally:
        gc.set_threshold(*threshold)
        sys.setswitchinterval(switch)
    if errors:
        raise errors[0]
