"""The two helpers every example uses: free ports on loopback, and waiting with a deadline.

Not part of ringfast: the examples run as scripts (`python examples/cache.py`), so this
folder is on sys.path and `import _common` finds this file. An example copied elsewhere
needs this file next to it (or these few lines pasted in).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct ports on `host` that were free a moment ago (the OS picks them: bind to
    port 0). Another program could take one before a node binds it: fine for a demo, not
    for a test suite that runs many clusters side by side."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Call `cond` every `interval` seconds until it returns something truthy, and return
    that; after `timeout` seconds raise TimeoutError naming `what` was awaited.

    It sleeps with time.sleep: in a gevent program patched with monkey.patch_all() that is
    gevent.sleep, which lets the nodes (greenlets in the same hub) run meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
