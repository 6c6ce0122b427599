"""`ringfast node` speaking another protocol version on the wire: RINGFAST_TEST_WIRE_VERSION
(a test harness setting, read here and never by the library) replaces protocol.VERSION
before the node starts. To a node of this release it looks exactly as a node of an older
release does: every frame it sends carries the other version and is refused as such, and
it refuses every frame of ours. (What an older release does inside is not modelled: the
version check is what keeps the two apart.)

    python tests/cluster/wire_version_node.py --id n1 --port ...   # the arguments of `ringfast node`
"""

import os
import sys

from ringfast import protocol
from ringfast.cli import main

if os.environ.get("RINGFAST_TEST_WIRE_VERSION"):
    protocol.VERSION = int(os.environ["RINGFAST_TEST_WIRE_VERSION"])
sys.exit(main(["node", *sys.argv[1:]]))
