"""Fixtures and hooks for the real-process cluster tests.

- the `cluster` marker (registered here, so pyproject needs no edit): deselect these tests with
  `-m "not cluster"`.
- `cluster_factory`: creates `harness.Cluster`s in the test's tmp_path and closes every one of
  them at teardown, pass or fail.
- on a failed test, the last 40 lines of every node's log are attached to the report (shown
  in the failure output as a "ringfast node logs" section).
- `proxy_for`: a fault-injecting proxy between a cluster's nodes (faultproxy.py), closed at
  teardown.
- `record_timing`: timings the tests measure (failover, settle, unowned windows) are printed
  in a "ringfast cluster timings" section at the end of the run.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Cluster  # noqa: E402

_TIMINGS: list[tuple[str, str, float]] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: starts real ringfast node processes on loopback (deselect with -m 'not cluster')",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed:
        clusters = getattr(item, "_ringfast_clusters", None)
        if clusters:
            text = "\n\n".join(
                f"=== cluster {i} in {c.dir} ===\n{c.log_tails(40)}" for i, c in enumerate(clusters)
            )
            report.sections.append(("ringfast node logs", text))


@pytest.fixture
def cluster_factory(request: pytest.FixtureRequest, tmp_path):
    """`cluster_factory(n=3, partitions=10, heartbeat_ms=100, check_ms=500, extra_args=(), ...)`
    -> a new, not yet started `Cluster` in its own directory under tmp_path."""
    clusters: list[Cluster] = []
    request.node._ringfast_clusters = clusters

    def make(**kwargs) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(clusters)}", **kwargs)
        clusters.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.close()


@pytest.fixture
def proxy_for():
    """`proxy_for(cluster)` -> a `faultproxy.FaultProxy` between every pair of the cluster's
    nodes (call it before starting them: it sets their routes); closed at teardown."""
    from faultproxy import FaultProxy

    proxies: list[FaultProxy] = []

    def make(cluster: Cluster) -> FaultProxy:
        proxies.append(FaultProxy.for_cluster(cluster))
        return proxies[-1]

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.fixture
def record_timing(request: pytest.FixtureRequest):
    """`record_timing(label, seconds)`: print it now and list it in the end-of-run summary."""

    def record(label: str, seconds: float) -> None:
        print(f"{request.node.nodeid}: {label}: {seconds:.3f}s")
        _TIMINGS.append((request.node.nodeid, label, seconds))

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _TIMINGS:
        return
    terminalreporter.section("ringfast cluster timings")
    for nodeid, label, seconds in _TIMINGS:
        terminalreporter.write_line(f"{seconds:8.3f}s  {label}  ({nodeid})")
