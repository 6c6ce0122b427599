"""The interface between a `Node` and the place its loop runs.

A node always runs on a gevent hub (its connections are gevent sockets, its timers
greenlets); what differs between the modes is *which* hub, and how the application's
thread meets it:

* the loop: where the node's greenlets run (the application's hub, or a hub of the
  node's own in a thread of its own), started and stopped by `start` and `stop`;
* the application's callbacks: run by `run_callback`, bounded by a timeout, without
  stopping the loop while they run;
* the application's thread: it waits on an `event()` the loop sets, and calls into the
  loop with `call_soon_threadsafe`.

`Handler` is that interface (a `typing.Protocol`); `GeventHandler` (`handlers/gevent_handler.py`)
and `ThreadHandler` (`handlers/thread_handler.py`) implement it. The idea is kazoo's handlers
(`kazoo.handlers.gevent`, `kazoo.handlers.threading`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import gevent

if TYPE_CHECKING:
    from gevent import Greenlet
    from gevent.hub import Hub

T = TypeVar("T")


class CallbackTimeout(Exception):
    """Raised by `Handler.run_callback`: the callback did not return within its timeout
    (it may still be running: a thread cannot be killed, and a greenlet is left to finish
    alike)."""


class EventLike(Protocol):
    """A flag the loop sets and clears and the application's thread waits on. `is_set`
    may be called from any thread."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool:
        """Block the caller (cooperatively, in a gevent application) until the flag is set,
        at most `timeout` seconds; True if it is set."""
        ...


class Handler(Protocol):
    """How a node's gevent loop runs. Methods marked *in the loop* are called only from
    the loop's greenlets; the others from the application's thread."""

    name: Literal["gevent", "thread"]
    """The mode this handler implements (`Node.mode`)."""

    def start(self, setup: Callable[[], None], name: str) -> None:
        """Start the loop and run `setup` in it; return once `setup` returned, raising
        what it raised (the loop is then not left running). `name`: for a thread, if any."""
        ...

    def stop(self, teardown: Callable[[], None], timeout: float) -> None:
        """Run `teardown` in the loop, wait for it (about `timeout` seconds, at most a few
        more), then end the loop if the handler started one."""
        ...

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        """From any thread: run `fn` soon, as a greenlet of the loop."""
        ...

    def spawn(self, fn: Callable[..., object], *args: Any) -> Greenlet[..., Any]:
        """In the loop: run `fn(*args)` as a greenlet of the loop."""
        ...

    def spawn_later(self, seconds: float, fn: Callable[..., object], *args: Any) -> Greenlet[..., Any]:
        """In the loop: run `fn(*args)` as a greenlet of the loop in `seconds`."""
        ...

    def sleep(self, seconds: float) -> None:
        """In the loop: let the other greenlets run for `seconds`."""
        ...

    def run_callback(self, fn: Callable[[T], object], arg: T, timeout: float) -> None:
        """In the loop: run the application's `fn(arg)` where application code runs (a
        greenlet, or a worker thread), the loop running on meanwhile; return when it
        returned, re-raise what it raised, or raise `CallbackTimeout` after `timeout`
        seconds."""
        ...

    def event(self) -> EventLike:
        """A new flag for the loop to set and the application to wait on."""
        ...


class GeventLoop:
    """What both handlers share: inside the loop, a node's greenlets are plain gevent.
    `start` sets `_hub`, the loop's hub."""

    _hub: Hub | None = None

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        hub = self._hub
        assert hub is not None, "the loop is not started"
        # the callback runs in the hub's own greenlet, which must not block: it only spawns
        hub.loop.run_callback_threadsafe(lambda: gevent.spawn(fn))

    def spawn(self, fn: Callable[..., object], *args: Any) -> Greenlet[..., Any]:
        return gevent.spawn(fn, *args)

    def spawn_later(self, seconds: float, fn: Callable[..., object], *args: Any) -> Greenlet[..., Any]:
        return gevent.spawn_later(seconds, fn, *args)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)
