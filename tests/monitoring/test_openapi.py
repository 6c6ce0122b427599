"""The OpenAPI description (src/ringfast/openapi.json) against a live ring's real answers.

The schemas are strict (every field required, no extra ones, exact types), so a field added,
renamed or retyped in monitoring.py without updating the description fails here. The first
tests check the description itself and that the schemas do reject wrong bodies (so the live
test cannot pass vacuously); the cluster tests validate every endpoint of a running 3-node
ring, then the 503 of /health on a node that has lost its leader.
"""

from __future__ import annotations

import copy
import re
import pytest

from support import wait_for
from minischema import errors, resolve

PATHS = {"/status", "/partitions", "/health", "/metrics", "/", "/openapi.json"}

SAMPLE_STATUS = {
    "node": {"id": "n2", "address": "127.0.0.1:7002", "priority": 1, "role": "follower"},
    "leader": "n1",
    "epoch": 1795704951,
    "num_partitions": 4,
    "members": [
        {"id": "n1", "address": "127.0.0.1:7001", "priority": 0, "role": "leader", "partitions": []},
        {"id": "n2", "address": "127.0.0.1:7002", "priority": 1, "role": "follower", "partitions": [0, 1]},
        {"id": "n3", "address": "127.0.0.1:7003", "priority": 2, "role": "follower", "partitions": [2, 3]},
    ],
}
SAMPLE_PARTITIONS = {"node": "n2", "epoch": 7, "partitions": [0, 1], "tokens": {"0": 15032385537, "1": 15032385537}}


def schema_for(spec: dict, path: str, status: int, media: str) -> dict:
    responses = spec["paths"][path]["get"]["responses"]
    response = responses.get(str(status)) or responses["default"]
    if "$ref" in response:
        response = resolve(spec, response["$ref"])
    return response["content"][media]["schema"]


def check(spec: dict, instance, schema: dict, what: str) -> None:
    problems = errors(instance, schema, spec)
    assert not problems, f"{what} does not match openapi.json:\n  " + "\n  ".join(problems) + f"\nbody: {instance!r}"


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


# ------------------------------------------------------------------ the description itself


def test_description_is_openapi_31_and_covers_every_endpoint(openapi):
    assert openapi["openapi"].startswith("3.1.")
    assert set(openapi["paths"]) == PATHS
    for path, item in openapi["paths"].items():
        assert set(item) == {"get"}, path
        op = item["get"]
        assert op["operationId"] and op["summary"], path
        assert "200" in op["responses"] and "default" in op["responses"], path

    def walk(node):  # every $ref resolves, and every schema uses only what minischema checks
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(openapi, node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi)
    for name, schema in openapi["components"]["schemas"].items():
        errors(None, schema, openapi, name)  # raises UnsupportedKeyword on an unknown keyword


def test_schemas_accept_real_shapes_and_reject_wrong_ones(openapi):
    status = schema_for(openapi, "/status", 200, "application/json")
    check(openapi, SAMPLE_STATUS, status, "sample /status")
    leaderless = {**SAMPLE_STATUS, "leader": None, "members": [],
                  "node": {**SAMPLE_STATUS["node"], "role": "candidate"}}
    check(openapi, leaderless, status, "leaderless /status")

    def mutated(fn):
        body = copy.deepcopy(SAMPLE_STATUS)
        fn(body)
        return body

    wrong = {
        "missing field": mutated(lambda b: b.pop("epoch")),
        "extra field": mutated(lambda b: b.update(term=3)),
        "extra member field": mutated(lambda b: b["members"][0].update(addr="x")),
        "renamed node field": mutated(lambda b: b["node"].update(addr=b["node"].pop("address"))),
        "epoch as text": mutated(lambda b: b.update(epoch="7")),
        "epoch as bool": mutated(lambda b: b.update(epoch=True)),
        "leader as number": mutated(lambda b: b.update(leader=1)),
        "unknown role": mutated(lambda b: b["node"].update(role="boss")),
        "member candidate": mutated(lambda b: b["members"][1].update(role="candidate")),
        "partition repeated": mutated(lambda b: b["members"][1].update(partitions=[0, 0])),
        "negative partition": mutated(lambda b: b["members"][1].update(partitions=[-1])),
        "no partitions": mutated(lambda b: b.update(num_partitions=0)),
    }
    for label, body in wrong.items():
        assert errors(body, status, openapi), f"{label} was accepted"

    parts = schema_for(openapi, "/partitions", 200, "application/json")
    check(openapi, SAMPLE_PARTITIONS, parts, "sample /partitions")
    for label, tokens in {"key not a number": {"a": 1}, "key with sign": {"+1": 1}, "token text": {"0": "1"}}.items():
        assert errors({**SAMPLE_PARTITIONS, "tokens": tokens}, parts, openapi), label

    ok = schema_for(openapi, "/health", 200, "application/json")
    down = schema_for(openapi, "/health", 503, "application/json")
    check(openapi, {"status": "ok", "role": "leader", "epoch": 3}, ok, "health ok")
    check(openapi, {"status": "unavailable", "role": "candidate", "epoch": 3, "reason": "no leader"}, down, "health 503")
    assert errors({"status": "unavailable", "role": "follower", "epoch": 3, "reason": "x"}, ok, openapi)
    assert errors({"status": "unavailable", "role": "follower", "epoch": 3}, down, openapi)

    error = openapi["components"]["schemas"]["Error"]
    check(openapi, {"title": "404 Not Found"}, error, "error")
    assert errors({"title": "404 Not Found", "traceback": "..."}, error, openapi)


