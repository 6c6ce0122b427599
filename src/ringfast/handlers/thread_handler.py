"""`ThreadHandler`: the node runs its own gevent hub in a thread of its own (mode `"thread"`).

For plain threaded programs: a busy main thread cannot starve the node's heartbeats, as
the hub has a thread to itself; callbacks run on a worker thread of that hub's pool, so a
slow callback cannot starve them either. The application's threads block on real
`threading` primitives, never on the hub. The threads are the real ones even where gevent
has monkey-patched `threading`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, TypeVar

import gevent
import gevent.monkey

from .base import CallbackTimeout, GeventLoop

T = TypeVar("T")

_RealThread: type[threading.Thread] = gevent.monkey.get_original("threading", "Thread")
_RealEvent: type[threading.Event] = gevent.monkey.get_original("threading", "Event")
_POLL_S = 0.05  # how often the thread's main greenlet looks whether to end
_JOIN_GRACE_S = 5.0  # past the teardown's own timeout, before stop() gives up waiting for it


class ThreadHandler(GeventLoop):
    """The loop is a hub in a daemon thread this handler starts, running until `stop`'s
    teardown returned."""

    name: Literal["gevent", "thread"] = "thread"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._started = _RealEvent()
        self._error: BaseException | None = None
        self._finished = False  # set by stop()'s teardown once it returned: the loop then ends

    def start(self, setup: Callable[[], None], name: str) -> None:
        self._started.clear()
        self._error = None
        self._finished = False
        self._thread = _RealThread(target=self._main, args=(setup,), name=name, daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _main(self, setup: Callable[[], None]) -> None:
        self._hub = gevent.get_hub()
        try:
            setup()
        except BaseException as e:  # reported to start() in the caller's thread
            self._error = e
            self._started.set()
            return
        self._started.set()
        while not self._finished:  # (a sleeping greenlet: the hub never runs out of watchers)
            gevent.sleep(_POLL_S)
        gevent.sleep(0)  # let closing greenlets finish

    def stop(self, teardown: Callable[[], None], timeout: float) -> None:
        done = _RealEvent()
        thread = self._thread
        assert thread is not None, "stop() before start()"

        def run() -> None:
            try:
                teardown()
            finally:
                self._finished = True
                done.set()

        self.call_soon_threadsafe(run)
        done.wait(timeout + _JOIN_GRACE_S)
        thread.join(timeout + _JOIN_GRACE_S)

    def run_callback(self, fn: Callable[[T], object], arg: T, timeout: float) -> None:
        assert self._hub is not None
        result = self._hub.threadpool.spawn(fn, arg)
        result.wait(timeout)  # in the loop: other greenlets run meanwhile
        if not result.ready():
            raise CallbackTimeout(f"not returned within {timeout:.1f}s")  # a thread cannot be killed: left running
        result.get()  # re-raises what it raised

    def event(self) -> threading.Event:
        return _RealEvent()
