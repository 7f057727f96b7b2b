"""In-house aggregation of the per-probe metrics, exported through the SDK's own readers.

Why: with the OpenTelemetry Python SDK (1.45) the 6-7 instrument calls made per
probe (probe count, RTT, two jitters, PDV, lateness, breaches, degraded) cost
~75-98 µs per probe, because every ``record``/``add`` re-cleans and re-hashes
its attribute dict (``_clean_attribute_value``, ``_hash_attributes``,
``Measurement.__post_init__``). At thousands of connections that was the
agent's main CPU cost. Here the attribute sets are built and cleaned once per
(target, mode) and a probe costs one dict lookup plus a few integer and float
operations. The exported data are the SDK's own data classes with the same
names, units, descriptions, bucket boundaries, attributes and values, so the
OTLP, console and Prometheus exporters encode them unchanged.

Temporality design (several readers of different temporality on one provider):

- each bound reader keeps its own accumulators, per metric and attribute set,
  as the SDK's readers keep their own storage. :meth:`ProbeMetrics.record` (one
  writer: the telemetry worker) adds a probe's values straight into every
  reader's accumulators, under a lock held for a few microseconds. A (target,
  mode) finds its accumulators in a reader once and keeps them (``_Cells``), so
  a probe costs one dict lookup plus a few integer and float operations per
  reader, and nothing is kept per target between collections beyond the
  accumulators themselves;
- a collecting reader reads its accumulators under that lock: a cumulative
  metric carries every series seen since :meth:`ProbeMetrics.bind`
  (``start_time_unix_nano`` = bind time); a delta metric carries the series
  that had values since that reader's previous collection
  (``start_time_unix_nano`` = that collection), then starts afresh. Like the
  SDK, a delta series with nothing new is left out, and a metric without
  points is left out altogether. A histogram's sum of the interval is added to
  the running sum when its reader collects, in the SDK's order of addition, so
  the sums match the SDK's to the last bit.

Histograms follow the SDK's explicit-bucket convention (``bisect_left``: a
value equal to a boundary lands in the bucket that boundary closes) and, like
the SDK instruments, drop negative and non-finite values. Each reader's
temporality preference is read per instrument class (counter, histogram).

The SDK's cardinality limit applies per reader and metric: the reader's own
limit (default 2,000 attribute sets), or that of the first provider view
matching the metric (the agent's view raising it for ``genesys.*``); further
series of a collection cycle (delta) or ever (cumulative) fold into one point
``otel.metric.overflow=true``, like the SDK's. When a reader prefers another
histogram aggregation (``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=
base2_exponential_bucket_histogram``), :meth:`ProbeMetrics.bind` falls back to
plain SDK instruments for that provider (the old cost, the SDK's output). Not
reproduced: any other view effect (renames, attribute filters, other
aggregations: a warning is logged),
exemplars (none are recorded off the probe path anyway) and readers added to
the provider after :meth:`ProbeMetrics.bind`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final, cast

from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.instrument import (
    _Counter,
    _Histogram,
    _Instrument,
    _ObservableGauge,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.view import (
    DefaultAggregation,
    ExplicitBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome, TargetInfo
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.attrsets import AttrSet

__all__ = ["METRIC_NAMES", "ProbeMetrics", "target_metric_attrs"]

_log = logging.getLogger(__name__)

Attrs = dict[str, Any]

_INF: Final = math.inf
_OK: Final = Outcome.OK
_DEGRADED: Final = Confidence.DEGRADED
_CUMULATIVE: Final = AggregationTemporality.CUMULATIVE
_DELTA: Final = AggregationTemporality.DELTA
_DEFAULT_CARDINALITY_LIMIT: Final = 2_000
"""The SDK's attribute sets per metric stream unless a reader or view says otherwise."""
_OVERFLOW: Final = AttrSet.of({"otel.metric.overflow": True})


def target_metric_attrs(target: TargetInfo) -> Attrs:
    """Low-cardinality attributes identifying a target on every metric point."""
    attrs: Attrs = {
        n.TARGET: target.name,
        n.TARGET_KIND: target.kind.value,
        n.SERVER_ADDRESS: target.server_address,
        n.SERVER_PORT: target.server_port,
        n.NETWORK_PROTOCOL_NAME: n.WEBSOCKET,
        n.URL_SCHEME: target.url_scheme,
    }
    if target.region:
        attrs[n.REGION] = target.region
    return attrs


