"""Small helpers shared by the tests: ports for nodes, waiting with a deadline, counters."""

import random
import socket
import time


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


def wait_for(cond, timeout=20.0, what="condition"):
    """Poll `cond` until it is truthy (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


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
