"""The agent: connection lifecycle per target (`monitor`), many targets in one
process (`supervisor.Agent`), failure classification, stall watch, the CLI
runner, live view, health endpoint and reports. Import from the submodules, or
use the lazy exports of :mod:`otel_genesys`."""
