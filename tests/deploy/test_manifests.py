"""deploy/: the Kubernetes manifests validated offline against the API schemas
(kubernetes-validate), and what makes them work with ringfast checked against the code: each
pod's environment, as Kubernetes would expand it, gives a node whose advertised name is its
own seed entry, the probes do what the guide says, the grace period covers the handoff. The
systemd unit and its environment file likewise."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from ringfast import addresses
from ringfast.config import Config, parse_address

kubernetes_validate = pytest.importorskip("kubernetes_validate")
yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.29"  # the oldest minor version still widely run; the manifests use nothing newer


def documents():
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(kind):
    found = [d for _, d in documents() if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}"
    return found[0]


@pytest.mark.parametrize("name, doc", documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_every_manifest_is_valid_against_the_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError


def test_the_validator_refuses_a_broken_manifest():
    sts = one("StatefulSet")
    broken = {**sts, "spec": {**sts["spec"], "podManagementPolicy": 3, "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def container_env(sts):
    return {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}


def pod_env(sts, index, pod_ip):
    """The container's environment in pod `index`, with $(VAR) expanded as the kubelet does."""
    env, out = container_env(sts), {}
    fields = {"metadata.name": f"{sts['metadata']['name']}-{index}", "status.podIP": pod_ip}
    for name, e in env.items():
        if "valueFrom" in e:
            out[name] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            out[name] = re.sub(r"\$\((\w+)\)", lambda m: out[m.group(1)], e["value"])
    return out


def test_the_statefulset_and_service_fit_together():
    sts, svc = one("StatefulSet"), one("Service")
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "Parallel"  # no pod is ready before a quorum runs
    assert spec["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and pdb["spec"]["selector"] == spec["selector"]


def test_each_pod_is_its_own_seed_entry_by_name_with_its_place_as_priority():
    sts, svc = one("StatefulSet"), one("Service")
    replicas, name = sts["spec"]["replicas"], sts["metadata"]["name"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for i in range(replicas):
        env = pod_env(sts, i, f"10.44.0.{i + 7}")
        cfg = Config.from_env(env)
        assert cfg.seeds == tuple(f"{name}-{j}.{svc['metadata']['name']}:{ports['cluster']}" for j in range(replicas))
        assert cfg.monitoring_port == ports["monitoring"] and cfg.port == ports["cluster"]
        assert addresses.bind_host(cfg) == f"10.44.0.{i + 7}"  # the pod IP
        run = addresses.settle(cfg, f"10.44.0.{i + 7}", cfg.port)
        assert (run.address, run.node_id, run.priority) == (cfg.seeds[i], f"{name}-{i}", i)
        assert not run.unsafe_settings() and not run.ignored_variables()
    svc_ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert svc_ports == ports


def test_probes_ready_on_health_alive_without_it_and_the_grace_covers_the_handoff():
    sts = one("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "monitoring"}
    # /health is 503 in a minority: a liveness probe on it would restart healthy pods cut off
    # by a network split, and the restarts would not bring the majority back
    assert container["livenessProbe"]["httpGet"]["path"] != "/health"
    cfg = Config.from_env(pod_env(sts, 0, "10.44.0.7"))
    handoff = cfg.failure_timeout + cfg.handler_timeout  # Node.stop's bound
    assert pod["terminationGracePeriodSeconds"] >= handoff + 5
    env = pod_env(sts, 0, "10.44.0.7")
    assert env["RINGFAST_EXIT_MODE"] == "restart" and cfg.rejoin_grace >= 30  # a rolling update comes back


def test_the_systemd_unit_runs_the_node_and_stops_within_the_handoff():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "systemd" / "ringfast.service")
    service = unit["Service"]
    program, *args = service["ExecStart"].split()
    assert Path(program).name == "ringfast" and args == ["node"]
    assert service["RestartPreventExitStatus"] == "2"  # a bad setting: restarting cannot fix it
    env = {}
    for line in (DEPLOY / "systemd" / "ringfast.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    cfg = Config.from_env(env)
    assert int(service["TimeoutStopSec"]) >= cfg.failure_timeout + cfg.handler_timeout + 5
    assert cfg.host == "10.0.0.1" and parse_address(cfg.seeds[0], "SEED_NODES") == ("node-a", cfg.port)
    assert cfg.state_dir == "/var/lib/ringfast" and service["StateDirectory"] == "ringfast"


def guide_commands():
    text = (Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md").read_text()
    return [line for body in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M) for line in body.splitlines()]


def test_the_kubernetes_guide_names_what_the_manifests_define():
    # the guide's commands cannot run without a cluster: what they name must exist
    sts, svc = one("StatefulSet"), one("Service")
    root = DEPLOY.parent
    env = pod_env(sts, 0, "10.44.0.7")
    monitoring = f"{sts['metadata']['name']}-0.{svc['metadata']['name']}:{env['MONITORING_PORT']}"
    expected = [
        "docker build -f deploy/Dockerfile -t ringfast:latest .",
        "kubectl apply -f deploy/kubernetes/",
        f"kubectl rollout status statefulset/{sts['metadata']['name']}",
        f"kubectl exec {sts['metadata']['name']}-0 -- ringfast status {monitoring}",
    ]
    assert guide_commands() == expected
    assert (root / "deploy" / "Dockerfile").is_file() and (root / "deploy" / "kubernetes").is_dir()
    image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ringfast:latest"
    dockerfile = (root / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["ringfast"]' in dockerfile  # the StatefulSet's args: ["node"]
    assert sts["spec"]["template"]["spec"]["containers"][0]["args"] == ["node"]
