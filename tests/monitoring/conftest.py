"""Fixtures for the monitoring tests (the OpenAPI description and the dashboard).

- `live_ring(n=3, partitions=10, ...)`: a started `livering.LiveRing` of real node processes
  in the test's tmp_path; every process is killed at teardown, pass or fail. On failure the
  nodes' last log lines are attached to the report ("ringfast node logs").
- `openapi`: the OpenAPI description shipped in the package, parsed.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import resources

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from livering import LiveRing  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    rings = getattr(item, "_monitoring_rings", None)
    if report.when in ("setup", "call") and report.failed and rings:
        report.sections.append(("ringfast node logs", "\n\n".join(r.log_tails() for r in rings)))


@pytest.fixture
def live_ring(request: pytest.FixtureRequest, tmp_path):
    rings: list[LiveRing] = []
    request.node._monitoring_rings = rings

    def make(**kwargs) -> LiveRing:
        ring = LiveRing(tmp_path / f"ring{len(rings)}", **kwargs)
        rings.append(ring)
        return ring.start()

    try:
        yield make
    finally:
        for ring in rings:
            ring.close()


@pytest.fixture(scope="session")
def openapi() -> dict:
    return json.loads(resources.files("ringfast").joinpath("openapi.json").read_text(encoding="utf-8"))
