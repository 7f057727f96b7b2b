"""Benchmarks of truth, overhead and scale for otel-genesys (issue 9).

``python -m bench [--quick] [--only SUITE ...]`` (or ``make bench``) runs the
harness and writes ``bench/results/REPORT.md`` with PNG plots beside it:

- ``truth``: one socket to the emulator, known pong delays, agent vs a bare
  aiohttp client vs the websockets library's keepalive ``latency``;
- ``scale``: 1…10,000 sockets at 1 Hz to a bare pong server — CPU per
  cycle (the overhead ratio), RSS, lateness, RTT, losses, degraded share;
- ``profile``: py-spy over the agent at scale (when py-spy is installed);
- ``instrumentation``: ``bench/instrumentation_overhead.py`` when present.

Modules: :mod:`bench.harness` (orchestration), :mod:`bench._client` (the
measured processes), :mod:`bench.pong_server`, :mod:`bench.report`,
:mod:`bench.profile`, :mod:`bench._stats`, :mod:`bench._otlp_sink`.
"""
