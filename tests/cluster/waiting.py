"""Waiting in tests: deadlines, never bare sleeps.

- `wait_for(predicate, timeout)`: poll until truthy, return the value, or fail with the last one.
- `stays(predicate, duration)`: an observation window; the predicate must hold at every poll.
- `short(value)`: a bounded repr for failure messages.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def short(value: Any, limit: int = 3000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more chars)"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> Any:
    """Poll `predicate` until it returns something truthy, and return that value.

    On timeout raise AssertionError with `message` (a string, or a callable producing one at
    failure time) and the last value the predicate returned. The predicate is always called at
    least once, and once more after the deadline passes (so a slow poll that ends after the
    deadline still counts). Exceptions from the predicate propagate: they are bugs.
    """
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            msg = message() if callable(message) else message
            raise AssertionError(
                f"{msg} (gave up after {now - started:.2f}s; last value: {short(value)})"
            )
        time.sleep(min(interval, max(0.0, deadline - now)))


def stays(
    predicate: Callable[[], Any],
    duration: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition stopped holding",
) -> Any:
    """Poll `predicate` for `duration` seconds; it must be truthy at every poll (an observation
    window, not a sleep). Returns the last value; raises AssertionError with the first falsy
    value seen."""
    started = time.monotonic()
    end = started + duration
    while True:
        value = predicate()
        if not value:
            msg = message() if callable(message) else message
            raise AssertionError(
                f"{msg} (after {time.monotonic() - started:.2f}s of {duration}s; value: {short(value)})"
            )
        now = time.monotonic()
        if now >= end:
            return value
        time.sleep(min(interval, end - now))
