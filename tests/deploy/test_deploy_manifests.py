"""The deployment examples hold together: Kubernetes, docker compose, Dockerfile, systemd."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import DEPLOY, EXAMPLES, ROOT, kubernetes_objects

from otel_genesys.config import HealthConfig, NotificationTarget, load_config
from otel_genesys.core.sharding import ordinal_from_hostname, select_shard

OBJECTS = kubernetes_objects()
HEALTH_PORT = HealthConfig().port
AGENT_IMAGE = "otel-genesys"


def _objects(kind: str) -> list[dict[str, Any]]:
    return [obj for _, obj in OBJECTS if obj["kind"] == kind]


def _by_name(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in _objects(kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def _workloads() -> list[dict[str, Any]]:
    return [obj for _, obj in OBJECTS if obj["kind"] in ("Deployment", "StatefulSet")]


def _agent_workloads() -> list[dict[str, Any]]:
    return [
        w
        for w in _workloads()
        if any(
            c["image"].startswith(AGENT_IMAGE) for c in w["spec"]["template"]["spec"]["containers"]
        )
    ]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"port name {port!r} not declared"
    return int(named[port])


def test_the_expected_manifests_ship() -> None:
    kinds = {(obj["kind"], obj["metadata"]["name"]) for _, obj in OBJECTS}
    assert {
        ("Deployment", "otel-genesys"),
        ("StatefulSet", "otel-genesys-shard"),
        ("ConfigMap", "otel-genesys-settings"),
        ("ConfigMap", "otel-genesys-fleet"),
        ("Secret", "otel-genesys-credentials"),
        ("Deployment", "otel-collector-gateway"),
        ("Service", "otel-collector-gateway"),
        ("ConfigMap", "otel-collector-gateway-config"),
    } <= kinds


@pytest.mark.parametrize(
    ("path", "obj"), OBJECTS, ids=[f"{p.name}:{o.get('kind')}" for p, o in OBJECTS]
)
def test_object_essentials(path: Path, obj: dict[str, Any]) -> None:
    assert obj.get("apiVersion") in ("v1", "apps/v1"), path
    assert obj.get("kind"), path
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"]), path
    if obj["kind"] in ("ConfigMap", "Secret"):
        assert obj.get("data") or obj.get("stringData"), path
    else:
        assert obj.get("spec"), path


@pytest.mark.parametrize("workload", _workloads(), ids=lambda w: w["metadata"]["name"])
def test_workloads_are_locked_down(workload: dict[str, Any]) -> None:
    spec = workload["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod.get("automountServiceAccountToken") is False
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "add" not in sc["capabilities"]
        assert container["resources"]["limits"]["memory"]
        assert ":" in container["image"] and not container["image"].endswith(":latest")
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            _port_number(container, get["port"])
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes
            if "configMap" in volumes[mount["name"]]:
                _by_name("ConfigMap", volumes[mount["name"]]["configMap"]["name"])


@pytest.mark.parametrize("workload", _agent_workloads(), ids=lambda w: w["metadata"]["name"])
def test_agent_probes_match_the_health_endpoint(workload: dict[str, Any]) -> None:
    container = _container(workload)
    env = _env(container)
    assert env["OTEL_GENESYS_HEALTH__ENABLED"] == "true"
    # The kubelet probes the pod IP: loopback (the default) would fail every probe.
    assert env["OTEL_GENESYS_HEALTH__HOST"] == "0.0.0.0"
    assert int(env.get("OTEL_GENESYS_HEALTH__PORT", HEALTH_PORT)) == HEALTH_PORT
    live = container["livenessProbe"]["httpGet"]
    ready = container["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz"
    assert ready["path"] == "/readyz"
    assert _port_number(container, live["port"]) == HEALTH_PORT
    assert _port_number(container, ready["port"]) == HEALTH_PORT
    assert container["volumeMounts"][0]["mountPath"] == str(Path(env["OTEL_GENESYS_CONFIG"]).parent)
    # Exports go to the gateway Service on the Collector's declared gRPC port.
    endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    host, port = endpoint.removeprefix("http://").split(":")
    service = _by_name("Service", host)
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert int(port) == 4317
    secret_refs = [e["secretRef"]["name"] for e in container.get("envFrom", [])]
    assert secret_refs == ["otel-genesys-credentials"]


def _settings_of(workload: dict[str, Any], tmp_path: Path) -> Path:
    pod = workload["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    cm = _by_name("ConfigMap", volume["configMap"]["name"])
    path = tmp_path / "settings.toml"
    path.write_text(cm["data"]["settings.toml"], encoding="utf-8")
    return path


def _secrets_for(config_path: Path) -> dict[str, str]:
    raw = tomllib.loads(config_path.read_text())
    return {
        f"OTEL_GENESYS_TARGETS__{name.replace('-', '_').upper()}__CLIENT_SECRET": "s3cret"
        for name, spec in raw.get("targets", {}).items()
        if "client_id" in spec
    }


@pytest.mark.parametrize("workload", _agent_workloads(), ids=lambda w: w["metadata"]["name"])
def test_agent_settings_and_env_load(workload: dict[str, Any], tmp_path: Path) -> None:
    container = _container(workload)
    path = _settings_of(workload, tmp_path)
    env = {k: v for k, v in _env(container).items() if k.startswith("OTEL_GENESYS_")}
    env["OTEL_GENESYS_CONFIG"] = str(path)
    env.update(_secrets_for(path))
    env["HOSTNAME"] = f"{workload['metadata']['name']}-0"  # Kubernetes sets it to the pod name
    config = load_config(env=env)
    assert config.targets
    assert config.health.enabled and config.health.port == HEALTH_PORT
    if workload["kind"] == "StatefulSet":
        assert config.shard_count == workload["spec"]["replicas"] > 1
        assert config.shard_index == 0  # the ordinal of pod <name>-0
    else:
        assert workload["spec"]["replicas"] == 1
        assert config.shard_count == 1


def test_the_credentials_secret_covers_the_deployment_targets(tmp_path: Path) -> None:
    secret = _by_name("Secret", "otel-genesys-credentials")
    path = _settings_of(_by_name("Deployment", "otel-genesys"), tmp_path)
    assert set(secret["stringData"]) == set(_secrets_for(path))
    # A template: placeholders only.
    assert set(secret["stringData"].values()) == {"REPLACE-ME"}


def test_statefulset_pods_split_the_fleet(tmp_path: Path) -> None:
    sts = _by_name("StatefulSet", "otel-genesys-shard")
    assert (
        sts["spec"]["serviceName"] == _by_name("Service", "otel-genesys-shard")["metadata"]["name"]
    )
    assert _by_name("Service", "otel-genesys-shard")["spec"]["clusterIP"] == "None"
    path = _settings_of(sts, tmp_path)
    env = _env(_container(sts))
    count = int(env["OTEL_GENESYS_SHARDING__SHARD_COUNT"])
    assert count == sts["spec"]["replicas"]
    assert "OTEL_GENESYS_SHARDING__SHARD_INDEX" not in env  # comes from the pod name
    config = load_config(path, env=_secrets_for(path))
    pods = [f"{sts['metadata']['name']}-{i}" for i in range(count)]
    indexes = [ordinal_from_hostname(p) for p in pods]
    assert indexes == list(range(count))
    shares = [select_shard(config.targets, i, count) for i in indexes if i is not None]
    assert sorted(t.name for s in shares for t in s) == sorted(t.name for t in config.targets)
    assert all(isinstance(t, NotificationTarget) for t in config.targets)


def test_fleet_configmap_matches_the_fleet_example() -> None:
    cm = _by_name("ConfigMap", "otel-genesys-fleet")
    example = tomllib.loads((EXAMPLES / "fleet-settings.toml").read_text())
    assert tomllib.loads(cm["data"]["settings.toml"]) == example


def test_examples_settings_templates_load(tmp_path: Path) -> None:
    for name in ("settings.toml", "fleet-settings.toml"):
        path = EXAMPLES / name
        config = load_config(path, env=_secrets_for(path))
        assert config.targets, name
    secrets = tomllib.loads((EXAMPLES / ".secrets.toml.example").read_text())
    settings = tomllib.loads((EXAMPLES / "settings.toml").read_text())
    assert set(secrets["targets"]) <= set(settings["targets"])


def test_gateway_service_selects_the_gateway_pods() -> None:
    service = _by_name("Service", "otel-collector-gateway")
    deployment = _by_name("Deployment", "otel-collector-gateway")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    container = _container(deployment)
    assert container["image"].startswith("otel/opentelemetry-collector-contrib:")
    named = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= named
    assert {p["port"] for p in service["spec"]["ports"]} == {4317, 4318}


# --------------------------------------------------------------------------- docker


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def test_compose_runs_agent_and_collector_read_only() -> None:
    services = _compose()["services"]
    assert {"agent", "collector"} <= set(services)
    for name, svc in services.items():
        assert svc["read_only"] is True, name
        assert "/tmp" in svc["tmpfs"], name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
    collector = services["collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    (mount,) = collector["volumes"]
    source, target, mode = mount.rsplit(":", 2)
    assert mode == "ro" and target == "/etc/otelcol-contrib/config.yaml"
    default = re.fullmatch(r"\$\{COLLECTOR_CONFIG:-(.+)\}", source)
    assert default, source
    assert (DEPLOY / default.group(1)).resolve() == ROOT / "collector-config.yaml"
    agent = services["agent"]
    assert (DEPLOY / agent["build"]["context"]).resolve() == ROOT
    assert (ROOT / agent["build"]["dockerfile"]).is_file()
    assert agent["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    assert agent["depends_on"] == ["collector"]
    for port in collector["ports"]:
        assert port.startswith("127.0.0.1:"), "publish the Collector on loopback only"


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_non_root_and_read_only_friendly() -> None:
    instructions = _dockerfile()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms and all(f.startswith("python:3.11-slim") for f in froms)
    users = [rest for word, rest in instructions if word == "USER"]
    assert users, "no USER"
    final_user = users[-1].split(":")[0]
    assert final_user not in ("root", "0")
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "TMPDIR=/tmp" in env
    assert not [w for w, _ in instructions if w == "VOLUME"]
    (health,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "/healthz" in health and str(HEALTH_PORT) in health
    assert f"OTEL_GENESYS_HEALTH__PORT={HEALTH_PORT}" in env
    for word, rest in instructions:
        if word == "COPY" and "--from" not in rest:
            for src in rest.split()[:-1]:
                assert (ROOT / src).exists(), src
    assert ("ENTRYPOINT", '["otel-genesys"]') in instructions


# --------------------------------------------------------------------------- systemd


def _unit() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (DEPLOY / "otel-genesys.service").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_systemd_unit_is_hardened() -> None:
    unit = _unit()
    assert unit.get("DynamicUser") == ["yes"] or unit.get("User")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert unit.get(key) == [value], key
    assert unit.get("CapabilityBoundingSet") == [""]
    assert "/etc/otel-genesys" in unit["ReadOnlyPaths"][0].split()
    assert unit.get("EnvironmentFile") or unit.get("LoadCredential")
    (exec_start,) = unit["ExecStart"]
    assert exec_start.split()[0].endswith("/otel-genesys") and exec_start.split()[1] == "run"
    assert unit["KillSignal"] == ["SIGTERM"]
    text = (DEPLOY / "otel-genesys.service").read_text()
    assert "0600" in text  # the credentials file's mode is spelled out
