"""The Python snippet of docs/backends.md, run as written against a real etcd (its endpoint
swapped for the test server's), and the backend's refusals at start."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ringfast
from ringfast.errors import ConfigError

pytest.importorskip("etcd3gw")

DOC = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def test_the_snippet_of_backends_md_runs(etcd, tmp_path):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)[1]
    assert "http://127.0.0.1:2379" in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace("http://127.0.0.1:2379", etcd.url))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "assigned [0, 1" in proc.stdout and "worker-1 64 " in proc.stdout, proc.stdout


def test_an_engine_backend_needs_its_endpoints_and_a_node_id(etcd):
    with pytest.raises(ConfigError, match="RINGFAST_ENGINE"):
        ringfast.Node(backend="etcd")
    with pytest.raises(ConfigError, match="NODE_ID"):
        ringfast.Node(backend="etcd", engine=etcd.url, monitoring_port="off").start()
    with pytest.raises(ConfigError, match="not available yet"):
        ringfast.Node(backend="zookeeper", engine="127.0.0.1:2181")
    with pytest.raises(ConfigError, match="at most 20000"):
        ringfast.Node(backend="etcd", engine=etcd.url, node_id="x", num_partitions=30000,
                      monitoring_port="off").start()


def test_a_second_process_with_the_same_id_waits(etcd):
    first = ringfast.Node(backend="etcd", engine=etcd.url, node_id="same", monitoring_port="off",
                          leader_owns_partitions=True, failure_timeout_ms=2000).start()
    second = None
    try:
        assert first.wait_until_ready(10)
        second = ringfast.Node(backend="etcd", engine=etcd.url, node_id="same", monitoring_port="off",
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