# ------------------------------------------------------------------ live ring


def check_endpoint(ring, openapi, node_id: str, path: str):
    """GET path on a node, check status, content type and body against the description;
    returns the response."""
    resp = ring.request(node_id, path)
    op = openapi["paths"][path]["get"]
    assert str(resp.status) in op["responses"], f"{node_id} {path}: undocumented status {resp.status}"
    media = media_type(resp.content_type)
    content = op["responses"][str(resp.status)]["content"]
    assert media in content, f"{node_id} {path}: content type {resp.content_type!r} is not documented ({list(content)})"
    schema = content[media]["schema"]
    body = resp.json() if media == "application/json" else resp.body.decode("utf-8")
    check(openapi, body, schema, f"{node_id} GET {path} ({resp.status})")
    return resp


def check_metrics_text(openapi, text: str, what: str) -> None:
    declared = openapi["paths"]["/metrics"]["get"]["x-ringfast-metrics"]
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name, kind in declared.items():
        assert types.get(name) == kind, f"{what}: {name} should be a {kind}, exposition says {types.get(name)!r}"
    for line in text.splitlines():  # every sample line is `name{labels} value`
        if line and not line.startswith("#"):
            assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+( \d+)?', line), f"{what}: bad line {line!r}"


@pytest.mark.cluster
def test_live_responses_match_the_description(live_ring, openapi):
    ring = live_ring(n=3, partitions=10)
    leader, _ = ring.wait_settled()

    served = ring.request(leader, "/openapi.json")
    assert served.json() == openapi

    seen: set[str] = set()
    for node_id in ring.nodes:
        for path in sorted(PATHS):
            resp = check_endpoint(ring, openapi, node_id, path)
            assert resp.status == 200, (node_id, path, resp.status)
            seen.add(path)
        status = ring.get_json(node_id, "/status")
        assert status["node"]["id"] == node_id and status["leader"] == leader
        assert status["node"]["role"] == ("leader" if node_id == leader else "follower")
        check_metrics_text(openapi, ring.request(node_id, "/metrics").body.decode(), f"{node_id} /metrics")
        parts = ring.get_json(node_id, "/partitions")
        assert sorted(int(p) for p in parts["tokens"]) == parts["partitions"]
    assert seen == PATHS

    page = ring.request(leader, "/")
    assert b"<svg" in page.body and b"status" in page.body

    error_schema = openapi["components"]["schemas"]["Error"]
    not_found = ring.request(leader, "/no/such/page")
    assert not_found.status == 404 and media_type(not_found.content_type) == "application/json"
    check(openapi, not_found.json(), error_schema, "404 body")
    wrong_method = ring.request(leader, "/status", method="POST")
    assert wrong_method.status == 405 and media_type(wrong_method.content_type) == "application/json"
    check(openapi, wrong_method.json(), error_schema, "405 body")


@pytest.mark.cluster
def test_health_503_matches_the_description_once_the_leader_is_lost(live_ring, openapi):
    ring = live_ring(n=3, partitions=10)
    leader, _ = ring.wait_settled()
    survivor = sorted(n for n in ring.nodes if n != leader)[0]
    for node_id in ring.nodes:
        if node_id != survivor:
            ring.kill(node_id)  # the leader and the other follower crash: no quorum is left

    def unavailable():
        # every answer on the way (follower without a leader, candidate) must match as well
        for path in ("/status", "/partitions"):
            check_endpoint(ring, openapi, survivor, path)
        health = check_endpoint(ring, openapi, survivor, "/health")
        status = check_endpoint(ring, openapi, survivor, "/status").json()
        return (health, status) if health.status == 503 and status["leader"] is None else None

    # (an answer off the description fails check_endpoint: retried until the deadline, then reported)
    health, status = wait_for(unavailable, 30, f"/health of {survivor} to answer 503 with no leader",
                              interval=0.1, retry_on=(Exception,))
    body = health.json()
    assert body["status"] == "unavailable" and body["reason"]
    assert status["node"]["role"] in ("follower", "candidate")
    check_endpoint(ring, openapi, survivor, "/metrics")
