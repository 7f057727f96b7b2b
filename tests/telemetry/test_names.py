"""The naming rules of names.py hold for every name it defines."""

from __future__ import annotations

import re

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.telemetry import names as n

METRICS = {v for k, v in vars(n).items() if k.startswith("METRIC_")}
ATTRIBUTES = {
    v
    for k, v in vars(n).items()
    if k.isupper()
    and isinstance(v, str)
    and "." in v
    and not k.startswith(("METRIC_", "SPAN_", "UNIT_", "AUDIT_"))
    and k not in {"INSTRUMENTATION_SCOPE", "DEFAULT_SERVICE_NAME"}
}
BUCKETS = [v for k, v in vars(n).items() if k.startswith("BUCKETS_")]


def test_metric_names_use_the_product_namespaces() -> None:
    assert len(METRICS) >= 20
    for name in METRICS:
        assert name.startswith(("genesys.websocket.", "genesys.oauth.", "genesys.agent.")), name
        assert re.fullmatch(r"[a-z0-9_.]+", name), name


def test_no_name_is_both_a_value_and_a_namespace() -> None:
    assert len(ATTRIBUTES) > 25
    for universe in (METRICS, ATTRIBUTES):
        for name in universe:
            clashes = [other for other in universe if other.startswith(name + ".")]
            assert not clashes, (name, clashes)


def test_semconv_attributes_are_reused() -> None:
    assert n.SERVER_ADDRESS == "server.address"
    assert n.SERVER_PORT == "server.port"
    assert n.NETWORK_PROTOCOL_NAME == "network.protocol.name"
    assert n.ERROR_TYPE == "error.type"
    assert n.URL_SCHEME == "url.scheme"
    assert n.WEBSOCKET == "websocket"


def test_buckets_are_seconds_and_ascending() -> None:
    for buckets in BUCKETS:
        assert list(buckets) == sorted(set(buckets))
        assert 0 < buckets[0] <= 0.01 and buckets[-1] <= 60
    assert n.BUCKETS_RTT[0] == 0.0001 and n.BUCKETS_RTT[-1] == 10.0


def test_span_names_are_low_cardinality() -> None:
    assert n.SPAN_PROBE == "genesys.websocket.ping"
    assert {n.lifecycle_span_name(s) for s in LifecycleStep} == {s.value for s in LifecycleStep}
    assert {n.audit_span_name(k) for k in AuditKind} == {k.value for k in AuditKind}
    assert n.phase_attribute("dns") == "genesys.phase.dns.duration"


def test_every_pong_anomaly_kind_is_mapped() -> None:
    assert set(n.PONG_ANOMALY_KINDS.values()) == {"late", "duplicate", "unsolicited"}
