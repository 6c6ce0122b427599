"""The exceptions ringfast raises.

Every error derives from :class:`RingfastError`, and each specific one also derives from
the builtin it refines, so ``except ValueError`` keeps working for callers that do not
know ringfast's names.
"""

__all__ = [
    "RingfastError",
    "ConfigError",
    "InvalidTypeError",
    "AssignmentError",
    "NotRunningError",
    "PurePythonCoreWarning",
]


class RingfastError(Exception):
    """Base class of every error ringfast raises on purpose."""


class ConfigError(RingfastError, ValueError):
    """A setting (argument or environment variable) has a value outside what it allows."""


class InvalidTypeError(RingfastError, TypeError):
    """An argument has a type ringfast does not accept (a key, a member id, a count)."""


class AssignmentError(RingfastError, ValueError):
    """``assign()`` was given inputs it cannot satisfy (no members, duplicate ids, bad weights)."""


class NotRunningError(RingfastError, RuntimeError):
    """The node is not running (start() was not called, or stop() was)."""


class PurePythonCoreWarning(RuntimeWarning):
    """Issued once at import when the compiled core is unavailable and the (much slower)
    pure-Python core is used instead. Not issued when ``RINGFAST_NO_EXTENSIONS=1`` asks
    for the pure core."""
