"""`GeventHandler`: the node runs in the application's own gevent hub (mode `"gevent"`).

For gevent applications (the `threading` module monkey-patched, usually): the node's
greenlets join the hub of the thread that calls `start()`, and callbacks run as greenlets
there too. Nothing blocks the hub: waiting, as in `wait_until_ready`, yields to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import gevent
import gevent.monkey

from .base import CallbackTimeout, GeventLoop

if TYPE_CHECKING:
    import threading

T = TypeVar("T")

_RealEvent: type[threading.Event] = gevent.monkey.get_original("threading", "Event")
_POLL_S = 0.01  # how often a waiter looks at the flag


class GeventHandler(GeventLoop):
    """The loop is the calling thread's hub; `start` and `stop` run their setup and
    teardown at once, in the caller's greenlet."""

    name: Literal["gevent", "thread"] = "gevent"

    def start(self, setup: Callable[[], None], name: str) -> None:
        self._hub = gevent.get_hub()
        setup()

    def stop(self, teardown: Callable[[], None], timeout: float) -> None:
        teardown()

    def run_callback(self, fn: Callable[[T], object], arg: T, timeout: float) -> None:
        g = gevent.spawn(fn, arg)
        g.join(timeout)
        if not g.ready():
            raise CallbackTimeout(f"not returned within {timeout:.1f}s")  # left running, as a thread would be
        g.get()  # re-raises what it raised

    def event(self) -> CooperativeEvent:
        return CooperativeEvent()


class CooperativeEvent:
    """A flag any thread may read, whose `wait` yields to the hub instead of blocking it.

    A real (not monkey-patched) `threading.Event` underneath: `is_set()` answers from any
    thread, whichever hub set it; the wait polls it, as a gevent event could only be
    waited on from its own hub."""

    def __init__(self) -> None:
        self._flag = _RealEvent()

    def set(self) -> None:
        self._flag.set()

    def clear(self) -> None:
        self._flag.clear()

    def is_set(self) -> bool:
        return self._flag.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._flag.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            gevent.sleep(_POLL_S)
        return True
