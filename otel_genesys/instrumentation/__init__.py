"""Auto-instrumentation: measure the WebSockets an existing Genesys app already holds.

``opentelemetry-instrument python app.py`` finds :class:`GenesysWebSocketInstrumentor`
through the ``opentelemetry_instrumentor`` entry point ``genesys_websocket``
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=genesys_websocket`` turns it off).
Or in code::

    from otel_genesys.instrumentation import GenesysWebSocketInstrumentor
    GenesysWebSocketInstrumentor().instrument(hosts=["ws.example.com"])

What it measures, on connections to Genesys streaming hosts (every region)
plus the hosts in ``OTEL_GENESYS_INSTRUMENT_HOSTS`` / ``hosts=``:

- aiohttp and websockets clients, passively: the round trip of the app's own
  RFC 6455 pings (websockets' keepalive included) and Genesys JSON pings;
- actively, with ``OTEL_GENESYS_INSTRUMENT_ACTIVE_INTERVAL``: the
  instrumentation's own pings on the app's connection, hidden from the app;
- aiohttp AudioHook servers: the RTT Genesys reports in each ping and the
  server's own ping→pong turnaround.

Probe outcomes go through the core (`ProbeSession`) and the telemetry
`Recorder`, so spans and metrics have the agent's names. See docs/instrumentation.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_genesys.instrumentation import _aiohttp_client, _audiohook, _sdk, _websockets_client
from otel_genesys.instrumentation._audiohook import parse_iso_duration
from otel_genesys.instrumentation._common import Runtime, is_json_ping, is_json_pong
from otel_genesys.instrumentation._conn import ConnectionProbe
from otel_genesys.instrumentation._settings import (
    ENV_ACTIVE_INTERVAL,
    ENV_AUDIOHOOK,
    ENV_AUDIOHOOK_PATHS,
    ENV_HOSTS,
    HostPredicate,
    InstrumentSettings,
    settings_from,
    target_for,
)
from otel_genesys.instrumentation._telemetry import ERRORS, flush_all, shutdown_all, telemetry_for
from otel_genesys.instrumentation.package import _instruments

_log = logging.getLogger(__name__)
# Library etiquette: without this, Python's last-resort handler would print the
# recorder's audit warnings (late pongs …) on the instrumented app's stderr when
# the app configured no logging. Apps that configure logging still receive them.
logging.getLogger("otel_genesys").addHandler(logging.NullHandler())

ENTRY_POINT_NAME = "genesys_websocket"
"""The name in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` that turns this off."""

__all__ = [
    "ENTRY_POINT_NAME",
    "ENV_ACTIVE_INTERVAL",
    "ENV_AUDIOHOOK",
    "ENV_AUDIOHOOK_PATHS",
    "ENV_HOSTS",
    "ConnectionProbe",
    "GenesysWebSocketInstrumentor",
    "HostPredicate",
    "InstrumentSettings",
    "flush_all",
    "is_json_ping",
    "is_json_pong",
    "parse_iso_duration",
    "settings_from",
    "shutdown_all",
    "target_for",
]


class GenesysWebSocketInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Measures ping/pong round trips on the app's own Genesys WebSocket connections.

    ``instrument()`` keyword arguments (all optional):

    - ``tracer_provider`` / ``meter_provider``: default the global ones;
    - ``hosts``: extra host names (``*.suffix`` allowed), added to the Genesys
      streaming hosts and ``OTEL_GENESYS_INSTRUMENT_HOSTS``;
    - ``active_interval``: ``"5s"`` etc.; overrides ``OTEL_GENESYS_INSTRUMENT_ACTIVE_INTERVAL``;
    - ``audiohook`` (bool) / ``audiohook_paths`` (path prefixes);
    - ``probe_settings``: a core ``ProbeSettings`` (thresholds, timeouts).

    Instrumenting twice is a no-op (a warning from ``BaseInstrumentor``).
    """

    _runtime: Runtime | None = None
    _websockets: bool = False

    def instrumentation_dependencies(self) -> Collection[str]:
        """``aiohttp``; websockets is optional (instrumented only when importable)."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider = kwargs.get("tracer_provider")
        meter_provider = kwargs.get("meter_provider")
        recorder = None
        if tracer_provider is None and meter_provider is None and _sdk.wanted(os.environ):
            built = _sdk.configure(os.environ)
            tracer_provider, meter_provider = built.tracer_provider, built.meter_provider
            recorder = built.recorder
        tracer_provider = tracer_provider or trace.get_tracer_provider()
        meter_provider = meter_provider or metrics.get_meter_provider()
        settings = settings_from(
            os.environ,
            hosts=kwargs.get("hosts"),
            active_interval=kwargs.get("active_interval"),
            audiohook=kwargs.get("audiohook"),
            audiohook_paths=kwargs.get("audiohook_paths"),
            probe=kwargs.get("probe_settings"),
        )
        telemetry = telemetry_for(tracer_provider, meter_provider, recorder)
        rt = Runtime(settings, telemetry, ERRORS)
        self._runtime = rt
        _aiohttp_client.instrument(rt)
        if settings.audiohook:
            _audiohook.instrument(rt)
        self._websockets = _websockets_client.available()
        if self._websockets:
            _websockets_client.instrument(rt)

    def _uninstrument(self, **kwargs: Any) -> None:
        _aiohttp_client.uninstrument()
        _audiohook.uninstrument()
        if self._websockets:
            _websockets_client.uninstrument()
            self._websockets = False
        rt = self._runtime
        self._runtime = None
        if rt is not None:
            rt.close_all()
            rt.telemetry.recorder.flush(2.0)

    @property
    def runtime(self) -> Runtime | None:
        """The live wrappers' shared state while instrumented (for tests and diagnostics)."""
        return self._runtime
