"""Configuration: dynaconf-loaded, validated, frozen.

Sources, lowest precedence first: built-in defaults, ``settings.toml``,
``.secrets.toml`` beside it, ``OTEL_GENESYS_*`` environment variables (``__``
nests: ``OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET``). This package is the
only place that reads ``OTEL_GENESYS_*`` variables. See docs/configuration.md.

>>> config = load_config(env={})        # no files, no env: valid, no targets
>>> config.targets, config.defaults.interval_ns
((), 2000000000)
"""

from __future__ import annotations

from otel_genesys.config._durations import _parse_duration as _parse_duration
from otel_genesys.config._durations import format_duration
from otel_genesys.config._load import (
    CONFIG_ENV,
    ENV_PREFIX,
    generic_target_from_url,
    load_config,
)
from otel_genesys.config._model import (
    AgentConfig,
    DriftConfig,
    GenericTarget,
    HealthConfig,
    LogConfig,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
    ProbeModeSet,
    ShardingConfig,
    Target,
    TelemetryConfig,
)
from otel_genesys.config._render import (
    REDACTED,
    redacted_dict,
    redacted_toml,
    reference_markdown,
)
from otel_genesys.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "REDACTED",
    "AgentConfig",
    "ConfigError",
    "DriftConfig",
    "GenericTarget",
    "HealthConfig",
    "LogConfig",
    "MonitorConfig",
    "NotificationTarget",
    "OAuthClient",
    "ProbeModeSet",
    "ShardingConfig",
    "Target",
    "TelemetryConfig",
    "format_duration",
    "generic_target_from_url",
    "load_config",
    "redacted_dict",
    "redacted_toml",
    "reference_markdown",
]
