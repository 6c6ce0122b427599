"""The ``ringfast`` console command.

``ringfast node`` runs one node until SIGTERM/SIGINT, configured by flags or by
environment variables (flags win): ``RINGFAST_`` names and ring-election's bare ones
(``Config.from_env``). A bad setting exits with status 2 and one line naming the setting and
its value.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ._impl import core_summary  # "core: cython" or the pure-Python fallback, for --version
from ._version import __version__
from .errors import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 2, like a bad setting
        print(f"ringfast: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ringfast", description="ringfast cluster coordination")
    parser.add_argument("--version", action="version", version=f"ringfast {__version__} ({core_summary})")
    sub = parser.add_subparsers(dest="command")
    node = sub.add_parser(
        "node", help="run one node until SIGTERM/SIGINT",
        description="Run one node until SIGTERM/SIGINT. Every setting is a flag here, an environment "
                    "variable (named in brackets) and a keyword of ringfast.Node; flags win over the "
                    "environment.",
    )
    # One flag per setting of config.FIELDS, named by keywords.flag_of, explained by the same rows as
    # the docs' configuration table (ringfast.settings). Values stay strings: the setting's
    # parser in FIELDS checks and converts them, and an error names the flag (_node_config).
    from .config import prefixed
    from .settings import plain, settings_rows

    for row in settings_rows():
        env = row["env"] if prefixed(row["env"]) == row["env"] else f"{row['env']} or {prefixed(row['env'])}"
        text = f"{plain(row['meaning'])} [{env}; default: {plain(row['cli_default'])}]"
        metavar = {"ms": "MS", "s": "SECONDS", "bytes": "BYTES"}.get(row["unit"], row["keyword"].upper())
        if row["default"] in ("`true`", "`false`"):
            metavar = "true|false"
        node.add_argument(row["flag"], dest=row["keyword"], metavar=metavar, help=text.replace("%", "%%"))
    # not a setting of the node: what this command does on a signal (an embedded node is told
    # by its application: Node.stop(restart=...))
    node.add_argument("--exit-mode", choices=["leave", "restart"], default=None,
                      help="on SIGTERM/SIGINT: hand partitions off (leave) or keep them for a return within the "
                           "rejoin grace (restart) [RINGFAST_EXIT_MODE; default: leave]")
    from .devcluster.commands import add_commands

    add_commands(sub)
    return parser


def _node_config(args):
    from .config import FIELDS, Config
    from .keywords import flag_of

    # Flags are keywords of Config.from_env, in the environment's units (the ms flags in
    # milliseconds): they win over every environment variable.
    kwargs = {kw: getattr(args, kw) for kw, _, _ in FIELDS if getattr(args, kw, None) is not None}
    try:
        return Config.from_env(dict(os.environ), **kwargs)
    except ConfigError as e:
        msg = str(e)
        for kw in kwargs:  # say the flag's name when a flag was wrong
            if msg.startswith(f"{kw}="):
                msg = flag_of(kw) + msg[len(kw):]
        raise ConfigError(msg) from None


def run_node(args) -> int:
    import gevent
    import gevent.event

    from .node import Node

    config = _node_config(args)
    exit_mode = args.exit_mode or os.environ.get("RINGFAST_EXIT_MODE", "leave")
    if exit_mode not in ("leave", "restart"):
        raise ConfigError(f"RINGFAST_EXIT_MODE={exit_mode!r}: expected leave or restart")
    # the id goes into the format itself: a '%' in it must stay a '%' (config.py refuses the
    # control characters that could forge a line)
    tag = (config.node_id or "node").replace("%", "%%")
    logging.basicConfig(
        level=config.log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s [" + tag + "] %(name)s: %(message)s",
    )
    node = Node(config, mode="gevent")
    stop = gevent.event.Event()
    node.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)
    stop.wait()
    logging.getLogger("ringfast.cli").info("signal received: stopping (%s)", exit_mode)
    node.stop(restart=exit_mode == "restart")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "node":
            return run_node(args)
        if getattr(args, "run", None) is not None:
            return args.run(args)
    except ConfigError as e:
        print(f"ringfast: {e}", file=sys.stderr)
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