# ------------------------------------------------------------------ the metrics


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    unit: str
    description: str
    bounds: tuple[float, ...] | None
    """Explicit bucket boundaries of a histogram; ``None`` for a monotonic counter."""


_RTT, _JITTER_C, _JITTER_R, _PDV, _LATENESS, _PROBES, _BREACHES, _DEGRADED_N = range(8)

_SPECS: Final[tuple[_Spec, ...]] = (
    _Spec(n.METRIC_RTT, n.UNIT_SECONDS, "WebSocket ping/pong round-trip time", n.BUCKETS_RTT),
    _Spec(
        n.METRIC_JITTER_CONSECUTIVE,
        n.UNIT_SECONDS,
        "Absolute difference between consecutive round trips",
        n.BUCKETS_JITTER,
    ),
    _Spec(
        n.METRIC_JITTER_RFC3550,
        n.UNIT_SECONDS,
        "RFC 3550 interarrival jitter estimate",
        n.BUCKETS_JITTER,
    ),
    _Spec(n.METRIC_PDV, n.UNIT_SECONDS, "Windowed packet delay variation", n.BUCKETS_JITTER),
    _Spec(
        n.METRIC_LATENESS,
        n.UNIT_SECONDS,
        "How late each ping left compared with its slot",
        n.BUCKETS_LAG,
    ),
    _Spec(n.METRIC_PROBES, n.UNIT_PING, "Probes by outcome", None),
    _Spec(n.METRIC_BREACHES, n.UNIT_BREACH, "Threshold breaches by threshold", None),
    _Spec(n.METRIC_DEGRADED, n.UNIT_PING, "Probes measured while the agent itself stalled", None),
)

_STABILITY_DESCRIPTION: Final = (
    "Share of probes within the latency limit (last value per target and mode)"
)
_STABILITY: Final = _Spec(n.METRIC_STABILITY, n.UNIT_RATIO, _STABILITY_DESCRIPTION, None)
"""The gauge; its last cardinality limit follows those of ``_SPECS`` in a reader's config."""

METRIC_NAMES: Final[frozenset[str]] = frozenset([*(s.name for s in _SPECS), n.METRIC_STABILITY])
"""The metrics :class:`ProbeMetrics` owns (the recorder must not create instruments for them)."""


# ------------------------------------------------------------------ cells


class _HistAcc:
    """One reader's explicit-bucket histogram of one series: bucket counts, sum, min, max.

    The sum of the values since this reader's last collection (``fresh``) is kept
    apart and folded in when it collects, as the SDK adds an interval's sum to the
    running one: the exported sums are the SDK's to the last bit.
    """

    __slots__ = ("attrs", "bounds", "counts", "fresh", "max", "min", "sum")

    def __init__(self, attrs: AttrSet, bounds: tuple[float, ...]) -> None:
        self.attrs = attrs
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.fresh = 0.0
        self.sum = 0.0
        self.min = _INF
        self.max = -_INF

    def add(self, value: float) -> None:
        """One finite, non-negative value (the caller checks)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.fresh += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def fold(self) -> float:
        """The sum so far, with this interval's added (the reader is collecting)."""
        self.sum = self.fresh + self.sum
        self.fresh = 0.0
        return self.sum


class _Count:
    """One reader's monotonic counter of one series."""

    __slots__ = ("attrs", "value")

    def __init__(self, attrs: AttrSet, value: int = 0) -> None:
        self.attrs = attrs
        self.value = value


class _Cells:
    """One (target, mode)'s accumulators in one reader, found once and then used
    directly: a probe adds to them without looking its series up. Valid while the
    reader's ``generation`` is ``gen`` (a delta reader starts afresh at each
    collection)."""

    __slots__ = (
        "breaches", "degraded", "gen", "jitter_c", "jitter_r", "lateness", "ok", "pdv",
        "rtt_degraded", "rtt_trusted",
    )  # fmt: skip

    def __init__(self, gen: int) -> None:
        self.gen = gen
        self.ok: _Count | None = None
        self.breaches: dict[str, _Count] | None = None
        """By threshold name, made at the first breach (most targets never breach)."""
        self.degraded: _Count | None = None
        self.rtt_trusted: _HistAcc | None = None
        self.rtt_degraded: _HistAcc | None = None
        self.jitter_c: _HistAcc | None = None
        self.jitter_r: _HistAcc | None = None
        self.pdv: _HistAcc | None = None
        self.lateness: _HistAcc | None = None


