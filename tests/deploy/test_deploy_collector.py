"""Every shipped OpenTelemetry Collector config is coherent, safe, and fed by the agent.

Checked for collector-config.yaml, examples/collector/*.yaml and the Collector
configs inside the Kubernetes ConfigMaps:

- pipelines name only components the config defines (``type/name`` ids), and
  every defined component is used (the Collector validates unused components
  too, so a leftover exporter without its key would stop it from starting);
- every component type exists in the Collector contrib distribution
  (the list below, from its manifest);
- a connector is the exporter of one pipeline and the receiver of another;
- ``memory_limiter`` is first in every pipeline, ``batch`` after it;
- secrets come only from ``${env:…}`` placeholders;
- and the agent's OTLP output reaches the OTLP receiver the config declares,
  over each declared protocol (a test receiver stands in for the Collector).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from deploy_helpers import ROOT, collector_config_texts

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import MonitorConfig, NotificationTarget, OAuthClient
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from otel_genesys.secret import Secret
from otel_genesys.telemetry import TelemetrySettings, names, setup_telemetry
from tests.support.otlp_receiver import OtlpReceiver

CONTRIB_VERSION = "0.136.0"
"""opentelemetry-collector-contrib release the lists below were taken from
(distributions/otelcol-contrib/manifest.yaml of opentelemetry-collector-releases),
as component *type* ids, not Go module names. Not exhaustive: the common ones."""

CONTRIB_RECEIVERS = frozenset(
    {
        "otlp", "nop", "hostmetrics", "prometheus", "prometheus_simple", "filelog", "jaeger",
        "zipkin", "kafka", "kafkametrics", "k8s_cluster", "k8s_events", "k8sobjects",
        "kubeletstats", "httpcheck", "statsd", "syslog", "datadog", "docker_stats", "journald",
        "otlpjsonfile", "receiver_creator", "tcplog", "udplog", "fluentforward", "carbon",
        "influxdb", "signalfx", "splunk_hec", "redis", "postgresql", "mysql", "nginx",
        "otelarrow", "sqlquery", "tcpcheck", "tlscheck", "prometheusremotewrite",
    }
)  # fmt: skip
CONTRIB_PROCESSORS = frozenset(
    {
        "batch", "memory_limiter", "attributes", "cumulativetodelta", "deltatocumulative",
        "deltatorate", "filter", "geoip", "groupbyattrs", "groupbytrace", "interval",
        "k8sattributes", "logdedup", "metricsgeneration", "metricstransform",
        "probabilistic_sampler", "redaction", "remotetap", "resourcedetection", "resource",
        "schema", "span", "tail_sampling", "transform", "metricstarttime",
    }
)  # fmt: skip
CONTRIB_EXPORTERS = frozenset(
    {
        "debug", "nop", "otlp", "otlphttp", "datadog", "awsemf", "awsxray", "awss3",
        "azuremonitor", "clickhouse", "elasticsearch", "file", "googlecloud",
        "googlemanagedprometheus", "honeycombmarker", "influxdb", "kafka", "loadbalancing",
        "opensearch", "otelarrow", "prometheus", "prometheusremotewrite", "sapm", "sentry",
        "signalfx", "splunk_hec", "sumologic", "syslog", "zipkin", "coralogix", "logzio",
    }
)  # fmt: skip
CONTRIB_CONNECTORS = frozenset(
    {
        "forward", "count", "datadog", "exceptions", "failover", "grafanacloud", "otlpjson",
        "roundrobin", "routing", "servicegraph", "spanmetrics", "sum", "signaltometrics",
    }
)  # fmt: skip
CONTRIB_EXTENSIONS = frozenset(
    {
        "health_check", "pprof", "zpages", "basicauth", "bearertokenauth", "headers_setter",
        "oauth2client", "file_storage", "oidc", "sigv4auth", "k8s_observer",
        "docker_observer", "host_observer", "opamp", "datadog",
    }
)  # fmt: skip
KNOWN = {
    "receivers": CONTRIB_RECEIVERS,
    "processors": CONTRIB_PROCESSORS,
    "exporters": CONTRIB_EXPORTERS,
    "connectors": CONTRIB_CONNECTORS,
    "extensions": CONTRIB_EXTENSIONS,
}
SIGNALS = ("traces", "metrics", "logs")

ENV_PLACEHOLDER = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$")
ANY_EXPANSION = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]")
# A value under a key path containing one of these must be an env placeholder.
SENSITIVE_PATH = re.compile(r"key|token|secret|password|passwd|api|auth|license|team|header")
# ...and if the leaf key itself looks like a credential, it may not have a default.
CREDENTIAL_LEAF = re.compile(r"key|token|secret|password|passwd|auth|license|team")

CONFIGS = collector_config_texts()
IDS = [label for label, _ in CONFIGS]


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, str(i)))
    else:
        yield path, node


@pytest.fixture(params=CONFIGS, ids=IDS)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    label, text = request.param
    parsed = yaml.safe_load(text)
    assert isinstance(parsed, dict), label
    return parsed


def _pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    pipelines = config["service"]["pipelines"]
    assert pipelines, "no pipelines"
    return pipelines


def test_the_check_lists_know_what_they_must() -> None:
    # Guard against a typo in the lists making the checks below vacuous.
    assert {"otlp"} <= CONTRIB_RECEIVERS
    assert {"memory_limiter", "batch", "resourcedetection", "cumulativetodelta"} <= (
        CONTRIB_PROCESSORS
    )
    assert {"datadog", "otlphttp", "otlp", "debug"} <= CONTRIB_EXPORTERS
    assert "datadog" in CONTRIB_CONNECTORS
    assert "memorylimiter" not in CONTRIB_PROCESSORS  # module names are not type ids


def test_pipelines_name_only_defined_components(config: dict[str, Any]) -> None:
    connectors = set(config.get("connectors") or {})
    for pipeline_id, pipeline in _pipelines(config).items():
        assert _type(pipeline_id) in SIGNALS, pipeline_id
        assert pipeline.get("receivers"), f"{pipeline_id}: no receivers"
        assert pipeline.get("exporters"), f"{pipeline_id}: no exporters"
        for r in pipeline["receivers"]:
            assert r in (config.get("receivers") or {}) or r in connectors, (pipeline_id, r)
        for p in pipeline.get("processors") or []:
            assert p in (config.get("processors") or {}), (pipeline_id, p)
        for e in pipeline["exporters"]:
            assert e in (config.get("exporters") or {}) or e in connectors, (pipeline_id, e)
    for ext in config["service"].get("extensions") or []:
        assert ext in (config.get("extensions") or {}), ext


def test_every_defined_component_is_used(config: dict[str, Any]) -> None:
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pipeline in _pipelines(config).values():
        for kind in used:
            used[kind].update(pipeline.get(kind) or [])
    for kind in ("receivers", "processors", "exporters"):
        unused = set(config.get(kind) or {}) - used[kind]
        assert not unused, f"defined but unused {kind}: {sorted(unused)}"
    unused_ext = set(config.get("extensions") or {}) - set(
        config["service"].get("extensions") or []
    )
    assert not unused_ext, unused_ext


def test_component_types_exist_in_contrib(config: dict[str, Any]) -> None:
    for kind, known in KNOWN.items():
        for component_id in config.get(kind) or {}:
            assert _type(component_id) in known, (
                f"{kind}: {component_id!r} is not a collector-contrib v{CONTRIB_VERSION} type"
            )


def test_connectors_join_two_pipelines(config: dict[str, Any]) -> None:
    pipelines = _pipelines(config)
    for connector in config.get("connectors") or {}:
        exporting = [p for p, spec in pipelines.items() if connector in spec["exporters"]]
        receiving = [p for p, spec in pipelines.items() if connector in spec["receivers"]]
        assert exporting, f"{connector} is never an exporter"
        assert receiving, f"{connector} is never a receiver"
        assert set(exporting).isdisjoint(receiving), connector
    if "datadog" in {_type(c) for c in config.get("connectors") or {}}:
        # Trace stats: traces in, metrics out, to the datadog exporter.
        for p, spec in pipelines.items():
            if any(_type(r) == "datadog" for r in spec["receivers"] if r in config["connectors"]):
                assert _type(p) == "metrics", p
                assert any(_type(e) == "datadog" for e in spec["exporters"]), p


def test_memory_limiter_first_and_batch_later(config: dict[str, Any]) -> None:
    for pipeline_id, pipeline in _pipelines(config).items():
        processors = [_type(p) for p in pipeline.get("processors") or []]
        assert processors, f"{pipeline_id}: no processors"
        assert processors[0] == "memory_limiter", f"{pipeline_id}: {processors}"
        assert "batch" in processors[1:], f"{pipeline_id}: {processors}"


def test_secrets_come_only_from_env_placeholders(config: dict[str, Any]) -> None:
    checked = 0
    for path, value in _walk(config):
        if not isinstance(value, str):
            continue
        lowered = tuple(p.lower() for p in path)
        under_headers = "headers" in lowered[:-1]
        if under_headers or any(SENSITIVE_PATH.search(p) for p in lowered):
            if lowered[0] == "service":  # pipeline ids like metrics/datadog name no secret
                continue
            match = ENV_PLACEHOLDER.match(value)
            assert match, f"{'.'.join(path)} = {value!r}: must be a ${{env:NAME}} placeholder"
            checked += 1
            if CREDENTIAL_LEAF.search(lowered[-1]):
                assert match.group(2) is None, f"{'.'.join(path)}: a credential has no default"
    exporters = config.get("exporters") or {}
    if any(_type(e) in ("datadog", "otlphttp") or "honeycomb" in e for e in exporters):
        assert checked, "a backend exporter without any credential placeholder?"


@pytest.mark.parametrize(("label", "text"), CONFIGS, ids=IDS)
def test_every_expansion_is_a_valid_env_placeholder(label: str, text: str) -> None:
    code = "\n".join(
        line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    for found in ANY_EXPANSION.findall(code):
        assert ENV_PLACEHOLDER.match(found), f"{label}: {found!r} (use ${{env:NAME}})"
    # Nothing that looks like a pasted key (long hex / base64 runs).
    assert not re.search(r"\b[0-9a-fA-F]{32,}\b|\b[A-Za-z0-9+/]{40,}={0,2}", code), label


def test_the_root_config_ships_every_backend() -> None:
    config = yaml.safe_load((ROOT / "collector-config.yaml").read_text())
    exporters = config["exporters"]
    assert exporters["datadog"]["api"]["key"] == "${env:DD_API_KEY}"
    assert exporters["datadog"]["api"]["site"].startswith("${env:DD_SITE:-")
    newrelic = exporters["otlphttp/newrelic"]
    assert "otlp.nr-data.net" in newrelic["endpoint"]
    assert newrelic["headers"]["api-key"] == "${env:NEW_RELIC_LICENSE_KEY}"
    assert "api.honeycomb.io:443" in exporters["otlp/honeycomb"]["endpoint"]
    assert exporters["otlp/honeycomb"]["headers"]["x-honeycomb-team"] == "${env:HONEYCOMB_API_KEY}"
    assert "x-honeycomb-dataset" in exporters["otlp/honeycomb-metrics"]["headers"]
    assert "debug" in exporters
    pipelines = config["service"]["pipelines"]
    # New Relic prefers delta: converted on its metrics path only.
    for pid, spec in pipelines.items():
        to_nr = "otlphttp/newrelic" in spec["exporters"]
        has_delta = "cumulativetodelta" in spec["processors"]
        assert has_delta == (to_nr and _type(pid) == "metrics"), pid
        if "otlp/honeycomb-metrics" in spec["exporters"]:
            assert _type(pid) == "metrics"
        if "otlp/honeycomb" in spec["exporters"]:
            assert _type(pid) != "metrics", "Honeycomb metrics need the dataset header"
    assert any("datadog/connector" in s["exporters"] for s in pipelines.values())


def _declared_otlp_protocols(config: dict[str, Any]) -> dict[str, int]:
    """protocol -> port of the OTLP receiver every pipeline reads from."""
    otlp_ids = {r for r in config["receivers"] if _type(r) == "otlp"}
    for pid, spec in config["service"]["pipelines"].items():
        assert otlp_ids & set(spec["receivers"]) or set(spec["receivers"]) <= set(
            config.get("connectors") or {}
        ), pid
    (receiver_id,) = otlp_ids
    protocols = config["receivers"][receiver_id]["protocols"]
    return {name: int(str(spec["endpoint"]).rsplit(":", 1)[1]) for name, spec in protocols.items()}


@pytest.mark.parametrize(("label", "text"), CONFIGS, ids=IDS)
def test_otlp_receiver_declares_both_standard_ports(label: str, text: str) -> None:
    assert _declared_otlp_protocols(yaml.safe_load(text)) == {"grpc": 4317, "http": 4318}


OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
)

ROOT_PROTOCOLS = _declared_otlp_protocols(
    yaml.safe_load((ROOT / "collector-config.yaml").read_text())
)


@pytest.mark.parametrize("protocol", sorted(ROOT_PROTOCOLS))
async def test_agent_output_reaches_the_declared_receiver(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in OTEL_ENV:
        monkeypatch.delenv(key, raising=False)
    # The declared ports (4317/4318) may be taken on a dev machine: same protocol,
    # free port.
    rx = OtlpReceiver(grpc_enabled=protocol == "grpc", http_enabled=protocol == "http").start()
    telemetry = setup_telemetry(
        TelemetrySettings(
            exporter="otlp_grpc" if protocol == "grpc" else "otlp_http",
            endpoint=rx.endpoint(protocol),
            export_interval_ns=200_000_000,
            export_timeout_s=2.0,
            drain_interval_s=0.01,
        )
    )
    try:
        async with Emulator() as emulator:
            target = NotificationTarget(
                name="collector-e2e",
                region=None,
                base_url=emulator.base_url,
                oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET)),
                topics=(),
                modes=frozenset({ProbeMode.NOTIFICATION}),
                monitor=MonitorConfig(
                    interval_ns=100_000_000, probe_frequency_limit_ns=100_000_000
                ),
            )
            agent = Agent([target], sink=telemetry.recorder)
            await agent.start()
            try:

                def arrived(r: OtlpReceiver) -> bool:
                    spans = {s.name for s in r.spans()}
                    return names.SPAN_PROBE in spans and names.METRIC_RTT in r.metric_names()

                assert await asyncio.to_thread(rx.wait_for, arrived, 15.0), (
                    rx.metric_names(),
                    {s.name for s in rx.spans()},
                )
            finally:
                await agent.stop()
        assert {r.transport for r in rx.received} == {protocol}
        assert {r.signal for r in rx.received} >= {"traces", "metrics"}
    finally:
        telemetry.shutdown(3.0)
        rx.stop()


def _good() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "collector" / "datadog.yaml").read_text())


def _break_order(c: dict[str, Any]) -> None:
    c["service"]["pipelines"]["traces"]["processors"].reverse()


def _literal_key(c: dict[str, Any]) -> None:
    c["exporters"]["datadog"]["api"]["key"] = "0123456789abcdef"


def _key_with_default(c: dict[str, Any]) -> None:
    c["exporters"]["datadog"]["api"]["key"] = "${env:DD_API_KEY:-oops}"


def _undefined_exporter(c: dict[str, Any]) -> None:
    c["service"]["pipelines"]["logs"]["exporters"].append("otlp/nowhere")


def _unknown_type(c: dict[str, Any]) -> None:
    c["processors"]["memorylimiter"] = {}
    c["service"]["pipelines"]["logs"]["processors"].append("memorylimiter")


def _dangling_connector(c: dict[str, Any]) -> None:
    c["service"]["pipelines"]["metrics"]["receivers"].remove("datadog/connector")


def _unused_exporter(c: dict[str, Any]) -> None:
    c["exporters"]["debug"] = {}


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        (_break_order, test_memory_limiter_first_and_batch_later),
        (_literal_key, test_secrets_come_only_from_env_placeholders),
        (_key_with_default, test_secrets_come_only_from_env_placeholders),
        (_undefined_exporter, test_pipelines_name_only_defined_components),
        (_unknown_type, test_component_types_exist_in_contrib),
        (_dangling_connector, test_connectors_join_two_pipelines),
        (_unused_exporter, test_every_defined_component_is_used),
    ],
)
def test_the_checks_catch_broken_configs(breakage: Any, check: Any) -> None:
    good = _good()
    check(good)  # passes on the shipped file…
    breakage(good)
    with pytest.raises(AssertionError):
        check(good)  # …and fails once broken
