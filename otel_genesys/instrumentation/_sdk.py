"""An SDK for ``opentelemetry-instrument`` runs where nothing else configures one.

``opentelemetry-instrument`` leaves SDK set-up to a *configurator* (normally
from the ``opentelemetry-distro`` package). Without one, the global providers
stay no-ops and nothing would be exported. So, only when all of these hold:

- ``instrument()`` runs inside ``opentelemetry-instrument`` (its sitecustomize is loaded),
- no ``opentelemetry_configurator`` entry point is installed,
- the global tracer provider is still the API's proxy,
- ``OTEL_GENESYS_INSTRUMENT_SDK`` is not ``false``,

the instrumentation builds providers with the project's own
:func:`~otel_genesys.telemetry.setup_telemetry` — which honours the standard
``OTEL_*`` exporter, endpoint, protocol, resource and service-name variables —
and sets them global, as a distro would. ``OTEL_GENESYS_INSTRUMENT_SDK=true``
forces this outside ``opentelemetry-instrument`` too.
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.util._importlib_metadata import entry_points

from otel_genesys.telemetry import Telemetry, TelemetrySettings, setup_telemetry

_log = logging.getLogger(__name__)

ENV_SDK = "OTEL_GENESYS_INSTRUMENT_SDK"
"""``auto`` (default), ``true`` or ``false``: build a global SDK when none is configured."""

ENV_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
"""The standard metric export period in milliseconds; default 60000, as the SDK's."""

_AUTO_MARK = "auto_instrumentation"
_SIGNAL_VARS = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def wanted(env: Mapping[str, str]) -> bool:
    """Whether this process needs the instrumentation to configure the SDK."""
    choice = env.get(ENV_SDK, "auto").strip().lower()
    if choice in ("false", "0", "no", "off"):
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False  # someone configured an SDK already
    if choice in ("true", "1", "yes", "on"):
        return True
    return under_opentelemetry_instrument() and not list(
        entry_points(group="opentelemetry_configurator")
    )


def under_opentelemetry_instrument() -> bool:
    """Whether ``opentelemetry-instrument`` started this process (its sitecustomize ran)."""
    # It puts its auto_instrumentation directory first on PYTHONPATH, so its module
    # is imported under the plain name "sitecustomize".
    module = sys.modules.get("sitecustomize")
    path = str(getattr(module, "__file__", "") or "")
    return _AUTO_MARK in path and "opentelemetry" in path


def configure(env: Mapping[str, str]) -> Telemetry:
    """Build and install global providers from the ``OTEL_*`` variables."""
    # OpenTelemetry's documented default exporter is OTLP; the agent's "auto" would pick
    # the console when nothing is set, which is not what an instrumented app expects.
    explicit = any(env.get(v) for v in _SIGNAL_VARS)
    settings = TelemetrySettings(
        exporter="auto" if explicit else "otlp", export_interval_ns=_metric_interval_ns(env)
    )
    telemetry = setup_telemetry(settings, set_global=True)
    atexit.register(telemetry.shutdown, 5.0)
    _log.debug("otel-genesys instrumentation configured the SDK: %s", telemetry.routes)
    return telemetry


def _metric_interval_ns(env: Mapping[str, str]) -> int:
    """``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds, the SDK's default 60000), in ns."""
    raw = env.get(ENV_METRIC_EXPORT_INTERVAL, "").strip()
    try:
        millis = float(raw) if raw else 60_000.0
    except ValueError:
        _log.warning("%s=%r ignored: not a number of milliseconds", ENV_METRIC_EXPORT_INTERVAL, raw)
        millis = 60_000.0
    return max(1, int(millis * 1_000_000)) if millis > 0 else 60_000_000_000
