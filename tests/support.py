"""Small helpers shared by the tests (tests/conftest.py puts this folder on sys.path):

- `free_ports(n)`: n distinct free ports for nodes on loopback;
- `wait_for(cond, timeout, what)`: poll until truthy, return the value, or fail naming what
  was awaited: the one way tests wait; `stays(cond, duration, what)`: an observation window;
- `rejected`, `refused`: a node's refusal counters, read from its /metrics.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from typing import Any, Callable, TypeVar

import pytest

T = TypeVar("T")


def ephemeral_low(default=32768):
    """The first port the kernel hands to outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


_HANDED_OUT = set()  # never twice in one test run: an earlier node's port may linger
_LOWEST = 10000


def free_ports(n, host="127.0.0.1"):
    """n distinct ports on `host`, each checked free by binding it, from below the
    ephemeral range.

    Ports the OS picks with bind(0) come from the ephemeral range, the very range every
    other bind(0) and every outgoing connection take theirs from: in the moment between
    choosing a port and the node binding it, the fault proxy's own listeners or a node's
    connection could take it, and the node would exit with "address in use". That happened
    in CI. Below the range only an explicit bind can take a port, and each port is
    handed out once per test run. The start is random, so concurrent runs rarely meet.
    """
    low = ephemeral_low()
    if low - _LOWEST < 100 * n:  # an unusual port range: fall back to the OS's choice
        return _os_ports(n, host)
    span = low - _LOWEST
    start = random.randrange(span)
    ports, socks = [], []
    try:
        for i in range(span):
            port = _LOWEST + (start + i) % span
            if port in _HANDED_OUT:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)  # held until all n are chosen
            ports.append(port)
            if len(ports) == n:
                break
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        raise RuntimeError(f"only {len(ports)} free ports below {low} on {host}, {n} needed")
    _HANDED_OUT.update(ports)
    return ports


def _os_ports(n, host):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(
    cond: Callable[[], T],
    timeout: float = 20.0,
    what: str | Callable[[], str] = "condition",
    *,
    interval: float = 0.05,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `cond` until it returns something truthy, and return that value: the one way
    the tests wait (a deadline, never a bare sleep).

    `cond` is called at least once, and once more after the deadline has passed (a slow poll
    that ends late still counts), with `interval` seconds between polls. At the deadline:
    AssertionError "timed out after X s waiting for `what`; last value: ...". `what` names
    what was awaited ("the ring to settle"), or is a callable that describes it at failure
    time (with the state worth showing then).

    Exceptions from `cond` propagate at once: they are bugs, or a deliberate fast failure
    (convergence.settled raises when a node exited unasked, so the test fails with its log
    instead of waiting out the deadline). Exceptions of the types in `retry_on` count as a
    falsy poll instead (say, a server not answering yet), and the last one is reported.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            value: Any = cond()
        except retry_on as e:
            value = e
        else:
            if value:
                return value
        now = time.monotonic()
        if now >= deadline:
            name = what() if callable(what) else what
            raise AssertionError(
                f"timed out after {now - started:.2f}s waiting for {name}; last value: {short(value)}"
            )
        time.sleep(min(interval, deadline - now))


def stays(
    cond: Callable[[], T],
    duration: float,
    what: str | Callable[[], str] = "condition",
    *,
    interval: float = 0.05,
) -> T:
    """Poll `cond` for `duration` seconds: it must be truthy at every poll (an observation
    window, not a sleep). Returns the last value; AssertionError "expected `what` for D s,
    not so after X s" with the first falsy value seen. `what` names what must hold ("the
    cluster to stay settled"), a string or a callable, as in wait_for."""
    started = time.monotonic()
    end = started + duration
    while True:
        value = cond()
        if not value:
            name = what() if callable(what) else what
            raise AssertionError(
                f"expected {name} for {duration}s, not so after {time.monotonic() - started:.2f}s; "
                f"value: {short(value)}"
            )
        now = time.monotonic()
        if now >= end:
            return value
        time.sleep(min(interval, end - now))


def short(value: object, limit: int = 3000) -> str:
    """repr(value), cut to `limit` characters (for failure messages)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more chars)"


def rejected(mport, reason):
    """A node's ringfast_frames_rejected_total{reason=...}, read from its /metrics."""
    return _counter(mport, "ringfast_frames_rejected_total", reason)


def refused(mport, reason):
    """A node's ringfast_peers_refused_total{reason=...}, read from its /metrics."""
    return _counter(mport, "ringfast_peers_refused_total", reason)


def _counter(mport, family, reason):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=2) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f'{family}{{reason="{reason}"}}'):
                return float(line.split()[-1])
    raise AssertionError(f"no {family} counter for reason {reason!r}")


def kill_and_wait(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process we started for good: SIGCONT first (a SIGSTOPped process cannot die
    of SIGKILL until it runs), then SIGKILL, and reap it."""
    if proc.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process stuck in D state
        pass


# For a test whose ZooKeeper run goes in the long run: the same path through the node is run
# on etcd by default, and what differs on ZooKeeper (zkplan's mapping) has unit tests; this
# keeps the README's test command under its 5 minutes (302 s with every test on both).
ZOOKEEPER_IN_LONG_RUN = pytest.mark.parametrize(
    "engine", ["etcd", pytest.param("zookeeper", marks=pytest.mark.long)], indirect=True)
