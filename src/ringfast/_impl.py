"""The one place that chooses ringfast's core: compiled (``_core``) or plain Python (``_pycore``).

The compiled core is used whenever it imports. Without it (installed where no C compiler
was available, or built with ``RINGFAST_NO_EXTENSIONS=1``) the pure-Python twin takes its
place: same results and errors, much slower. Falling back unasked warns once (a
:class:`~ringfast.errors.PurePythonCoreWarning` and a log line), because an application
that silently lost its compiled core would only notice it as lost throughput.
``RINGFAST_NO_EXTENSIONS=1`` asks for the pure one: that is logged, not warned about.

Every module of the package imports the core's names from here, never from ``._core``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from .errors import ConfigError, PurePythonCoreWarning

__all__ = ["core", "core_implementation", "core_summary", "Key", "Partitioner", "assign", "murmur3", "partition"]

ENV_VAR = "RINGFAST_NO_EXTENSIONS"

logger = logging.getLogger(__name__)


def extensions_disabled(env=None) -> bool:
    """Whether RINGFAST_NO_EXTENSIONS asks for the pure-Python core (1/true/yes/on)."""
    raw = (os.environ if env is None else env).get(ENV_VAR, "")
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{ENV_VAR}={raw!r}: expected 1 (use the pure-Python core) or 0")


def _first_frame_outside() -> int:
    """The stacklevel, for a warning issued by its caller, of the nearest frame outside
    ringfast: the application's `import ringfast` (or of whichever ringfast module it
    imported first). warnings.warn does not count the import machinery's frames."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None:
        frame = frame.f_back
        filename = frame.f_code.co_filename
        if filename.startswith("<frozen importlib"):
            continue
        level += 1
        if not filename.startswith(here):
            break
    return level


def _select() -> tuple[ModuleType, Literal["cython", "python"]]:
    if extensions_disabled():
        from . import _pycore

        logger.info("ringfast uses its pure-Python core: %s=%s", ENV_VAR, os.environ[ENV_VAR])
        return _pycore, "python"
    try:
        # by its full name: a failed `from . import _core` inside the package's own import
        # blames a circular import instead of saying the module is missing
        _core = importlib.import_module(f"{__package__}._core")
    except ImportError as e:
        from . import _pycore

        message = (
            f"ringfast's compiled core is unavailable ({e}); using the pure-Python core, "
            "which gives the same results but is much slower (partition() about 100 times, "
            "partition_many() about 1000 times, assign() 20 to 80 times). Reinstall on a "
            "machine with a C compiler and the Python headers to get it back, or set "
            f"{ENV_VAR}=1 to choose the pure core and silence this warning."
        )
        logger.warning("%s", message)
        warnings.warn(message, PurePythonCoreWarning, stacklevel=_first_frame_outside())
        return _pycore, "python"
    return _core, "cython"


core, core_implementation = _select()  # core_implementation: "cython" or "python"

#: For ``ringfast --version`` and bug reports.
core_summary = (
    "core: cython" if core_implementation == "cython" else "core: python, the slower pure-Python fallback"
)

if TYPE_CHECKING:  # type checkers read the API from _core.pyi, which both cores follow
    from ._core import Key, Partitioner, assign, murmur3, partition
else:
    from typing import Union

    Key = Union[str, bytes, bytearray, memoryview, int]  # what the partitioner hashes (as in _core.pyi)
    Partitioner = core.Partitioner
    assign = core.assign
    murmur3 = core.murmur3
    partition = core.partition
