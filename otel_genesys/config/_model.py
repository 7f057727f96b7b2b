"""The frozen configuration objects the agent runs on.

Each field that a settings key fills carries a :class:`Spec` in its metadata
(key name, type, rule, documentation). Durations are integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_genesys.config._spec import (
    Spec,
    at_least_ns,
    at_most_ns,
    in_range,
    matches,
    non_negative,
    positive,
    spec_field,
    url_scheme,
)
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.secret import Secret

ProbeModeSet = frozenset[ProbeMode]
"""The probe modes a notification target runs (one or both)."""

DEFAULT_MODES: ProbeModeSet = frozenset({ProbeMode.NOTIFICATION})

CONNECTION_ID_PATTERN = r"[A-Za-z0-9_-]{8,36}"
MIN_INTERVAL_NS = 100_000_000
MAX_PROBE_FREQUENCY_LIMIT_NS = 5_000_000_000


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Drift compensation of the probe scheduler (the tutorial's ``DriftCompensation``)."""

    enabled: bool = spec_field(
        True,
        Spec("enabled", "bool", "Correct the schedule when probes go out late."),
    )
    max_drift_ns: int = spec_field(
        10_000_000,
        Spec(
            "max_drift_ms",
            "millis",
            "Wake-up delay that every recent probe had (the smallest of the last 8-15) "
            "tolerated before the scheduler corrects it.",
            rule=">= 0",
            check=non_negative,
        ),
    )
    adjust_factor: float = spec_field(
        0.95,
        Spec(
            "adjust_factor",
            "float",
            "Share of the measured drift removed from the next wait.",
            rule="in (0, 1]",
            check=in_range(0, 1, low_open=True),
        ),
    )


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """How one target is probed; ``[defaults]`` sets it, each target may override any key."""

    connection_id: str | None = spec_field(
        None,
        Spec(
            "connection_id",
            "optional_str",
            "Identifier put in audit logs and the generic first message.",
            rule=f"matches ^{CONNECTION_ID_PATTERN}$",
            check=matches(CONNECTION_ID_PATTERN, f"^{CONNECTION_ID_PATTERN}$"),
        ),
    )
    interval_ns: int = spec_field(
        2_000_000_000,
        Spec(
            "interval",
            "duration",
            "Time between two pings.",
            rule=">= 100ms and >= probe_frequency_limit",
            check=at_least_ns(MIN_INTERVAL_NS),
        ),
    )
    stagger_grid_ns: int = spec_field(
        0,
        Spec(
            "stagger_grid",
            "duration",
            "The agent spreads its targets' pings evenly over one interval, each offset "
            "rounded down to a multiple of this: targets on the same step ping together, "
            "in one event-loop wake-up: less CPU per probe with many thousands of targets, "
            "a higher median RTT when the server answers them one by one. `0s`: every "
            "target its own offset.",
            rule=">= 0 and <= interval",
            check=non_negative,
        ),
    )
    probe_frequency_limit_ns: int = spec_field(
        1_000_000_000,
        Spec(
            "probe_frequency_limit",
            "duration",
            "Pings never go out more often than this; `interval` may not be shorter.",
            rule="> 0 and <= 5s",
            check=at_most_ns(MAX_PROBE_FREQUENCY_LIMIT_NS),
        ),
    )
    max_latency_ns: int = spec_field(
        300_000_000,
        Spec(
            "max_latency_ms",
            "millis",
            "Round trip above this is a latency breach.",
            rule="> 0",
            check=positive,
        ),
    )
    max_jitter_ns: int = spec_field(
        50_000_000,
        Spec(
            "max_jitter_ms",
            "millis",
            "Jitter above this is a jitter breach.",
            rule="> 0",
            check=positive,
        ),
    )
    drift: DriftConfig = spec_field(  # noqa: RUF009 - frozen, so sharing the default is safe
        DriftConfig(),
        Spec("drift", "table", "Drift compensation (sub-table)."),
    )
    timeout_ns: int | None = spec_field(
        None,
        Spec(
            "timeout",
            "timeout",
            "Pong deadline: `adaptive` (SRTT + 4·RTTVAR, clamped to "
            "[timeout_min, timeout_max]) or a fixed duration.",
            rule='"adaptive" or > 0',
            check=positive,
        ),
    )
    timeout_min_ns: int = spec_field(
        200_000_000,
        Spec(
            "timeout_min",
            "duration",
            "Lower clamp of the adaptive timeout.",
            rule="> 0 and <= timeout_max",
            check=positive,
        ),
    )
    timeout_max_ns: int = spec_field(
        10_000_000_000,
        Spec(
            "timeout_max",
            "duration",
            "Upper clamp of the adaptive timeout.",
            rule="> 0",
            check=positive,
        ),
    )
    heartbeat_interval_ns: int = spec_field(
        30_000_000_000,
        Spec(
            "heartbeat_interval",
            "duration",
            "Expected gap between server heartbeats.",
            rule="> 0",
            check=positive,
        ),
    )
    heartbeat_miss_factor: float = spec_field(
        3.0,
        Spec(
            "heartbeat_miss_factor",
            "float",
            "Silence longer than factor x heartbeat_interval means a dead connection.",
            rule="in [1, 1000]",
            check=in_range(1, 1_000),
        ),
    )
    stability_window: int = spec_field(
        100,
        Spec(
            "stability_window",
            "int",
            "Number of recent probes the stability rate is computed over.",
            rule="in [1, 100000]",
            check=in_range(1, 100_000),
        ),
    )
    reconnect_base_ns: int = spec_field(
        500_000_000,
        Spec(
            "reconnect_base",
            "duration",
            "First reconnect delay (doubles, with jitter).",
            rule="> 0 and <= reconnect_cap",
            check=positive,
        ),
    )
    reconnect_cap_ns: int = spec_field(
        60_000_000_000,
        Spec(
            "reconnect_cap",
            "duration",
            "Longest reconnect delay.",
            rule="> 0",
            check=positive,
        ),
    )
    stable_reset_ns: int = spec_field(
        60_000_000_000,
        Spec(
            "stable_reset",
            "duration",
            "Connected this long, the reconnect backoff starts over.",
            rule="> 0",
            check=positive,
        ),
    )
    operator_retry_ns: int = spec_field(
        300_000_000_000,
        Spec(
            "operator_retry",
            "duration",
            "Slow retry period for errors an operator must fix (bad credentials, 403).",
            rule="> 0",
            check=positive,
        ),
    )
    token_refresh_ratio: float = spec_field(
        0.8,
        Spec(
            "token_refresh_ratio",
            "float",
            "Refresh the OAuth token after this share of its `expires_in`.",
            rule="in (0, 1)",
            check=in_range(0, 1, low_open=True, high_open=True),
        ),
    )
    token_max_age_ns: int = spec_field(
        3_000_000_000_000,
        Spec(
            "token_max_age",
            "duration",
            "Refresh the token (and reconnect) no later than this after it was issued.",
            rule="> 0",
            check=positive,
        ),
    )
    max_message_bytes: int = spec_field(
        65536,
        Spec(
            "max_message_bytes",
            "int",
            "Largest first message / subscription payload sent, and largest frame accepted.",
            rule="in [1, 16777216]",
            check=in_range(1, 16_777_216),
        ),
    )
    lag_limit_ns: int = spec_field(
        1_000_000,
        Spec(
            "lag_limit",
            "duration",
            "Event-loop lag above this marks a sample as degraded.",
            rule="> 0",
            check=positive,
        ),
    )
    degraded_policy: str = spec_field(
        "flag",
        Spec(
            "degraded_policy",
            "choice",
            "What to do with degraded samples: count them, flag them, or exclude them "
            "from statistics.",
            rule="count | flag | exclude",
            choices=("count", "flag", "exclude"),
        ),
    )
    verify_tls: bool = spec_field(
        True,
        Spec("verify_tls", "bool", "Verify TLS certificates (turn off only for a test proxy)."),
    )


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """OAuth client credentials of one Genesys Cloud org."""

    client_id: str = field(
        metadata={
            "spec": Spec(
                "client_id",
                "str",
                "OAuth client id (client credentials grant).",
                rule="required",
            )
        }
    )
    client_secret: Secret = field(
        metadata={
            "spec": Spec(
                "client_secret",
                "str",
                "OAuth client secret; keep it in `.secrets.toml` or the environment.",
                rule="required",
                secret=True,
            )
        }
    )


