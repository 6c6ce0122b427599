"""The Python snippet of docs/backends.md, run as written against a real etcd (its endpoint
swapped for the test server's) and, with its backend and endpoint swapped, against a real
ZooKeeper; the backends' refusals at start; a second live process with one id waits."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ringfast
from ringfast.errors import ConfigError
from support import ZOOKEEPER_IN_LONG_RUN


DOC = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def test_the_snippet_of_backends_md_runs(engine, tmp_path):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)[1]
    assert 'backend="etcd", engine="http://127.0.0.1:2379"' in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace('backend="etcd", engine="http://127.0.0.1:2379"',
                                   f'backend="{engine.backend}", engine="{engine.endpoints}"'))
    proc = subprocess.run([sys.executable, str(script)], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "assigned [0, 1" in proc.stdout and "worker-1 64 " in proc.stdout, proc.stdout


def test_an_engine_backend_needs_its_endpoints_and_a_node_id(engine):
    with pytest.raises(ConfigError, match="RINGFAST_ENGINE"):
        ringfast.Node(backend=engine.backend)
    with pytest.raises(ConfigError, match="NODE_ID"):
        ringfast.Node(backend=engine.backend, engine=engine.endpoints, monitoring_port="off").start()
    with pytest.raises(ConfigError, match="at most 20000"):
        ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id="x", num_partitions=30000,
                      monitoring_port="off").start()
    with pytest.raises(ConfigError, match="backend='consul': expected one of builtin, etcd, zookeeper"):
        ringfast.Node(backend="consul", engine=engine.endpoints)


@pytest.mark.parametrize(("backend", "endpoints", "problem"), [
    ("zookeeper", "http://127.0.0.1:2181", "is not a ZooKeeper address"),
    ("zookeeper", "127.0.0.1:99999", "is not a ZooKeeper address"),
    ("zookeeper", ",", "no address"),
    ("etcd", "ftp://127.0.0.1:2379", "is not an etcd endpoint"),
])
def test_endpoints_that_are_not_the_engine_s_are_refused_with_the_value(backend, endpoints, problem):
    with pytest.raises(ConfigError, match=f"RINGFAST_ENGINE={re.escape(repr(endpoints))}: .*{problem}"):
        ringfast.Node(backend=backend, engine=endpoints, node_id="x", monitoring_port="off")


@ZOOKEEPER_IN_LONG_RUN  # ~3 s each on ZooKeeper
def test_a_second_process_with_the_same_id_waits(engine):
    first = ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id="same", monitoring_port="off",
                          leader_owns_partitions=True, failure_timeout_ms=2000).start()
    second = None
    try:
        assert first.wait_until_ready(10)
        second = ringfast.Node(backend=engine.backend, engine=engine.endpoints, node_id="same", monitoring_port="off",
                               leader_owns_partitions=True, failure_timeout_ms=2000).start()
        assert not second.wait_until_ready(1.5)
        assert first.partitions() and not second.partitions()
        refused = second.metrics.refusals.labels(reason="duplicate_id").value
        assert refused == 1
        first.stop()  # ends its lease: the second registers at once
        assert second.wait_until_ready(5)
        deadline = time.monotonic() + 5
        while len(second.partitions()) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(second.partitions()) == 10
    finally:
        first.stop()
        if second is not None:
            second.stop()
