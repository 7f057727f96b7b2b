"""What one probe costs the telemetry: the SDK's general path against the recorder's own.

Side by side in one process, on the same outcomes (1,000 targets, OK probes,
``time.process_time``, best of ``--rounds``):

- **metrics**: the probe's 6-7 points through SDK instruments
  (``ProbeMetrics.use_instruments``, exactly the calls the recorder made before)
  against ``ProbeMetrics.record`` (in-house aggregation);
- **span**: an SDK span with the probe's attributes, ended and encoded by the
  SDK's OTLP encoder, against ``ProbeSpanEncoder.probe_span`` plus its share of
  a request;
- **metric export**: encoding one collection of those targets' metrics with
  the SDK's ``encode_metrics`` against ``encode_metrics_request``, per point;
  the two byte strings are checked equal first;
- **outcome**: building one ``ProbeOutcome`` as the probe path does (keyword
  arguments) and unpickling one in a batch as the export process does,
  against the same fields in a frozen slotted dataclass (what ``ProbeOutcome``
  was before it became a named tuple) pickled as its class and a tuple of
  values;
- **hand-off** (no comparison): pickling a batch of outcomes as the agent's
  process does for the export process (targets by reference once defined), and
  unpickling it as the export process does, per outcome;
- **recorder** (no comparison): the whole telemetry worker path per outcome as
  ``otel-genesys run`` builds it for an OTLP endpoint (queue, materializer,
  in-house metrics, encoded span, batch request; the exporter discards);
- **state** (no comparison): the live Python memory the telemetry holds per
  target after five probes each, a metric collection and its encoding
  (``tracemalloc``).

    .venv/bin/python -m bench.telemetry_cost
    .venv/bin/python -m bench.telemetry_cost --targets 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import make_dataclass, replace
from typing import Any

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_genesys.core.outcome import (
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
    TargetKind,
)
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.chunked import CHUNK_RECORDS
from otel_genesys.telemetry.export_health import ExportHealth
from otel_genesys.telemetry.isolated import TargetRefs, define_targets
from otel_genesys.telemetry.metrics_wire import count_data_points, encode_metrics_request
from otel_genesys.telemetry.probe_metrics import ProbeMetrics
from otel_genesys.telemetry.probe_spans import ProbeSpanEncoder, new_ids
from otel_genesys.telemetry.recorder import Recorder, probe_span_attrs
from otel_genesys.telemetry.span_batcher import EncodedSpanBatcher

SCOPE = (n.INSTRUMENTATION_SCOPE, "bench")
WALL = 1_800_000_000_000_000_000


def outcomes(targets: int, per_target: int) -> list[ProbeOutcome]:
    """OK probes with every field set, round-robin over ``targets`` targets."""
    base = TargetInfo("t", TargetKind.GENERIC, "pong.example", 443, "wss", "eu_west_1")
    infos = [replace(base, name=f"t{i:05d}") for i in range(targets)]
    out = []
    for seq in range(1, per_target + 1):
        for info in infos:
            out.append(ProbeOutcome(
                target=info, mode=ProbeMode.CONTROL, sequence=seq, outcome=Outcome.OK,
                sent_ns=seq * 1_000_000_000, sent_wall_ns=WALL + seq * 1_000_000_000,
                rtt_ns=300_000 + seq, timeout_ns=200_000_000, jitter_ns=20_000,
                jitter_rfc3550_ns=15_000, pdv_ns=90_000, stability=1.0,
                stability_lifetime=0.999, breaches=(), lateness_ns=120_000,
                confidence=Confidence.TRUSTED,
            ))  # fmt: skip
    return out


def best_us(work: Callable[[], object], count: int, rounds: int) -> float:
    """Best of ``rounds`` process-time runs of ``work``, in µs per item of ``count``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


_FIELDS = ProbeOutcome._fields


def _frozen_outcome_type() -> type:
    """``ProbeOutcome``'s fields in a frozen slotted dataclass, pickled as the class
    and a tuple of its values (the outcome's form before it became a named tuple)."""
    cls = make_dataclass(
        "FrozenOutcome",
        list(zip(_FIELDS, [object] * len(_FIELDS), strict=True)),
        frozen=True,
        slots=True,
    )
    cls.__module__ = __name__  # found by name when unpickled

    def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
        return (cls, tuple(getattr(self, f) for f in _FIELDS))

    cls.__reduce__ = reduce
    return cls


FrozenOutcome = _frozen_outcome_type()


def _outcome_costs(batch: list[ProbeOutcome], rounds: int) -> dict[str, float]:
    """Build and unpickle cost of one outcome, the named tuple against the dataclass."""
    rows: dict[str, float] = {}
    kwargs = [o._asdict() for o in batch]
    for label, cls in (("dataclass", FrozenOutcome), ("ours", ProbeOutcome)):
        refs = TargetRefs()  # targets by reference, as the agent ships them
        blobs = [
            refs.dumps(("batch", [cls(**k) for k in kwargs[i : i + CHUNK_RECORDS]]))
            for i in range(0, len(kwargs), CHUNK_RECORDS)
        ]
        define_targets(refs.take_definitions())
        rows[f"outcome_build_{label}_us"] = best_us(
            lambda cls=cls: [cls(**k) for k in kwargs], len(batch), rounds
        )
        rows[f"outcome_unpickle_{label}_us"] = best_us(
            lambda blobs=blobs: [pickle.loads(b) for b in blobs], len(batch), rounds
        )
    return rows


