"""Small helpers shared by tests that start nodes in-process (tests/embedding)."""

import socket
import time


def free_ports(n):
    """n ports the OS says are free now (held together while choosing, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


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
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=2) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f'ringfast_frames_rejected_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
    raise AssertionError(f"no frames_rejected counter for reason {reason!r}")
