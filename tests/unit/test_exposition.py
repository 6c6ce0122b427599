"""/metrics in Prometheus' text format, read back with prometheus_client's own parser (the
oracle: a test dependency only, never imported by ringfast)."""

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ringfast.exposition import Counter, Gauge, Histogram, Registry


def parse(registry):
    return {f.name: f for f in text_string_to_metric_families(registry.render().decode())}


def samples(family):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def test_counters_gauges_and_labels_read_back_as_prometheus_reads_them():
    r = Registry()
    c = Counter("demo_things", "Things done", r)
    refused = Counter("demo_refused", 'Refused, by "reason"\\ and a newline\nhere', r, ["reason"])
    g = Gauge("demo_level", "A level", r)
    live = [3.0]
    Gauge("demo_live", "Read at scrape time", r, lambda: live[0])
    c.inc()
    c.inc(2.5)
    refused.labels(reason="idle").inc()
    refused.labels(reason='odd "value"\\\n').inc(4)
    refused.labels(reason="zero")  # exported at 0 before anything happened
    g.set(-1.25)
    live[0] = 7
    fams = parse(r)
    assert fams["demo_things"].type == "counter"
    assert samples(fams["demo_things"]) == {("demo_things_total", ()): 3.5}
    assert fams["demo_refused"].documentation == 'Refused, by "reason"\\ and a newline\nhere'
    assert samples(fams["demo_refused"]) == {
        ("demo_refused_total", (("reason", "idle"),)): 1.0,
        ("demo_refused_total", (("reason", 'odd "value"\\\n'),)): 4.0,
        ("demo_refused_total", (("reason", "zero"),)): 0.0,
    }
    assert samples(fams["demo_level"]) == {("demo_level", ()): -1.25}
    assert samples(fams["demo_live"]) == {("demo_live", ()): 7.0}


def test_a_histogram_has_cumulative_buckets_a_count_and_a_sum():
    r = Registry()
    h = Histogram("demo_seconds", "Durations", r, buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0, float("nan")):
        h.observe(v)
    got = samples(parse(r)["demo_seconds"])
    assert got[("demo_seconds_bucket", (("le", "0.1"),))] == 2
    assert got[("demo_seconds_bucket", (("le", "1.0"),))] == 3
    assert got[("demo_seconds_bucket", (("le", "+Inf"),))] == 5
    assert got[("demo_seconds_count", ())] == 5
    assert math.isnan(got[("demo_seconds_sum", ())])
    h2 = Histogram("demo2_seconds", "Durations", r, buckets=(1.0,))
    h2.observe(0.25)
    h2.observe(2.0)
    assert samples(parse(r)["demo2_seconds"])[("demo2_seconds_sum", ())] == 2.25


def test_mistakes_are_refused_with_what_was_wrong():
    r = Registry()
    c = Counter("demo", "x", r, ["reason"])
    with pytest.raises(ValueError, match="registered twice"):
        Counter("demo", "again", r)
    with pytest.raises(ValueError, match=r"takes the labels \('reason',\), got \('peer',\)"):
        c.labels(peer="a")
    with pytest.raises(ValueError, match="use labels"):
        c.inc()
    with pytest.raises(ValueError, match=r"only goes up: inc\(-1\)"):
        c.labels(reason="a").inc(-1)
    with pytest.raises(ValueError, match="strictly increasing"):
        Histogram("h", "x", r, buckets=(1.0, 0.5))


def test_a_nodes_metrics_all_parse_and_importing_ringfast_leaves_prometheus_client_out():
    import subprocess
    import sys

    code = ("import sys, ringfast, ringfast.node, ringfast.monitoring, ringfast.cli\n"
            "n = ringfast.Node(node_id='x', host='127.0.0.1', port=0, seeds='127.0.0.1:1', monitoring_port='off')\n"
            "from ringfast.metrics import Metrics\n"
            "sys.stdout.write(Metrics(n).render().decode())\n"
            "assert 'prometheus_client' not in sys.modules, 'prometheus_client was imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names = {f.name for f in text_string_to_metric_families(out.stdout)}
    assert {"ringfast_is_leader", "ringfast_frames_rejected", "ringfast_heartbeat_rtt_seconds",
            "ringfast_peer_resolve_failures"} <= names