@dataclass(frozen=True, slots=True)
class NotificationTarget:
    """A Genesys Cloud notification channel to keep open and probe."""

    name: str
    region: str | None = field(
        metadata={
            "spec": Spec(
                "region",
                "str",
                "Region name (`eu_west_1`) or domain (`mypurecloud.ie`); stored as the name.",
                rule="a known region; region or base_url required",
                default_doc="unset",
            )
        }
    )
    base_url: str | None = field(
        metadata={
            "spec": Spec(
                "base_url",
                "str",
                "Serve login and API from this URL instead (emulator, proxy, new region).",
                rule="http:// or https://",
                check=url_scheme("http", "https"),
                default_doc="unset",
            )
        }
    )
    oauth: OAuthClient
    topics: tuple[str, ...] = field(
        metadata={
            "spec": Spec(
                "topics",
                "str",
                "Notification topics to subscribe (optional for a pure latency monitor).",
                rule="<= 1000, each `v2.` dotted name",
                type_label="array of strings",
                default_doc="`[]`",
            )
        }
    )
    modes: ProbeModeSet = field(
        metadata={
            "spec": Spec(
                "mode",
                "choice",
                "`notification` (JSON ping), `control` (RFC 6455 ping frames) or `both`.",
                rule="notification | control | both",
                choices=("notification", "control", "both"),
                type_label="string or array",
                default_doc='`"notification"`',
            )
        }
    )
    monitor: MonitorConfig


