"""``ringfast dev-cluster`` and ``ringfast status``: a local cluster to watch, and one
node's view of the ring as a table.

``ringfast dev-cluster`` starts N real ``ringfast node`` processes on 127.0.0.1 (cluster
ports ``base-port + i``, monitoring ports ``base-port + 100 + i``, ids ``n1..nN``), follows
their journals and shows the ring: a view redrawn in place when stdout is a terminal, plain
event lines otherwise. Nodes are driven from the keyboard (``k 2`` kills n2, ...) or from
another terminal (``ringfast dev-cluster kill n2``) through a Unix socket, the *control
socket*, at ``$XDG_RUNTIME_DIR/ringfast/dev-cluster-<base-port>.sock`` (without
``XDG_RUNTIME_DIR``: ``/tmp/ringfast-dev-cluster-<uid>/``). The protocol on it is one JSON
line each way: ``{"cmd": "kill", "node": "n2"}`` -> ``{"ok", "message", "cluster"}``, where
``cluster`` describes the dev-cluster and every node (pid, state, role, epoch, partitions).

With ``--backend etcd|zookeeper`` it first starts a local engine (``engines``) on
``base-port + 200`` and runs the nodes on it (no cluster ports, no seeds); the engine can
be paused and resumed like a node (``pause engine``, ``p e``) and is stopped after the
nodes. ``--engine ENDPOINTS`` uses a running engine instead.

Every node process runs in its own session (so the terminal's Ctrl-C reaches only the
dev-cluster, which then stops the nodes in order) and, on Linux, is killed by the kernel if
the dev-cluster itself dies (``PR_SET_PDEATHSIG``), so no node outlives it.

The modules:

- ``commands``: the argparse wiring (``add_commands``) and ``run_dev_cluster``;
- ``cluster``: ``DevCluster``, the running dev-cluster: setup, the main loop, teardown;
- ``devnode``: ``DevNode``, one node: its process, its journal, what the journal says;
- ``processes``: ports, starting/signalling/stopping/reaping node processes;
- ``engines``: a local etcd or ZooKeeper (the engine backends' tests start them too);
- ``control``: the control socket: the server side in the dev-cluster, the client side
  (``ringfast dev-cluster ACTION``);
- ``keyboard``: keys and the terminal mode they need;
- ``view``: journal records to events, the ring, the live view and the plain event lines;
- ``status``: ``ringfast status``;
- ``formatting``: partition ranges and text tables, shared by the above.
"""

from __future__ import annotations

import importlib

# name -> the module that holds it, imported on first use (PEP 562): `ringfast node` builds
# the CLI parser with add_commands and should not import the dev-cluster to start.
_LAZY = {
    "DevCluster": "cluster",
    "add_commands": "commands",
    "run_dev_cluster": "commands",
    "control_dir": "control",
    "control_socket_path": "control",
    "DevNode": "devnode",
    "format_ranges": "formatting",
    "format_status": "status",
    "run_status": "status",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