def _clean(attrs: Attrs) -> AttrSet:
    """The series' attributes as the SDK would store them (cleaned the SDK's way).

    The :class:`AttrSet` is also the series' key: equal exactly when the attribute
    sets are, with the names tuple shared by all series with the same names.
    """
    return AttrSet.of(dict(_clean_attribute_value(attrs, None)))


class _Binding:
    """Everything about one (target, mode) that does not change (its attribute sets),
    and its last stability values (the gauge)."""

    __slots__ = ("base", "breach", "cells", "probe", "rtt", "stability", "stability_attrs")

    def __init__(self, target: TargetInfo, mode: ProbeMode) -> None:
        self.cells: list[_Cells | None] = []
        """Per bound reader (``_ReaderState.index``): this (target, mode)'s accumulators."""
        base = {**target_metric_attrs(target), n.PROBE_MODE: mode.value}
        self.base = _clean(base)
        self.rtt: dict[Confidence, AttrSet] = {
            confidence: _clean({**base, n.CONFIDENCE: confidence.value})
            for confidence in Confidence
        }
        self.probe: dict[tuple[str, str | None], AttrSet] = {}
        self.breach: dict[str, AttrSet] = {}
        self.stability: tuple[float, float] | None = None
        """(window, lifetime) of the latest outcome; written by the recorder thread."""
        self.stability_attrs = (
            _clean({**base, n.STABILITY_SCOPE: "window"}),
            _clean({**base, n.STABILITY_SCOPE: "lifetime"}),
        )

    def new_cells(self, reader: _ReaderState) -> _Cells:
        """Fresh cells for ``reader``: its first probe, or the first after a delta reset
        (the caller has found none valid: ``record`` checks inline, once per probe)."""
        cells = self.cells
        i = reader.index
        if i >= len(cells):
            cells.extend([None] * (i + 1 - len(cells)))
        c = cells[i] = _Cells(reader.generation)
        return c

    def probe_series(self, outcome: str, error_type: str | None) -> AttrSet:
        series = self.probe.get((outcome, error_type))
        if series is None:
            base = dict(self.base)
            base[n.PROBE_OUTCOME] = outcome
            if error_type is not None:
                base[n.ERROR_TYPE] = error_type
            series = self.probe[(outcome, error_type)] = _clean(base)
        return series

    def breach_series(self, threshold: str) -> AttrSet:
        series = self.breach.get(threshold)
        if series is None:
            series = self.breach[threshold] = _clean({**self.base, n.THRESHOLD_NAME: threshold})
        return series


def _same(attrs: AttrSet) -> AttrSet:
    return attrs


