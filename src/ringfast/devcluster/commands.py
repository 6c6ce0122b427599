"""The ``dev-cluster`` and ``status`` subcommands: argparse wiring and the entry points."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .control import ACTIONS
from .processes import (
    DEFAULT_BASE_PORT,
    DEFAULT_STATUS_URL,
    ENGINE_OFFSET,
    MONITORING_OFFSET,
)

# Every `ringfast` command builds this parser, `ringfast node` too: what only these commands
# use (the dev-cluster itself, the HTTP client of `status`) is imported when they run, so a
# node's start does not pay for it (each process of a cold start boots on a shared CPU).

DEV_CLUSTER_HELP = """\
Keyboard (when stdin is a terminal): press a key, then the node's number:
  k N   kill -9 node nN          p N   pause (SIGSTOP) / resume (SIGCONT) nN
  r N   restart nN (same id and ports; a graceful stop first if it runs)
  s N   stop nN gracefully (SIGTERM: it hands its partitions off)
  p e   pause / resume the local engine (--backend etcd|zookeeper)
  q     quit (stops every node)        Esc   cancel a pending key
With 10 or more nodes, end a number that could go on (1 of 12) with Enter.

From another terminal, while it runs:
  ringfast dev-cluster kill n2          (also: pause, resume, restart, stop)
  ringfast dev-cluster nodes [--json]   (every node: pid, state, role, epoch, partitions)
  ringfast dev-cluster quit             (as Ctrl-C)
  ringfast dev-cluster pause engine     (with --backend etcd|zookeeper: SIGSTOP the
                                         local engine; resume engine: SIGCONT)
These talk to the running dev-cluster through its control socket,
$XDG_RUNTIME_DIR/ringfast/dev-cluster-<base-port>.sock (or
/tmp/ringfast-dev-cluster-<uid>/dev-cluster-<base-port>.sock without XDG_RUNTIME_DIR).
With several dev-clusters running, pick one with --base-port.

Ctrl-C or SIGTERM stops every node (SIGCONT for paused ones, SIGTERM, then SIGKILL after
--stop-timeout) and exits 0. When stdout is not a terminal, plain event lines are printed
instead of the live view. Nodes inherit the environment, so RINGFAST_* settings without a
dev-cluster flag (RINGFAST_QUORUM, RINGFAST_LEADER_OWNS_PARTITIONS, ...) apply to all nodes.
"""


def add_commands(sub) -> None:
    """Register this module's subcommands; each sets ``run`` to its entry point."""
    p = sub.add_parser(
        "dev-cluster",
        help="run a local N-node cluster with a live view; or drive a running one",
        description="Start N `ringfast node` processes on 127.0.0.1 and watch the ring, or "
        "(with an ACTION) drive a dev-cluster running in another terminal.",
        epilog=DEV_CLUSTER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=ACTIONS, metavar="ACTION",
                   help="omit to start a dev-cluster; else one of: " + ", ".join(ACTIONS))
    p.add_argument("node", nargs="?", metavar="NODE", help="node id (n2) or number (2), for the node actions")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    p.add_argument("--partitions", type=int, default=10, help="number of partitions (default 10)")
    p.add_argument("--base-port", type=int, default=None,
                   help=f"cluster ports base-port+i, monitoring ports base-port+{MONITORING_OFFSET}+i "
                   f"(default {DEFAULT_BASE_PORT}); with an ACTION: which dev-cluster (default: the only one running)")
    p.add_argument("--heartbeat-ms", type=int, default=1000, help="follower heartbeat period (default 1000)")
    p.add_argument("--check-ms", type=int, default=3000, help="failure timeout and lease (default 3000)")
    p.add_argument("--dir", default=None,
                   help="journals and logs go here (kept); default: a temporary directory removed at exit")
    p.add_argument("--stop-timeout", type=float, default=10.0,
                   help="seconds a node gets to stop after SIGTERM before SIGKILL (default 10)")
    p.add_argument("--duration", type=float, default=None, help="stop everything after this many seconds")
    p.add_argument("--once", action="store_true",
                   help="wait until the ring is complete (a leader, every partition owned; at most --duration, "
                   "default 60 s), print the view, stop; exit 1 if it never completed")
    p.add_argument("--json", action="store_true", help="with ACTION nodes: print JSON")
    p.add_argument("--backend", choices=("builtin", "etcd", "zookeeper"), default="builtin",
                   help="where the ring's state lives (default builtin: the nodes' own protocol); etcd or "
                   f"zookeeper: a local engine is started on port base-port+{ENGINE_OFFSET} (its data removed at exit) "
                   "unless --engine names one")
    p.add_argument("--engine", default=None, metavar="ENDPOINTS",
                   help="with --backend etcd|zookeeper: use this running engine (e.g. http://127.0.0.1:2379 or "
                   "127.0.0.1:2181) instead of starting one")
    p.set_defaults(run=run_dev_cluster)

    s = sub.add_parser(
        "status",
        help="print one node's view of the ring as a table",
        description="GET URL/status of a node's monitoring port and print the members as a table. "
        "Exit 1 if it cannot be reached.",
    )
    s.add_argument("url", nargs="?", default=DEFAULT_STATUS_URL, metavar="URL",
                   help=f"monitoring URL of a node (default {DEFAULT_STATUS_URL}); host:port or a port alone also work")
    s.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)")
    s.add_argument("--json", action="store_true", help="print the /status JSON as it came")
    s.set_defaults(run=run_status)


def run_status(args) -> int:
    from .status import run_status

    return run_status(args)


def run_dev_cluster(args) -> int:
    if args.action is not None:
        from .control import run_control

        return run_control(args)
    if args.node is not None:
        raise ConfigError(f"unexpected argument {args.node!r}")
    if args.base_port is None:
        args.base_port = DEFAULT_BASE_PORT
    from .cluster import DevCluster

    return DevCluster(args).run()
