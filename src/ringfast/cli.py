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

# flag -> Config keyword; values stay strings and are checked by Config, which names the flag
NODE_FLAGS = [
    ("--id", "node_id", "node id (NODE_ID); default host:port"),
    ("--host", "host", "bind address of the cluster port (HOST); default: 127.0.0.1 if the seeds are on "
                       "loopback, else the local address that routes to them"),
    ("--advertise", "advertise", "name or address (optionally :port) the others reach this node at, compared "
                                 "with the seed entries (RINGFAST_ADVERTISE); default: --host, or this "
                                 "machine's entry in --seeds"),
    ("--port", "port", "cluster port (PORT)"),
    ("--seeds", "seeds", "host:port,... of the seed nodes (SEED_NODES)"),
    ("--priority", "priority", "lower leads (PRIORITY); default: position in --seeds"),
    ("--partitions", "num_partitions", "number of partitions (NUM_PARTITIONS, default 10)"),
    ("--monitoring-port", "monitoring_port", "HTTP monitoring port (MONITORING_PORT, default 9000; 'off')"),
    ("--monitoring-host", "monitoring_host", "HTTP monitoring address (MONITORING_HOST, default the cluster port's)"),
    ("--quorum", "quorum", "majority (default), none (unsafe), or a number (RINGFAST_QUORUM)"),
    ("--cluster", "cluster_name", "cluster name, checked on every frame (RINGFAST_CLUSTER)"),
    ("--journal", "journal", "append events as JSON lines to this file (RINGFAST_JOURNAL)"),
    ("--secret-file", "secret_file", "file holding the shared cluster secret (RINGFAST_SECRET_FILE)"),
    ("--tls-cert", "tls_cert", "this node's certificate, PEM (RINGFAST_TLS_CERT); with --tls-key and --tls-ca"),
    ("--tls-key", "tls_key", "its private key, PEM (RINGFAST_TLS_KEY)"),
    ("--tls-ca", "tls_ca", "the CA that signs every member's certificate (RINGFAST_TLS_CA)"),
    ("--state-dir", "state_dir", "keep the highest epoch here across restarts (RINGFAST_STATE_DIR)"),
    ("--log-level", "log_level", "debug, info, warning, error (LOG_LEVEL)"),
]
MS_FLAGS = [
    ("--heartbeat-ms", "heartbeat_interval", "HEART_BEAT_FREQUENCY"),
    ("--check-ms", "failure_timeout", "HEART_BEAT_CHECK_FREQUENCY"),
    ("--reconnect-ms", "reconnect_time", "TIME_TO_RECONNECT"),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 2, like a bad setting
        print(f"ringfast: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ringfast", description="ringfast cluster coordination")
    parser.add_argument("--version", action="version", version=f"ringfast {__version__} ({core_summary})")
    sub = parser.add_subparsers(dest="command")
    node = sub.add_parser("node", help="run one node until SIGTERM/SIGINT")
    for flag, dest, text in NODE_FLAGS:
        node.add_argument(flag, dest=dest, help=text)
    for flag, dest, env in MS_FLAGS:
        node.add_argument(flag, dest=dest, help=f"milliseconds ({env})")
    node.add_argument("--exit-mode", choices=["leave", "restart"], default=None,
                      help="on SIGTERM/SIGINT: hand partitions off (leave, default) or keep them for a return (restart); RINGFAST_EXIT_MODE")
    from . import devcluster

    devcluster.add_commands(sub)
    return parser


def _node_config(args):
    from .config import ENV_NAMES, Config

    kwargs = {}
    for flag, dest, _ in NODE_FLAGS:
        value = getattr(args, dest)
        if value is not None:
            kwargs[dest] = value
    env = dict(os.environ)
    for flag, dest, _ in MS_FLAGS:  # flags in ms go through the env parser, which converts
        value = getattr(args, dest)
        if value is not None:
            env[ENV_NAMES[dest]] = value
    try:
        return Config.from_env(env, **kwargs)
    except ConfigError as e:
        flag_of = {dest: flag for flag, dest, _ in NODE_FLAGS}
        msg = str(e)
        for dest, flag in flag_of.items():  # say the flag's name when a flag was wrong
            if msg.startswith(f"{dest}="):
                msg = flag + msg[len(dest):]
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