class _ReaderState:
    """One bound reader's accumulators and temporality preferences."""

    def __init__(
        self,
        index: int,
        temporality: list[AggregationTemporality],
        limits: list[int],
        bind_ns: int,
        plain: bool = True,
    ) -> None:
        self.index = index
        """Where this reader's cells sit in each binding's ``cells``."""
        self.plain = plain
        """Hand this reader's exporter dicts, not the :class:`AttrSet` itself (the
        console exporter's JSON, for one, takes only dicts); False for the OTLP
        exporters whose encoder reads the set as it is."""
        self.temporality = temporality
        self.limits = limits
        self.gauge_limit = limits[len(_SPECS)] if len(limits) > len(_SPECS) else limits[-1]
        self.series: list[dict[AttrSet, _Count | _HistAcc]] = [{} for _ in _SPECS]
        self.generation = 0
        """Bumped when a delta metric starts afresh: every binding's cells are found again."""
        self.bind_ns = bind_ns
        self.last_ns = bind_ns

    def _acc(self, idx: int, attrs: AttrSet) -> _Count | _HistAcc:
        """The accumulator of series ``attrs`` of metric ``idx``: made at its first value,
        or the overflow's past the reader's cardinality limit (the SDK's overflow: one
        more point for every further attribute set)."""
        d = self.series[idx]
        acc = d.get(attrs)
        if acc is None:
            if len(d) >= self.limits[idx]:
                attrs = _OVERFLOW
                acc = d.get(attrs)
            if acc is None:
                bounds = _SPECS[idx].bounds
                acc = d[attrs] = _Count(attrs) if bounds is None else _HistAcc(attrs, bounds)
        return acc

    def count(self, idx: int, attrs: AttrSet) -> _Count:
        """The counter of series ``attrs`` of counter metric ``idx``."""
        return cast(_Count, self._acc(idx, attrs))

    def hist(self, idx: int, attrs: AttrSet) -> _HistAcc:
        """The histogram of series ``attrs`` of histogram metric ``idx``."""
        return cast(_HistAcc, self._acc(idx, attrs))

    def emit(self, now_ns: int) -> list[Metric]:
        metrics: list[Metric] = []
        attrs_of = dict if self.plain else _same
        for idx, spec in enumerate(_SPECS):
            d = self.series[idx]
            if not d:
                continue
            temporality = self.temporality[idx]
            delta = temporality is _DELTA
            start = self.last_ns if delta else self.bind_ns
            if spec.bounds is not None:
                hpoints = []
                for acc in d.values():
                    h = cast(_HistAcc, acc)
                    hpoints.append(
                        HistogramDataPoint(
                            attributes=attrs_of(h.attrs),
                            start_time_unix_nano=start,
                            time_unix_nano=now_ns,
                            count=sum(h.counts),
                            sum=h.fold(),
                            bucket_counts=tuple(h.counts),
                            explicit_bounds=spec.bounds,
                            min=h.min,
                            max=h.max,
                        )
                    )
                data: Histogram | Sum = Histogram(hpoints, temporality)
            else:
                npoints = [
                    NumberDataPoint(
                        attributes=attrs_of(acc.attrs),
                        start_time_unix_nano=start,
                        time_unix_nano=now_ns,
                        value=cast(_Count, acc).value,
                    )
                    for acc in d.values()
                ]
                data = Sum(npoints, temporality, is_monotonic=True)
            metrics.append(Metric(spec.name, spec.description, spec.unit, data))
            if delta:
                self.series[idx] = {}
                self.generation += 1
        self.last_ns = now_ns
        return metrics


# ------------------------------------------------------------------ SDK seam
# The only code here that relies on SDK 1.45 internals. MetricReader.collect()
# calls ``self._collect(self, timeout_millis=...)``, a callback the MeterProvider
# installs with ``_set_collect_callback``; there is no public MetricProducer.
# tests/telemetry/test_probe_metrics.py fails loudly if this stops working.


def _readers_of(provider: MeterProvider) -> list[MetricReader]:
    """Every reader registered on ``provider`` (constructor and ``add_metric_reader``)."""
    try:
        storages = provider._measurement_consumer._reader_storages
        return list(storages)
    except AttributeError as exc:
        raise RuntimeError(
            "ProbeMetrics.bind: this OpenTelemetry SDK keeps its metric readers elsewhere"
        ) from exc


def _views_of(provider: MeterProvider) -> Sequence[View]:
    views = getattr(provider._sdk_config, "views", None)
    if views is None:
        raise RuntimeError("ProbeMetrics.bind: cannot find the meter provider's views")
    return list(views)


def _resource_of(provider: MeterProvider) -> Resource:
    resource = provider._sdk_config.resource
    if not isinstance(resource, Resource):
        raise RuntimeError("ProbeMetrics: cannot find the meter provider's resource")
    return resource


def _reader_config(
    reader: MetricReader, views: Sequence[View], scope: InstrumentationScope
) -> tuple[list[AggregationTemporality], list[int]]:
    """Per metric: the reader's temporality, and the cardinality limit of the SDK stream."""
    try:
        temporality = reader._instrument_class_temporality
        aggregation = reader._instrument_class_aggregation
        limits = reader._instrument_class_cardinality_limit
        by_class = {cls: temporality[cls] for cls in (_Histogram, _Counter)}
    except (AttributeError, KeyError) as exc:
        raise RuntimeError(f"ProbeMetrics.bind: cannot read the preferences of {reader!r}") from exc
    if not isinstance(aggregation.get(_Counter), DefaultAggregation):
        _log.warning(
            "%r prefers %r for counters; the probe counters keep the default aggregation",
            reader, aggregation.get(_Counter),
        )  # fmt: skip
    temporalities: list[AggregationTemporality] = []
    cardinality: list[int] = []
    for spec in (*_SPECS, _STABILITY):
        cls: type[_Instrument] = _Counter
        if spec is _STABILITY:
            cls = _ObservableGauge
        else:
            cls = _Histogram if spec.bounds is not None else _Counter
            temporalities.append(by_class[cls])
        limit = limits.get(cls, _DEFAULT_CARDINALITY_LIMIT)
        view = _first_view(views, spec, cls, scope)
        if view is not None and view._aggregation_cardinality_limit is not None:
            limit = view._aggregation_cardinality_limit
        cardinality.append(limit)
    return temporalities, cardinality


