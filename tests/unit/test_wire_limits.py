"""Settings that are fine one by one but would fail later (on the wire, in a log line) are
refused at start with the setting and the value named; the wire refuses the same ids."""

import json
import os
import struct
import subprocess
import sys

import pytest

from ringfast import Node, protocol
from ringfast.config import Config
from ringfast.keywords import UNIT_NAMES
from ringfast.errors import ConfigError

# Real processes (seconds each): opt-in, run by .ci/hardening.sh after the main test command
heavy = pytest.mark.skipif(not os.environ.get("RINGFAST_HARDENING"), reason="opt-in: RINGFAST_HARDENING=1")

BAD = [
    ({"num_partitions": 200_000}, r"NUM_PARTITIONS=200000: .* more than RINGFAST_MAX_FRAME=4194304"),
    ({"num_partitions": 2_000, "max_frame_size": 4096}, r"NUM_PARTITIONS=2000: .*RINGFAST_MAX_FRAME=4096"),
    ({"node_id": "n" * 257}, r"NODE_ID='nnnn.*257 characters, the wire allows at most 256"),
    ({"cluster_name": "é" * 128}, r"RINGFAST_CLUSTER=.*256 bytes in UTF-8, at most 255"),
    ({"heartbeat_interval": 1600, "failure_timeout": 3000}, r"HEART_BEAT_FREQUENCY \(1600 ms\) is more than half"),
    ({"node_id": "a\udc80b"}, r"NODE_ID='a\\udc80b': the character '\\udc80' is not allowed"),
    ({"node_id": "a\nb"}, r"NODE_ID='a\\nb': the character '\\n' is not allowed"),
    ({"cluster_name": "prod\u2028x"}, r"RINGFAST_CLUSTER=.*not allowed"),
]


@pytest.mark.parametrize("settings, match", BAD)
def test_refused_by_config_and_by_node(settings, match):
    with pytest.raises(ConfigError, match=match):
        Config.load({}, **settings)
    with pytest.raises(ConfigError, match=match):  # the Node keywords say their unit (the same one)
        Node(monitoring_port="off", mode="thread", **{UNIT_NAMES.get(k, k): v for k, v in settings.items()})
    ok = {k: v for k, v in Config.load({}).__dict__.items()}  # a Config built by hand is checked too
    ok.update({k: (v / 1000 if k in ("heartbeat_interval", "failure_timeout") else v) for k, v in settings.items()})
    with pytest.raises(ConfigError, match=match):
        Node(Config(**ok), mode="thread")


def test_the_limits_themselves_are_allowed():
    Config.load({}, num_partitions=140_000, node_id="n" * 256, cluster_name="é" * 127 + "x",
                heartbeat_interval=1500, failure_timeout=3000)


def test_the_largest_frame_estimate_covers_the_real_frames():
    from ringfast.limits import largest_frame

    for P in (1, 10, 11, 1000, 54321):
        cfg = Config.load({}, num_partitions=P, node_id="é" * 256, cluster_name="c" * 255, max_frame_size=1 << 30)
        holdings = [[p, 2**63 - 1] for p in range(P)]
        assign = {"from": cfg.node_id, "epoch": 2**40, "mseq": 2**62, "partitions": holdings}
        heartbeat = {"from": cfg.node_id, "epoch": 2**40, "addr": "a" * 300, "priority": -(2**31), "seq": 2**62,
                     "acked": 2**62, "holdings": holdings, "seen": 2**62, "mv": 2**62}
        for kind, body in (("assign", assign), ("heartbeat", heartbeat)):
            assert len(protocol.encode(kind, body, cfg.cluster_name)) + protocol.Auth.MAC_SIZE <= largest_frame(cfg)


# NODE_ID: a byte that is not UTF-8 in the environment arrives as a lone surrogate
@pytest.mark.parametrize("env", [{"NUM_PARTITIONS": "1000000"}, pytest.param({"NODE_ID": "x%sy\udcff"}, marks=heavy),
                                 pytest.param({"HEART_BEAT_FREQUENCY": "2000"}, marks=heavy)])
def test_ringfast_node_exits_2_naming_the_setting(env):
    name = next(iter(env))
    cp = subprocess.run([sys.executable, "-m", "ringfast", "node", "--port", "1", "--monitoring-port", "off"],
                        capture_output=True, timeout=60, env={**os.environ, **env})
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 2, err
    assert name in err and "Traceback" not in err


@pytest.mark.parametrize("sender", ["a\nb", "x\ud800", "\x1b[31mred", "line\u2028sep"])
def test_the_wire_refuses_the_same_ids(sender):
    def frame(sender_id):
        body = {"from": sender_id, "epoch": 1, "cfg": "10/2/0123456789abcdef", "inc": 1, "addr": "127.0.0.1:1",
                "priority": 0, "wall": 0, "voters": ["127.0.0.1:1"]}
        payload = b"RF" + bytes([protocol.VERSION, protocol.TYPE_OF["hello"], 1]) + b"c" + json.dumps(body).encode()
        return struct.pack(">I", len(payload)) + payload

    # the same hello with a plain id is taken: only the id can be what is refused below
    [(kind, body)] = protocol.Decoder("c", 1 << 16).feed(frame("n1"))
    assert kind == "hello" and body["from"] == "n1"
    with pytest.raises(protocol.ProtocolError) as e:
        protocol.Decoder("c", 1 << 16).feed(frame(sender))
    assert e.value.reason == "field" and "'from'" in str(e.value), str(e.value)
