"""Where a `Node` runs: two small handler objects behind one interface.

* `base.py`: the interface, `Handler` (a `typing.Protocol`).
* `gevent_handler.py`: `GeventHandler`, mode
  `"gevent"`: the node runs in the application's own gevent hub; callbacks are greenlets
  there.
* `thread_handler.py`: `ThreadHandler`, mode
  `"thread"`: the node runs its own hub in a thread of its own; callbacks run on a worker
  thread of that hub.

`Node` picks one from its `mode` (`for_mode`) and otherwise
never asks which it has.
"""

from __future__ import annotations

from typing import Literal

import gevent.monkey

from ..errors import ConfigError
from .base import CallbackTimeout, EventLike, Handler
from .gevent_handler import GeventHandler
from .thread_handler import ThreadHandler

__all__ = ["CallbackTimeout", "EventLike", "GeventHandler", "Handler", "ThreadHandler", "for_mode"]


def for_mode(mode: Literal["auto", "gevent", "thread"]) -> Handler:
    """A new handler for `mode`: `"auto"` is `"gevent"` when `threading` is
    monkey-patched, else `"thread"`. Raises `ConfigError` for any other mode."""
    if mode == "auto":
        mode = "gevent" if gevent.monkey.is_module_patched("threading") else "thread"
    if mode == "gevent":
        return GeventHandler()
    if mode == "thread":
        return ThreadHandler()
    raise ConfigError(f"mode={mode!r}: expected 'auto', 'gevent' or 'thread'")