def _first_view(
    views: Sequence[View], spec: _Spec, cls: type, scope: InstrumentationScope
) -> View | None:
    """The first provider view the SDK would match with this metric's instrument."""
    for view in views:
        if view._instrument_type is not None and not issubclass(cls, view._instrument_type):
            continue
        name = view._instrument_name
        if name is not None and not fnmatchcase(spec.name, name.lower()):
            continue
        if view._instrument_unit is not None and not fnmatchcase(spec.unit, view._instrument_unit):
            continue
        if view._meter_name is not None and view._meter_name != scope.name:
            continue
        if view._meter_version is not None and view._meter_version != scope.version:
            continue
        if view._meter_schema_url is not None and view._meter_schema_url != scope.schema_url:
            continue
        if (
            view._name is not None
            or view._description is not None
            or view._attribute_keys is not None
            or not isinstance(view._aggregation, DefaultAggregation)
        ):
            _log.warning(
                "view %r is not applied to %s (only its cardinality limit)", view, spec.name
            )
        return view
    return None


def hook_reader_collect(
    reader: MetricReader,
    after: Callable[[MetricsData | None], MetricsData | None],
) -> None:
    """Make every later ``reader.collect()`` pass the SDK's result through ``after``.

    Wraps the collect callback the MeterProvider gave the reader. Raises
    :class:`RuntimeError` when the reader has none (not registered, or an SDK
    whose readers obtain their data another way).
    """
    original = getattr(reader, "_collect", None)
    if not callable(original):
        raise RuntimeError(
            f"ProbeMetrics.bind: {reader!r} has no collect callback; register it on the "
            "meter provider first (or the OpenTelemetry SDK changed how readers collect)"
        )

    def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        return after(original(r, timeout_millis=timeout_millis))

    reader._set_collect_callback(cast(Any, collect))


class _SdkInstruments:
    """The fallback: the same metrics through the provider's own instruments (readers with
    aggregations this module does not reproduce, such as base-2 exponential histograms,
    or a provider that is not the SDK's, such as the API's global proxy)."""

    def __init__(
        self, provider: ApiMeterProvider, scope_name: str, scope_version: str
    ) -> None:
        meter = provider.get_meter(scope_name, scope_version)
        self.histograms = [
            meter.create_histogram(
                s.name, s.unit, s.description, explicit_bucket_boundaries_advisory=s.bounds
            )
            for s in _SPECS[:_PROBES]
        ]
        self.counters = [
            meter.create_counter(s.name, s.unit, s.description) for s in _SPECS[_PROBES:]
        ]
        self.base: dict[tuple[TargetInfo, ProbeMode], Attrs] = {}
        self.stability: dict[tuple[TargetInfo, ProbeMode], tuple[float, float]] = {}
        meter.create_observable_gauge(
            n.METRIC_STABILITY, [self._observe], n.UNIT_RATIO, _STABILITY_DESCRIPTION
        )

    def _observe(self, _options: CallbackOptions) -> list[Observation]:
        out: list[Observation] = []
        for key, (window, lifetime) in list(self.stability.items()):
            base = self.base[key]
            out.append(Observation(window, {**base, n.STABILITY_SCOPE: "window"}))
            out.append(Observation(lifetime, {**base, n.STABILITY_SCOPE: "lifetime"}))
        return out

    def record(self, o: ProbeOutcome) -> None:
        base = self.base.get((o.target, o.mode))
        if base is None:
            base = {**target_metric_attrs(o.target), n.PROBE_MODE: o.mode.value}
            self.base[(o.target, o.mode)] = base
        rtt, jitter_c, jitter_r, pdv, lateness = self.histograms
        probes, breaches, degraded = self.counters
        counted = {**base, n.PROBE_OUTCOME: o.outcome.value}
        if o.outcome is not _OK:
            counted[n.ERROR_TYPE] = o.error_type or o.outcome.value
        probes.add(1, counted)
        if o.rtt_ns is not None:
            rtt.record(o.rtt_ns / 1e9, {**base, n.CONFIDENCE: o.confidence.value})
        if o.jitter_ns is not None:
            jitter_c.record(o.jitter_ns / 1e9, base)
        if o.jitter_rfc3550_ns is not None:
            jitter_r.record(o.jitter_rfc3550_ns / 1e9, base)
        if o.pdv_ns is not None:
            pdv.record(o.pdv_ns / 1e9, base)
        lateness.record(max(o.lateness_ns, 0) / 1e9, base)
        for breach in o.breaches:
            breaches.add(1, {**base, n.THRESHOLD_NAME: breach.threshold})
        if o.confidence is _DEGRADED:
            degraded.add(1, base)
        self.stability[(o.target, o.mode)] = (o.stability, o.stability_lifetime)


