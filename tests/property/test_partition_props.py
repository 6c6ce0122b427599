"""Hypothesis: the compiled partitioner equals mmh3 (the oracle) for any key, size and seed."""

import mmh3
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from ringfast import Partitioner, partition

keys = st.one_of(
    st.text(),  # hypothesis leaves out lone surrogates, which are tested as errors elsewhere
    st.binary(),
    st.binary().map(bytearray),
    st.binary().map(memoryview),
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
)
sizes = st.one_of(st.sampled_from([1, 2, 3, 10, 12, 1000, 2**31 - 1]), st.integers(1, 2**31 - 1))
seeds = st.one_of(st.just(0), st.integers(0, 2**32 - 1))


def oracle(key, n, seed):
    return mmh3.hash(reference.bytes_of(key), seed, signed=False) % n


@given(keys, sizes, seeds)
def test_partition_equals_mmh3(key, n, seed):
    want = oracle(key, n, seed)
    assert Partitioner(n, seed).partition(key) == want
    assert partition(key, n, seed) == want


@given(st.binary(max_size=64), seeds)
def test_reference_murmur3_equals_mmh3(data, seed):
    # the plain-Python reference is used by benchmarks: it must be the same function
    assert reference.murmur3_32(data, seed) == mmh3.hash(data, seed, signed=False)


@given(st.lists(keys.filter(lambda k: not isinstance(k, memoryview)), max_size=50), sizes, seeds)
def test_partition_many_equals_per_key(ks, n, seed):
    p = Partitioner(n, seed)
    want = [p.partition(k) for k in ks]
    assert p.partition_many(ks).tolist() == want
    assert p.partition_many(tuple(ks)).tolist() == want
    assert p.partition_many(iter(ks)).tolist() == want


@given(st.integers(1, 40), st.integers(0, 30), st.data(), sizes, seeds)
@settings(max_examples=200)
def test_partition_many_records_equals_per_record(width, count, data, n, seed):
    buf = data.draw(st.binary(min_size=width * count, max_size=width * count))
    p = Partitioner(n, seed)
    want = [oracle(buf[i * width : (i + 1) * width], n, seed) for i in range(count)]
    assert p.partition_many(buf, width=width).tolist() == want
