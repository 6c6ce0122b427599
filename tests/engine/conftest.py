"""Fixtures for the engine backends' tests against real engines: `etcd` starts the binary
(Debian's etcd-server), `zookeeper` a standalone ZooKeeper (Debian's zookeeper, on its Java
runtime), each on free loopback ports with a temporary data dir (ringfast.devcluster.engines,
which the dev-cluster starts too); they wait until it serves, and kill it (by its pid)
afterwards. `engine` is either, one test per backend. Without the
engine the tests are skipped here; CI installs both (.ci/run) and sets
RINGFAST_REQUIRE_ENGINES=1, which turns the skip into a failure."""

from __future__ import annotations

import os

import pytest
from support import free_ports

from ringfast.devcluster.engines import LocalEtcd, LocalZookeeper, missing


def _serve(cls, tmp_path):
    why = missing(cls.backend)
    if why:
        if os.environ.get("RINGFAST_REQUIRE_ENGINES"):
            pytest.fail(f"{why} and RINGFAST_REQUIRE_ENGINES is set")
        pytest.skip(why)
    server = cls(tmp_path, *free_ports(2))
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture
def etcd(tmp_path):
    yield from _serve(LocalEtcd, tmp_path)


@pytest.fixture
def zookeeper(tmp_path):
    yield from _serve(LocalZookeeper, tmp_path)


@pytest.fixture(params=["etcd", "zookeeper"])
def engine(request, tmp_path):
    """Each engine backend in turn (the test reads `engine.backend` and `engine.endpoints`)."""
    yield from _serve(LocalEtcd if request.param == "etcd" else LocalZookeeper, tmp_path)