def _needs_sdk(reader: MetricReader) -> bool:
    """Whether ``reader`` wants a histogram aggregation only the SDK produces."""
    aggregation = getattr(reader, "_instrument_class_aggregation", {}).get(_Histogram)
    return not isinstance(aggregation, (DefaultAggregation, ExplicitBucketHistogramAggregation))


# ------------------------------------------------------------------ the public face


class ProbeMetrics:
    """The per-probe metrics, aggregated in-house and collected by the SDK's readers.

    >>> pm = ProbeMetrics()
    >>> # pm.bind(meter_provider, n.INSTRUMENTATION_SCOPE, version)  # once, at setup
    >>> # pm.record(outcome)                                        # per probe, one thread
    """

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        """Guards the readers' accumulators between the writer and a collection."""
        self._collect_lock = threading.Lock()
        """Serialises collections."""
        self._bindings: dict[tuple[TargetInfo, ProbeMode], _Binding] = {}
        self._readers: dict[int, _ReaderState] = {}
        self._states: list[_ReaderState] = []
        """The bound readers in binding order (``_ReaderState.index``)."""
        self._sdk: _SdkInstruments | None = None
        self.errors = 0
        """Outcomes :meth:`record` could not aggregate (logged at debug, never raised)."""

    # ---------------------------------------------------------------- writer side

    def record(self, outcome: ProbeOutcome) -> None:
        """Aggregate one probe outcome (the telemetry worker thread; never raises).

        Its values go straight into each bound reader's accumulators, found once per
        (target, mode) and reader; values recorded before any reader is bound only
        update the stability gauge.
        """
        o = outcome
        try:
            if self._sdk is not None:
                self._sdk.record(o)
                return
            # The values, once: SDK instruments drop negative and non-finite values.
            # Written out, here and below, rather than a conversion helper and a loop
            # over (metric index, value) pairs: this runs once per probe and reader, and
            # `python -m bench.telemetry_cost --targets 1000 --rounds 3` measured the
            # looped form at 1.77-1.80 µs a probe against 1.48-1.53 written out (five
            # runs of each, alternated).
            rtt = jitter_c = jitter_r = pdv = None
            if o.rtt_ns is not None:
                v = o.rtt_ns / 1e9
                rtt = v if 0.0 <= v < _INF else None
            if o.jitter_ns is not None:
                v = o.jitter_ns / 1e9
                jitter_c = v if 0.0 <= v < _INF else None
            if o.jitter_rfc3550_ns is not None:
                v = o.jitter_rfc3550_ns / 1e9
                jitter_r = v if 0.0 <= v < _INF else None
            if o.pdv_ns is not None:
                v = o.pdv_ns / 1e9
                pdv = v if 0.0 <= v < _INF else None
            v = max(o.lateness_ns, 0) / 1e9
            lateness = v if v < _INF else None
            ok = o.outcome is _OK
            degraded = o.confidence is _DEGRADED
            key = (o.target, o.mode)
            with self._lock:
                b = self._bindings.get(key)
                if b is None:
                    b = self._bindings[key] = _Binding(*key)
                b.stability = (o.stability, o.stability_lifetime)
                cells = b.cells
                for rs in self._states:
                    i = rs.index
                    c = cells[i] if i < len(cells) else None
                    if c is None or c.gen != rs.generation:
                        c = b.new_cells(rs)
                    if ok:
                        acc = c.ok
                        if acc is None:
                            acc = c.ok = rs.count(_PROBES, b.probe_series(_OK.value, None))
                        acc.value += 1
                    else:
                        outcome_name = o.outcome.value
                        series = b.probe_series(outcome_name, o.error_type or outcome_name)
                        rs.count(_PROBES, series).value += 1
                    if rtt is not None:
                        if degraded:
                            h = c.rtt_degraded
                            if h is None:
                                h = c.rtt_degraded = rs.hist(_RTT, b.rtt[Confidence.DEGRADED])
                        else:
                            h = c.rtt_trusted
                            if h is None:
                                h = c.rtt_trusted = rs.hist(_RTT, b.rtt[Confidence.TRUSTED])
                        h.add(rtt)
                    if jitter_c is not None:
                        h = c.jitter_c
                        if h is None:
                            h = c.jitter_c = rs.hist(_JITTER_C, b.base)
                        h.add(jitter_c)
                    if jitter_r is not None:
                        h = c.jitter_r
                        if h is None:
                            h = c.jitter_r = rs.hist(_JITTER_R, b.base)
                        h.add(jitter_r)
                    if pdv is not None:
                        h = c.pdv
                        if h is None:
                            h = c.pdv = rs.hist(_PDV, b.base)
                        h.add(pdv)
                    if lateness is not None:
                        h = c.lateness
                        if h is None:
                            h = c.lateness = rs.hist(_LATENESS, b.base)
                        h.add(lateness)
                    if o.breaches:
                        by_name = c.breaches
                        if by_name is None:
                            by_name = c.breaches = {}
                        for breach in o.breaches:
                            name = breach.threshold
                            acc = by_name.get(name)
                            if acc is None:
                                acc = by_name[name] = rs.count(_BREACHES, b.breach_series(name))
                            acc.value += 1
                    if degraded:
                        acc = c.degraded
                        if acc is None:
                            acc = c.degraded = rs.count(_DEGRADED_N, b.base)
                        acc.value += 1
        except Exception:
            self.errors += 1
            _log.debug("probe metrics: outcome not aggregated", exc_info=True)

    # ---------------------------------------------------------------- reader side

    def use_instruments(
        self, meter_provider: ApiMeterProvider, scope_name: str, scope_version: str
    ) -> None:
        """Record through ``meter_provider``'s instruments instead of aggregating here.

        For a provider :meth:`bind` cannot hook: not the SDK's (the API's global
        proxy before an SDK is installed, another implementation).
        """
        self._sdk = _SdkInstruments(meter_provider, scope_name, scope_version)

    def bind(self, meter_provider: MeterProvider, scope_name: str, scope_version: str) -> None:
        """Make every reader of ``meter_provider`` collect these metrics from now on.

        They are merged into the ScopeMetrics of (``scope_name``,
        ``scope_version``) under the provider's resource, created when the SDK
        produced none. Call once the provider has all its readers; readers
        added later are not served. A disabled SDK (``OTEL_SDK_DISABLED``)
        exports nothing, like its instruments. Raises :class:`RuntimeError` if
        this SDK's readers cannot be hooked.
        """
        if getattr(meter_provider, "_disabled", False):
            return
        scope = InstrumentationScope(scope_name, scope_version, None, None)
        views = _views_of(meter_provider)
        readers = _readers_of(meter_provider)
        if any(_needs_sdk(r) for r in readers):
            _log.info(
                "probe metrics: a reader wants an SDK-only aggregation; using SDK instruments"
            )
            self._sdk = _SdkInstruments(meter_provider, scope_name, scope_version)
            return
        now = self._clock()
        for reader in readers:
            if id(reader) in self._readers:
                continue
            temporality, limits = _reader_config(reader, views, scope)
            exporter = getattr(reader, "_exporter", None)
            plain = not getattr(exporter, "TAKES_ATTR_SETS", False)
            state = _ReaderState(len(self._states), temporality, limits, now, plain)

            def after(
                data: MetricsData | None,
                state: _ReaderState = state,
                provider: MeterProvider = meter_provider,
            ) -> MetricsData | None:
                return self._serve(state, data, scope, provider)

            hook_reader_collect(reader, after)
            with self._lock:
                self._readers[id(reader)] = state
                self._states = [*self._states, state]

    def series_count(self) -> int:
        """Counter and histogram series the bound readers hold, summed over readers.

        With cumulative temporality a series lives from its first value on (a
        target's first timeout, its first breach of a threshold), as in the SDK;
        the count is bounded by targets by modes by attribute sets and by each
        reader's cardinality limit.
        """
        with self._collect_lock, self._lock:
            return sum(len(d) for state in self._states for d in state.series)

    def large_counts(self) -> int:
        """Bucket counts and counter values above 256 that the bound readers hold.

        CPython keeps one shared object for each integer up to 256; every larger
        count is an object of its own. With cumulative temporality a histogram's
        heap therefore grows, one block at a time, as each of its buckets passes
        256 observations, up to buckets x series; the soak accounts for it.
        """
        total = 0
        with self._collect_lock, self._lock:
            for state in self._states:
                for d in state.series:
                    for acc in d.values():
                        if isinstance(acc, _Count):
                            total += acc.value > 256
                        else:
                            total += sum(1 for c in acc.counts if c > 256)
        return total

    def collect_into(self, state: _ReaderState) -> list[Metric]:
        """``state``'s reader's metrics now (the writer waits while they are read)."""
        with self._collect_lock, self._lock:
            now = self._clock()
            metrics = state.emit(now)
            gauge = _stability_gauge(
                list(self._bindings.values()), now, state.gauge_limit, state.plain
            )
            if gauge is not None:
                metrics.append(gauge)
            return metrics

    def _serve(
        self,
        state: _ReaderState,
        data: MetricsData | None,
        scope: InstrumentationScope,
        provider: MeterProvider,
    ) -> MetricsData | None:
        try:
            metrics = self.collect_into(state)
            if not metrics:
                return data
            return _merged(data, metrics, scope, provider)
        except Exception:
            _log.warning("probe metrics: collection failed", exc_info=True)
            return data


