"""How the settings are spelt where users write them: the keywords of ``ringfast.Node(...)``,
``ringfast.Node.from_env(...)`` and ``ringfast.aio.Node(...)``, and the flags of
``ringfast node``, both derived from the one settings table (``config.FIELDS``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from .config import FIELDS, Config, _build
from .errors import ConfigError
from .limits import check_wire_limits

# The keywords of ringfast.Node(...), ringfast.Node.from_env(...) and ringfast.aio.Node(...),
# defined here once: one per setting of FIELDS an embedded node uses, named as in FIELDS
# except that a setting with a unit says it in its name. The value passes to the setting's
# parser unchanged: the parsers take the unit named here (the three ring-election timings in
# milliseconds, as in the environment; ringfast's own timings in seconds).
# tests/unit/test_node_keywords.py holds the three signatures to NODE_KEYWORDS.

UNIT_NAMES = {
    "heartbeat_interval": "heartbeat_interval_ms",
    "failure_timeout": "failure_timeout_ms",
    "reconnect_time": "reconnect_time_ms",
    "handler_timeout": "handler_timeout_s",
    "rejoin_grace": "rejoin_grace_s",
    "max_frame_size": "max_frame_size_bytes",
}
UNITS = {"_ms": "milliseconds", "_s": "seconds", "_bytes": "bytes"}  # suffix -> unit in words

# Settings of FIELDS a Node takes no keyword for, and why.
NOT_EMBEDDED = {
    "log_level": "that is the LOG_LEVEL of `ringfast node`; an embedded node logs to the 'ringfast' logger, "
                 "whose level is the application's: logging.getLogger('ringfast').setLevel(...)",
}

# Node keyword -> Config.load keyword (the FIELDS name), in the order of FIELDS.
NODE_KEYWORDS = {UNIT_NAMES.get(kw, kw): kw for kw, _, _ in FIELDS if kw not in NOT_EMBEDDED}


# The flag of `ringfast node` for each setting of FIELDS: "--" and its Node keyword, unit
# included, with dashes (`--handler-timeout-s`; `--log-level`, which a Node has no keyword
# for), except these names `ringfast node` has had since its first release. ringfast.cli
# builds its flags from these (tests/unit/test_cli_flags.py: every setting has one).
FLAG_NAMES = {
    "node_id": "--id",
    "num_partitions": "--partitions",
    "cluster_name": "--cluster",
    "heartbeat_interval": "--heartbeat-ms",
    "failure_timeout": "--check-ms",
    "reconnect_time": "--reconnect-ms",
}


def flag_of(keyword: str) -> str:
    """The flag of `ringfast node` for a setting of FIELDS (``failure_timeout``: ``--check-ms``)."""
    return FLAG_NAMES.get(keyword, "--" + UNIT_NAMES.get(keyword, keyword).replace("_", "-"))


FLAGS = {kw: flag_of(kw) for kw, _, _ in FIELDS}


def unit_of(keyword: str) -> str | None:
    """The unit a Node keyword's name says, in words (``failure_timeout_ms``: milliseconds)."""
    return next((unit for suffix, unit in UNITS.items() if keyword.endswith(suffix)), None)


def node_config(config: Config | None, keywords: Mapping[str, Any], *, from_env: bool = False) -> Config:
    """The Config of a Node: `config` as given, or one built from the Node keywords in
    `keywords` (those not None; others in the mapping, such as ``self``, are ignored) the way
    :meth:`Config.load` builds it (or, with `from_env`, :meth:`Config.from_env`). An error
    about a keyword's value names the keyword as the caller wrote it."""
    given = {kw: keywords[kw] for kw in NODE_KEYWORDS if keywords.get(kw) is not None}
    if config is not None:
        if given:
            raise ConfigError(f"Node(config=...) takes no other settings; also got {', '.join(sorted(given))}")
        check_wire_limits(config)  # Config.load checks its own; a Config built by hand too
        return config
    settings = {NODE_KEYWORDS[kw]: value for kw, value in given.items()}
    said = {NODE_KEYWORDS[kw]: kw for kw in given}
    return _build(Config, os.environ, settings, bare=from_env, said=said)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def refuse_old_keywords(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wrap a Node constructor so the keywords ``ringfast.Node`` took before its typed ones
    and takes no more (the names without their unit, ``failure_timeout=500``, and
    ``log_level``) raise a ConfigError saying what to write instead, rather than Python's
    bare "unexpected keyword argument". The signature (for mypy, `inspect` and the
    documentation) stays the function's."""

    @functools.wraps(function)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        wrong = [name for name in kwargs if name in UNIT_NAMES or name in NOT_EMBEDDED]
        if wrong:
            raise ConfigError("; ".join(_old_keyword(name, kwargs[name]) for name in wrong))
        return function(*args, **kwargs)

    return checked


def _old_keyword(name: str, value: object) -> str:
    if name in NOT_EMBEDDED:
        return f"{name}={value!r}: a Node takes no {name} ({NOT_EMBEDDED[name]})"
    new = UNIT_NAMES[name]
    return f"{name}={value!r}: say {new}={value!r} ({unit_of(new)}, as {name} was)"