class _Encoding(SpanExporter):
    """Encodes every span as the SDK's OTLP exporter would, and drops the bytes."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Discard:
    """An encoded-span exporter that accepts and drops every request."""

    def export_encoded(self, payload: bytes, count: int) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def _recorder(resource: Resource) -> tuple[Recorder, InMemoryMetricReader]:
    """A recorder wired as ``setup_telemetry`` wires it for OTLP, driven by the caller:
    with ``start=False`` its ``flush`` runs the worker's batch in the calling thread."""
    reader = InMemoryMetricReader()
    batcher = EncodedSpanBatcher(
        ProbeSpanEncoder(resource, *SCOPE), _Discard(), ExportHealth(), start=False
    )
    recorder = Recorder(
        TracerProvider(resource=resource),
        MeterProvider(resource=resource, metric_readers=[reader]),
        start=False,
        probe_spans=batcher,
    )
    return recorder, reader


def _state_kib_per_target(targets: int, resource: Resource) -> float:
    recorder, reader = _recorder(resource)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for o in outcomes(targets, 5):
        recorder.outcome(o)
    recorder.flush()
    data = reader.get_metrics_data()
    if data is not None:
        encode_metrics_request(data)
    del data
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    recorder.close()
    return held / targets / 1024


def measure(targets: int, rounds: int) -> dict[str, Any]:
    batch = outcomes(targets, 3)
    resource = Resource.create({"service.name": "bench"})

    def metrics(ours: bool) -> Callable[[], object]:
        pm = ProbeMetrics()
        provider = MeterProvider(resource=resource, metric_readers=[InMemoryMetricReader()])
        if ours:
            pm.bind(provider, *SCOPE)
        else:
            pm.use_instruments(provider, *SCOPE)
        for o in batch[:targets]:  # every series exists before the timing: steady state
            pm.record(o)

        def run() -> None:
            for o in batch:
                pm.record(o)

        return run

    tracer = TracerProvider(resource=resource)
    tracer.add_span_processor(SimpleSpanProcessor(_Encoding()))
    sdk_tracer = tracer.get_tracer(*SCOPE)

    def sdk_spans() -> None:
        for o in batch:
            span = sdk_tracer.start_span(
                n.SPAN_PROBE, kind=SpanKind.CLIENT, start_time=o.sent_wall_ns,
                attributes=probe_span_attrs(o),
            )  # fmt: skip
            span.end(end_time=o.sent_wall_ns + (o.rtt_ns or 0))

    encoder = ProbeSpanEncoder(resource, *SCOPE)

    def our_spans() -> None:
        spans = []
        for o in batch:
            trace_id, span_id = new_ids()
            spans.append(encoder.probe_span(
                o, trace_id=trace_id, span_id=span_id, end_ns=o.sent_wall_ns + (o.rtt_ns or 0)
            ))  # fmt: skip
            if len(spans) == 512:
                encoder.request(spans)
                spans = []
        encoder.request(spans)

    reader = InMemoryMetricReader()
    pm = ProbeMetrics()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    pm.bind(provider, *SCOPE)
    for o in batch:
        pm.record(o)
    data = reader.get_metrics_data()
    assert data is not None
    points = count_data_points(data)
    if encode_metrics(data).SerializeToString() != encode_metrics_request(data):
        raise SystemExit("the two metric encodings differ")

    recorder, _ = _recorder(resource)
    for o in batch[:targets]:  # every target's state exists before the timing
        recorder.outcome(o)
    recorder.flush()

    def through_recorder() -> None:
        for i in range(0, len(batch), 1024):
            for o in batch[i : i + 1024]:
                recorder.outcome(o)
            recorder.flush()

    # The hand-off as the agent's process ships batches (targets by reference after
    # their first batch) and as the export process reads them.
    chunks = [batch[i : i + CHUNK_RECORDS] for i in range(0, len(batch), CHUNK_RECORDS)]
    refs = TargetRefs()
    shipped = [refs.dumps(("batch", chunk)) for chunk in chunks]
    define_targets(refs.take_definitions())  # the export process has seen every definition

    rows = {
        "metrics_sdk_us_per_probe": best_us(metrics(False), len(batch), rounds),
        "metrics_ours_us_per_probe": best_us(metrics(True), len(batch), rounds),
        "span_sdk_us": best_us(sdk_spans, len(batch), rounds),
        "span_ours_us": best_us(our_spans, len(batch), rounds),
        "metric_encode_sdk_us_per_point": best_us(
            lambda: encode_metrics(data).SerializeToString(), points, rounds
        ),
        "metric_encode_ours_us_per_point": best_us(
            lambda: encode_metrics_request(data), points, rounds
        ),
        "handoff_pickle_us_per_outcome": best_us(
            lambda: [refs.dumps(("batch", chunk)) for chunk in chunks], len(batch), rounds
        ),
        "handoff_unpickle_us_per_outcome": best_us(
            lambda: [pickle.loads(blob) for blob in shipped], len(batch), rounds
        ),
        "recorder_us_per_outcome": best_us(through_recorder, len(batch), rounds),
        **_outcome_costs(batch, rounds),
    }
    recorder.close()
    tracer.shutdown()
    return {"targets": targets, "probes": len(batch), "points": points,
            **{k: round(v, 2) for k, v in rows.items()},
            "ratio_metrics": round(rows["metrics_sdk_us_per_probe"]
                                   / rows["metrics_ours_us_per_probe"], 1),
            "ratio_span": round(rows["span_sdk_us"] / rows["span_ours_us"], 1),
            "ratio_metric_encode": round(rows["metric_encode_sdk_us_per_point"]
                                         / rows["metric_encode_ours_us_per_point"], 1),
            "ratio_outcome_build": round(rows["outcome_build_dataclass_us"]
                                         / rows["outcome_build_ours_us"], 1),
            "ratio_outcome_unpickle": round(rows["outcome_unpickle_dataclass_us"]
                                            / rows["outcome_unpickle_ours_us"], 1),
            "state_kib_per_target": round(_state_kib_per_target(targets, resource), 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.targets, args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
