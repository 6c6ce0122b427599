#!/usr/bin/env bash
# The hardening checks that start real processes or make certificates (opt-in in the
# default test run to keep it fast): a monitoring port flooded on a node with few file
# descriptors, TLS handshakes against the pending cap, exit status 2 from `ringfast node`
# for each refused setting, log lines with a '%' in the node id. About half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
RINGFAST_HARDENING=1 python -m pytest -q -p no:cacheprovider \
    tests/embedding/test_monitoring_limits.py tests/embedding/test_preauth_limits.py \
    tests/embedding/test_disk_failures.py tests/embedding/test_log_hygiene.py tests/unit/test_wire_limits.py \
    tests/unit/test_disk.py tests/cluster/test_hostile.py
