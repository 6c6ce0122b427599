"""Differential fuzzing of Partitioner.partition_many (and partition) against the twin.

    python tests/fuzz/fuzz_partition_many.py -runs=200000          # or -max_total_time=600

Lists, tuples, iterators and generators of keys of every type (str with surrogates, str
subclasses that lie, bytes-likes, strided views, ints of any size and lying int
subclasses, floats, None), buffers of fixed-width records with any width= (lying ints
too), and every kind of out=. The compiled core and the plain-Python twin must raise the
same exception type or give the same partitions; `out`, when filled, must hold them.
"""

import sys

import atheris

from ringfast import Partitioner  # compiled: nothing to instrument (and the package pulls in gevent)

with atheris.instrument_imports():
    import core_inputs as ci
    import reference


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    n = fdp.PickValueInList([1, 2, 10, 61, 1000, 2**31 - 1]) if fdp.ConsumeBool() else ci.draw_int(fdp)
    seed = fdp.ConsumeIntInRange(0, 2**32 - 1) if fdp.ConsumeBool() else ci.draw_int(fdp)
    made = ci.outcome(lambda: Partitioner(n, seed))
    twin_ok = ci.outcome(lambda: reference.partition("k", n, seed))
    if made[0] != twin_ok[0] or (made[0] == "raised" and made[1] is not twin_ok[1]):
        raise AssertionError(f"Partitioner({n!r}, {seed!r}): core {made!r}, twin {twin_ok!r}")
    if made[0] == "raised":
        return
    p = made[1]
    mode = fdp.ConsumeIntInRange(0, 5)
    if mode == 5:  # a buffer of fixed-width records
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
        width = fdp.ConsumeIntInRange(1, 12) if fdp.ConsumeBool() else ci.draw_int(fdp)
        kind = fdp.ConsumeIntInRange(0, 3)
        out = ci.draw_out(fdp, len(raw) // width if isinstance(width, int) and int.__index__(width) > 0 else 0)

        def keys():
            return [raw, bytearray(raw), memoryview(raw), memoryview(raw)[::2]][kind]

        def core():
            o = ci.build_out(out)
            r = p.partition_many(keys(), width=width, out=o)
            assert o is None or r is o, "out was not returned"
            return list(r)

        ci.differential(core, lambda: reference.partition_many(keys(), n, seed, width=width, out=ci.build_out(out)),
                        f"records {raw!r} width={width!r} out={out!r}")
        return
    descs = [ci.draw_key(fdp) for _ in range(fdp.ConsumeIntInRange(0, 12))]
    out = ci.draw_out(fdp, len(descs)) if fdp.ConsumeBool() else None

    def keys():
        built = [ci.build_key(d) for d in descs]
        return [built, tuple(built), iter(built), (k for k in built), built][mode]

    def core():
        o = ci.build_out(out)
        r = p.partition_many(keys(), out=o)
        assert o is None or r is o, "out was not returned"
        assert r.typecode == "I"
        return list(r)

    ci.differential(core, lambda: reference.partition_many(keys(), n, seed, out=ci.build_out(out)),
                    f"keys {descs!r} mode {mode} out={out!r}")
    for d in descs[:3]:  # one key at a time too
        ci.differential(lambda: p.partition(ci.build_key(d)), lambda: reference.partition(ci.build_key(d), n, seed),
                        f"partition({d!r})")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
