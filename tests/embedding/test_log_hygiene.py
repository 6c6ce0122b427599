"""`ringfast node` puts the node id into its log format: a '%' in the id must come out as a
'%', not break every log line."""

import os
import signal
import subprocess
import sys
import time

import pytest
from support import free_ports

pytestmark = pytest.mark.cluster
# Real processes (seconds each): opt-in, run by .ci/hardening.sh after the main test command
heavy = pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1")


@heavy
def test_a_percent_in_the_node_id_keeps_log_lines_intact():
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "ringfast", "node", "--id", "n%(x)s%d%", "--port", str(port),
                             "--monitoring-port", "off", "--log-level", "info"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest = proc.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[1]
    text = "".join(lines) + rest
    assert "Logging error" not in text, text
    assert "[n%(x)s%d%] ringfast.node: node n%(x)s%d% listening on" in text, text