def _stability_gauge(
    bindings: list[_Binding], now_ns: int, limit: int, plain: bool
) -> Metric | None:
    """``genesys.websocket.stability``: the last window and lifetime value per (target, mode).

    Like the SDK's last-value aggregation: one point per attribute set (the later
    value wins when two targets share one), and past ``limit`` sets one overflow point.
    """
    points: dict[AttrSet, NumberDataPoint] = {}
    for b in bindings:
        last = b.stability
        if last is None:
            continue
        for attrs, value in zip(b.stability_attrs, last, strict=True):
            if attrs not in points and len(points) >= limit:
                attrs = _OVERFLOW
            # A gauge point has no start time (None, as the SDK's last-value aggregation).
            points[attrs] = NumberDataPoint(
                dict(attrs) if plain else attrs,
                None,  # type: ignore[arg-type]
                now_ns,
                value,
            )
    if not points:
        return None
    return Metric(
        _STABILITY.name, _STABILITY.description, _STABILITY.unit, Gauge(list(points.values()))
    )


def _merged(
    data: MetricsData | None,
    metrics: list[Metric],
    scope: InstrumentationScope,
    provider: MeterProvider,
) -> MetricsData:
    """``data`` with ``metrics`` appended to ``scope``'s ScopeMetrics (created if absent)."""
    if data is None or not data.resource_metrics:
        resource = _resource_of(provider)
        scope_metrics = ScopeMetrics(scope, metrics, scope.schema_url or "")
        return MetricsData([ResourceMetrics(resource, [scope_metrics], resource.schema_url)])
    resource_metrics = list(data.resource_metrics)
    rm = resource_metrics[0]  # the SDK produces one, for the provider's resource
    scopes = list(rm.scope_metrics)
    for i, sm in enumerate(scopes):
        if sm.scope == scope:
            scopes[i] = ScopeMetrics(sm.scope, [*sm.metrics, *metrics], sm.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(scope, metrics, scope.schema_url or ""))
    resource_metrics[0] = ResourceMetrics(rm.resource, scopes, rm.schema_url)
    return MetricsData(resource_metrics)
