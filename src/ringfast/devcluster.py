"""``ringfast dev-cluster`` and ``ringfast status``: a local cluster to watch, and one
node's view of the ring as a table. (Being written: see issue 5.)"""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register this module's subcommands; each sets ``run`` to its entry point."""
