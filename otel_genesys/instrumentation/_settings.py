"""Settings of the instrumentation: environment variables, ``instrument()`` kwargs, host predicate.

Environment variables are read once, when ``instrument()`` runs. A malformed
value is logged and ignored: instrumentation must never stop an application
from starting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from otel_genesys.core.durations import parse_duration
from otel_genesys.core.outcome import TargetInfo, TargetKind
from otel_genesys.core.probe import ProbeSettings
from otel_genesys.genesys.regions import DOMAINS, streaming_hosts

_log = logging.getLogger(__name__)

ENV_HOSTS = "OTEL_GENESYS_INSTRUMENT_HOSTS"
"""Comma-separated extra hosts whose WebSocket connections are measured, added to
every Genesys streaming host. ``*.example.com`` matches any sub-domain. Default: none."""

ENV_ACTIVE_INTERVAL = "OTEL_GENESYS_INSTRUMENT_ACTIVE_INTERVAL"
"""When set (``5s``, ``500ms`` …), the instrumentation sends its own RFC 6455 pings at
this interval on every measured client connection. Default: unset (passive only)."""

ENV_AUDIOHOOK_PATHS = "OTEL_GENESYS_INSTRUMENT_AUDIOHOOK_PATHS"
"""Comma-separated URL path prefixes of aiohttp WebSocket handlers watched for AudioHook
pings. Default: unset (every path; only messages shaped like AudioHook pings count)."""

ENV_AUDIOHOOK = "OTEL_GENESYS_INSTRUMENT_AUDIOHOOK"
"""``false`` turns the AudioHook server hook off. Default: ``true``."""

MIN_ACTIVE_INTERVAL_NS = 100_000_000
"""Active probes more often than every 100 ms would be load, not measurement."""


@dataclass(frozen=True, slots=True)
class HostPredicate:
    """Decides which WebSocket hosts are measured (case-insensitive).

    >>> p = HostPredicate.build(["127.0.0.1", "*.example.com"])
    >>> p("streaming.mypurecloud.ie"), p("127.0.0.1"), p("a.example.com"), p("example.org")
    (True, True, True, False)
    """

    exact: frozenset[str]
    suffixes: tuple[str, ...] = ()

    @classmethod
    def build(cls, extra: Iterable[str] = (), *, genesys: bool = True) -> HostPredicate:
        """Genesys streaming hosts of every region (unless ``genesys=False``) plus ``extra``."""
        exact = set(streaming_hosts()) if genesys else set()
        suffixes: list[str] = []
        for raw in extra:
            host = raw.strip().lower().rstrip(".")
            if not host:
                continue
            if host.startswith("*."):
                suffixes.append(host[1:])
            else:
                exact.add(host.strip("[]"))
        return cls(frozenset(exact), tuple(suffixes))

    def __call__(self, host: str | None) -> bool:
        if not host:
            return False
        h = host.lower().rstrip(".").strip("[]")
        return h in self.exact or (bool(self.suffixes) and h.endswith(self.suffixes))


@dataclass(frozen=True, slots=True)
class InstrumentSettings:
    """Everything the wrappers need to know, fixed at ``instrument()`` time."""

    hosts: HostPredicate = field(default_factory=HostPredicate.build)
    active_interval_ns: int | None = None
    """Interval of the instrumentation's own pings; ``None`` = passive only."""
    audiohook: bool = True
    audiohook_paths: tuple[str, ...] = ()
    """Path prefixes of AudioHook handlers; empty = every path."""
    probe: ProbeSettings = field(default_factory=ProbeSettings)

    def audiohook_path_matches(self, path: str) -> bool:
        """Whether a WebSocket handler at ``path`` is watched for AudioHook pings."""
        return not self.audiohook_paths or path.startswith(self.audiohook_paths)


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def _interval(value: object, source: str) -> int | None:
    if value is None or value == "" or value == 0:
        return None
    try:
        ns = parse_duration(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        _log.warning("%s ignored: %s", source, exc)
        return None
    if ns == 0:
        return None
    if ns < MIN_ACTIVE_INTERVAL_NS:
        _log.warning("%s raised to the 100ms minimum", source)
        return MIN_ACTIVE_INTERVAL_NS
    return ns


def settings_from(
    env: Mapping[str, str],
    *,
    hosts: Iterable[str] | None = None,
    active_interval: str | float | None = None,
    audiohook: bool | None = None,
    audiohook_paths: Iterable[str] | None = None,
    probe: ProbeSettings | None = None,
) -> InstrumentSettings:
    """Merge the environment with ``instrument()`` kwargs (kwargs add hosts, else win).

    >>> s = settings_from({ENV_HOSTS: "127.0.0.1", ENV_ACTIVE_INTERVAL: "5s"})
    >>> s.hosts("127.0.0.1"), s.active_interval_ns
    (True, 5000000000)
    """
    extra = [*_split(env.get(ENV_HOSTS)), *(hosts or ())]
    if active_interval is not None:
        interval = _interval(active_interval, "active_interval")
    else:
        interval = _interval(env.get(ENV_ACTIVE_INTERVAL), ENV_ACTIVE_INTERVAL)
    if audiohook is None:
        flag = env.get(ENV_AUDIOHOOK, "true").strip().lower()
        audiohook = flag not in ("0", "false", "no", "off")
    paths = (
        tuple(audiohook_paths)
        if audiohook_paths is not None
        else tuple(_split(env.get(ENV_AUDIOHOOK_PATHS)))
    )
    return InstrumentSettings(
        hosts=HostPredicate.build(extra),
        active_interval_ns=interval,
        audiohook=audiohook,
        audiohook_paths=paths,
        probe=probe or ProbeSettings(),
    )


_STREAMING = streaming_hosts()


def target_for(host: str, port: int | None, secure: bool) -> TargetInfo:
    """The low-cardinality identity of a measured connection: named after its host.

    >>> target_for("streaming.mypurecloud.ie", None, True).region
    'eu_west_1'
    """
    h = host.lower().rstrip(".")
    kind = TargetKind.NOTIFICATION if h in _STREAMING else TargetKind.GENERIC
    region = DOMAINS.get(h.partition(".")[2]) if kind is TargetKind.NOTIFICATION else None
    return TargetInfo(
        name=h,
        kind=kind,
        server_address=h,
        server_port=port if port is not None else (443 if secure else 80),
        url_scheme="wss" if secure else "ws",
        region=region,
    )
