"""key -> partition: ringfast against the mmh3 loop people write today, on 1,000,000 keys.

Each benchmark also checks its answer, so with --benchmark-disable this is a plain test.
report.py compares variants per key, hence extra_info["keys"] everywhere.
"""

from array import array

import c_baseline
import mmh3
import pytest
import reference

import ringfast

REFERENCE_KEYS = 20_000  # the pure-Python reference is ~100x slower; a slice keeps it quick


def _tag(benchmark, role, keys):
    benchmark.extra_info["role"] = role
    benchmark.extra_info["keys"] = keys


def _mmh3_loop(keys, n):
    h = mmh3.hash
    return [h(k, 0, False) % n for k in keys]


def _ringfast_loop(keys, partitioner):
    p = partitioner.partition
    return [p(k) for k in keys]


def _reference_loop(keys, n):
    return [reference.partition(k, n) for k in keys]


# ---------------------------------------------------------------- per-key, str


@pytest.mark.benchmark(group="per-key-str")
def test_per_key_str_mmh3(benchmark, keys_str, n, expected):
    _tag(benchmark, "baseline", len(keys_str))
    result = benchmark(_mmh3_loop, keys_str, n)
    # the fixture came from the same loop, so tie the baseline to the reference instead
    assert result[:1000] == _reference_loop(keys_str[:1000], n)


@pytest.mark.benchmark(group="per-key-str")
def test_per_key_str_ringfast(benchmark, keys_str, partitioner, expected):
    _tag(benchmark, "ringfast", len(keys_str))
    assert benchmark(_ringfast_loop, keys_str, partitioner) == expected


@pytest.mark.benchmark(group="per-key-str")
def test_per_key_str_node(benchmark, keys_str, n, expected):
    """What applications write: node.partition(key), on a (not started) Node."""
    node = ringfast.Node(num_partitions=n, monitoring_port="off", mode="thread")
    _tag(benchmark, "ringfast", len(keys_str))
    assert benchmark(_ringfast_loop, keys_str, node) == expected


@pytest.mark.benchmark(group="per-key-str")
def test_per_key_str_reference(benchmark, keys_str, n, expected):
    keys = keys_str[:REFERENCE_KEYS]
    _tag(benchmark, "reference", len(keys))
    assert benchmark(_reference_loop, keys, n) == expected[:REFERENCE_KEYS]


# ---------------------------------------------------------------- per-key, bytes
# Same keys as UTF-8 bytes, so the answers are the str answers.


@pytest.mark.benchmark(group="per-key-bytes")
def test_per_key_bytes_mmh3(benchmark, keys_bytes, n, expected):
    _tag(benchmark, "baseline", len(keys_bytes))
    assert benchmark(_mmh3_loop, keys_bytes, n) == expected


@pytest.mark.benchmark(group="per-key-bytes")
def test_per_key_bytes_ringfast(benchmark, keys_bytes, partitioner, expected):
    _tag(benchmark, "ringfast", len(keys_bytes))
    assert benchmark(_ringfast_loop, keys_bytes, partitioner) == expected


@pytest.mark.benchmark(group="per-key-bytes")
def test_per_key_bytes_reference(benchmark, keys_bytes, n, expected):
    keys = keys_bytes[:REFERENCE_KEYS]
    _tag(benchmark, "reference", len(keys))
    assert benchmark(_reference_loop, keys, n) == expected[:REFERENCE_KEYS]


# ---------------------------------------------------------------- batch, str


@pytest.mark.benchmark(group="batch-str")
def test_batch_str_mmh3(benchmark, keys_str, n, expected):
    _tag(benchmark, "baseline", len(keys_str))
    assert benchmark(_mmh3_loop, keys_str, n) == expected


@pytest.mark.benchmark(group="batch-str")
def test_batch_str_partition_many(benchmark, keys_str, partitioner, expected):
    _tag(benchmark, "ringfast", len(keys_str))
    result = benchmark(partitioner.partition_many, keys_str)
    assert result.typecode == "I" and result.tolist() == expected


@pytest.fixture(scope="session")
def c_loop(tmp_path_factory):
    fn, why = c_baseline.build(tmp_path_factory.mktemp("c_baseline"))
    if fn is None:
        pytest.skip(why)
    return fn


@pytest.mark.benchmark(group="batch-str")
def test_batch_str_c_loop(benchmark, c_loop, keys_str, n, expected):
    """The floor: the same murmur3 in a plain C loop over the keys encoded beforehand."""
    data, offsets = c_baseline.encode(keys_str)
    out = array("I", bytes(4 * len(keys_str)))
    _tag(benchmark, "c-baseline", len(keys_str))
    assert benchmark(c_baseline.partition_many, c_loop, data, offsets, 0, n, out).tolist() == expected


# ---------------------------------------------------------------- batch, bytes


@pytest.mark.benchmark(group="batch-bytes")
def test_batch_bytes_mmh3(benchmark, keys_bytes, n, expected):
    _tag(benchmark, "baseline", len(keys_bytes))
    assert benchmark(_mmh3_loop, keys_bytes, n) == expected


@pytest.mark.benchmark(group="batch-bytes")
def test_batch_bytes_partition_many(benchmark, keys_bytes, partitioner, expected):
    _tag(benchmark, "ringfast", len(keys_bytes))
    result = benchmark(partitioner.partition_many, keys_bytes)
    assert result.typecode == "I" and result.tolist() == expected


@pytest.mark.benchmark(group="batch-bytes")
def test_batch_bytes_records16(benchmark, records16, width, partitioner, n):
    count = len(records16) // width
    _tag(benchmark, "ringfast", count)
    result = benchmark(partitioner.partition_many, records16, width=width)
    assert len(result) == count
    # A record hashes whole, padding included, so the answers differ from the bare keys';
    # check a spread-out sample against mmh3 on the padded records themselves.
    sample = range(0, count, count // 1000)
    records = [records16[i * width : (i + 1) * width] for i in sample]
    assert [result[i] for i in sample] == _mmh3_loop(records, n)