@dataclass(frozen=True, slots=True)
class GenericTarget:
    """Any ``ws://``/``wss://`` endpoint probed with RFC 6455 ping frames."""

    name: str
    url: str = field(
        metadata={
            "spec": Spec(
                "url",
                "str",
                "WebSocket URL.",
                rule="ws:// or wss://, required",
                check=url_scheme("ws", "wss"),
            )
        }
    )
    first_message: str | None = field(
        metadata={
            "spec": Spec(
                "first_message",
                "str",
                "Text sent right after the handshake (e.g. a subscribe JSON).",
                rule="<= max_message_bytes bytes (UTF-8)",
                default_doc="unset",
            )
        }
    )
    headers: tuple[tuple[str, str], ...] = field(
        default=(),
        repr=False,  # headers may carry credentials (Authorization)
        metadata={
            "spec": Spec(
                "headers",
                "table",
                "Extra handshake headers, a table of name = value. Values of credential "
                "headers are redacted in output.",
                rule="string values, no line breaks",
                default_doc="`{}`",
            )
        },
    )
    monitor: MonitorConfig = MonitorConfig()


Target = NotificationTarget | GenericTarget
"""Anything the supervisor can monitor."""


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """How OpenTelemetry data leaves the process."""

    exporter: str = spec_field(
        "auto",
        Spec(
            "exporter",
            "choice",
            "`auto`: OTLP when `endpoint` or OTEL_EXPORTER_OTLP_ENDPOINT is set, else the console.",
            rule="auto | otlp | otlp_grpc | otlp_http | console | none",
            choices=("auto", "otlp", "otlp_grpc", "otlp_http", "console", "none"),
        ),
    )
    endpoint: str | None = spec_field(
        None,
        Spec(
            "endpoint",
            "optional_str",
            "OTLP endpoint; unset means the standard OTEL_EXPORTER_OTLP_* variables decide.",
            rule="http:// or https://",
            check=url_scheme("http", "https"),
        ),
    )
    span_ratio: float = spec_field(
        1.0,
        Spec(
            "span_ratio",
            "float",
            "Share of normal probe cycles that get a span (anomalies always do).",
            rule="in [0, 1]",
            check=in_range(0, 1),
        ),
    )
    logs_export: bool = spec_field(
        False,
        Spec("logs_export", "bool", "Also export log records over OTLP."),
    )
    export_interval_ns: int = spec_field(
        10_000_000_000,
        Spec(
            "export_interval",
            "duration",
            "Metric export period.",
            rule="> 0",
            check=positive,
        ),
    )
    isolation: str = spec_field(
        "process",
        Spec(
            "isolation",
            "choice",
            "`process`: the OTel SDK and exporters run in a child process, off the probing "
            "process's CPU and GIL (`run` only; `thread` is used anyway with Prometheus or "
            "logs_export); `thread`: in a worker thread of the agent's process.",
            rule="process | thread",
            choices=("process", "thread"),
        ),
    )
    export_nice: int = spec_field(
        10,
        Spec(
            "export_nice",
            "int",
            "How much nicer (lower CPU priority) the export process runs than the agent's "
            "own: when both want a core, the probing loop gets it. Telemetry that falls "
            "behind is dropped and counted, never the probes. 0: the same priority.",
            rule="in [0, 19]",
            check=in_range(0, 19),
        ),
    )
    export_cpus: tuple[int, ...] = spec_field(
        (),
        Spec(
            "export_cpus",
            "cpus",
            "Linux: the CPUs the export process runs on, as a CPU list (`\"1\"`, "
            "`\"2-3\"`); the agent's own process then keeps off them, on the other CPUs it "
            "may use. On a small host whose CPUs nothing else uses, this gives the probing "
            "loop and the export process a core each. CPUs this process may not use: a "
            "warning, and neither is pinned. Unset: the kernel places both.",
            rule="CPU numbers and ranges a-b, comma-separated; each below 4096",
            default_doc="unset",
        ),
    )


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Process logging."""

    level: str = spec_field(
        "INFO",
        Spec(
            "level",
            "choice",
            "Log level.",
            rule="DEBUG | INFO | WARNING | ERROR | CRITICAL",
            choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        ),
    )
    format: str = spec_field(
        "auto",
        Spec(
            "format",
            "choice",
            "`auto`: text on a terminal, JSON otherwise.",
            rule="auto | json | text",
            choices=("auto", "json", "text"),
        ),
    )


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """The local health / metrics HTTP endpoint."""

    enabled: bool = spec_field(False, Spec("enabled", "bool", "Serve the health endpoint."))
    host: str = spec_field("127.0.0.1", Spec("host", "str", "Address to listen on."))
    port: int = spec_field(
        8787,
        Spec(
            "port",
            "int",
            "Port to listen on (0 picks a free one).",
            rule="in [0, 65535]",
            check=in_range(0, 65_535),
        ),
    )
    prometheus: bool = spec_field(
        False, Spec("prometheus", "bool", "Also serve Prometheus metrics at /metrics.")
    )


@dataclass(frozen=True, slots=True)
class ShardingConfig:
    """Which share of the targets this replica monitors (the ``[sharding]`` table)."""

    shard_index: int = spec_field(
        0,
        Spec(
            "shard_index",
            "int",
            "This replica's shard (e.g. a StatefulSet ordinal).",
            rule="in [0, shard_count)",
            check=non_negative,
        ),
    )
    shard_count: int = spec_field(
        1,
        Spec(
            "shard_count",
            "int",
            "How many replicas share the targets.",
            rule=">= 1",
            check=positive,
        ),
    )


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything the agent needs, validated."""

    targets: tuple[Target, ...] = ()
    defaults: MonitorConfig = MonitorConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    log: LogConfig = LogConfig()
    health: HealthConfig = HealthConfig()
    shard_index: int = 0
    shard_count: int = 1
    sources: tuple[str, ...] = ()
    """The files actually loaded, in load order."""
