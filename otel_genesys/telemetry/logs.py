"""Structured logging for otel-genesys: JSON lines or text, with secret redaction.

- :func:`configure_logging` installs one handler on the root logger: JSON lines
  (``ts, level, logger, message, target, event, attrs``) when the stream is not
  a TTY, a readable line on a TTY.
- :func:`register_secret` adds a string (client secret, access token) to a
  process-wide registry; :class:`RedactingFilter` replaces every registered
  value with ``***`` in the message, its arguments, the ``attributes`` extra
  field, exception and stack text — on every handler it is attached to
  (:func:`configure_logging` and the OTel log bridge attach it).
- :class:`OtelLogHandler` bridges stdlib records to an OTel ``LoggerProvider``
  (used when ``logs_export`` is on).

Audit events arrive on the ``otel_genesys.audit`` logger from the telemetry
worker thread (never the probe path), one record per event with the extra
fields ``target``, ``event`` and ``attributes``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any, Literal

from otel_genesys.secret import Secret

REDACTED = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: scrubbing ``"ab"`` everywhere would shred logs."""

_secrets_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | Secret | None) -> None:
    """Remember ``value`` so it is scrubbed from every log line from now on.

    Call it where a secret is loaded or a token fetched. Idempotent, thread-safe.

    >>> register_secret("hunter2-token")
    >>> scrub("Bearer hunter2-token")
    'Bearer ***'
    """
    global _secrets
    if value is None:
        return
    text = value.reveal() if isinstance(value, Secret) else str(value)
    if len(text) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if text not in _secrets:
            # Longest first, so a secret containing another is replaced whole.
            _secrets = tuple(sorted((*_secrets, text), key=len, reverse=True))


def unregister_secret(value: str | Secret) -> None:
    """Forget a secret (e.g. an expired token) so the registry stays small."""
    global _secrets
    text = value.reveal() if isinstance(value, Secret) else str(value)
    with _secrets_lock:
        _secrets = tuple(s for s in _secrets if s != text)


def registered_secret_count() -> int:
    """How many secrets are registered (for tests and diagnostics)."""
    return len(_secrets)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any) -> Any:
    """:func:`scrub` for strings; other scalars pass through; containers are walked."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Scrubs registered secrets from a record before any formatter sees it.

    The message is rendered once (``msg % args``) and the result replaces
    ``msg``/``args``, so a secret hidden in an argument is caught too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            # Keep the text, drop the live exception: handlers that re-render it
            # (the OTel bridge) would otherwise bypass the scrubbed copy.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        attributes = getattr(record, "attributes", None)
        if attributes is not None:
            record.attributes = scrub_value(attributes)
        return True


def _extra_fields(record: logging.LogRecord) -> tuple[str | None, str | None, dict[str, Any]]:
    target = getattr(record, "target", None)
    event = getattr(record, "event", None)
    attrs = getattr(record, "attributes", None)
    return (
        None if target is None else str(target),
        None if event is None else str(event),
        dict(attrs) if isinstance(attrs, Mapping) else {},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts, level, logger, message, target, event, attrs``.

    ``exc`` is added when the record carries exception text.
    """

    def format(self, record: logging.LogRecord) -> str:
        target, event, attrs = _extra_fields(record)
        doc: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if target is not None:
            doc["target"] = target
        if event is not None:
            doc["event"] = event
        if attrs:
            doc["attrs"] = attrs
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``12:00:01.234 WARNING otel_genesys.audit message target=x k=v``: for humans."""

    def format(self, record: logging.LogRecord) -> str:
        target, event, attrs = _extra_fields(record)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [f"{clock}.{int(record.msecs):03d}", f"{record.levelname:<7}", record.name]
        parts.append(record.getMessage())
        if target is not None:
            parts.append(f"target={target}")
        if event is not None and event != record.getMessage():
            parts.append(f"event={event}")
        parts.extend(f"{k}={v}" for k, v in attrs.items())
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int((created % 1) * 1000):03d}Z"


_installed: logging.Handler | None = None


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "text"] = "auto",
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install the otel-genesys log handler on the root logger (replacing a previous one).

    ``fmt="auto"`` writes JSON lines unless ``stream`` (default stderr) is a TTY.
    Returns the handler so callers (tests) can remove it.
    """
    global _installed
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        isatty = getattr(out, "isatty", None)
        fmt = "text" if callable(isatty) and isatty() else "json"
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _installed = handler
    return handler


class OtelLogHandler(logging.Handler):
    """Forwards stdlib records to an OTel ``LoggerProvider`` (the logs signal).

    Flattens the ``attributes`` extra field into scalar log attributes and sets
    ``event_name`` from the ``event`` extra field. Redaction runs first.
    """

    def __init__(self, logger_provider: Any, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = logger_provider
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from opentelemetry._logs import SeverityNumber

            target, event, attrs = _extra_fields(record)
            attributes: dict[str, Any] = {"logger.name": record.name}
            for key, value in attrs.items():
                if isinstance(value, str | bool | int | float):
                    attributes[str(key)] = value
            if target is not None:
                attributes["genesys.target"] = target
            if record.exc_text:
                attributes["exception.stacktrace"] = record.exc_text
            severity = _SEVERITY.get(record.levelno, SeverityNumber.INFO)
            self._provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                severity_number=severity,
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=attributes,
                event_name=event,
            )
        except Exception:
            self.handleError(record)


def _severity_table() -> dict[int, Any]:
    from opentelemetry._logs import SeverityNumber

    return {
        logging.DEBUG: SeverityNumber.DEBUG,
        logging.INFO: SeverityNumber.INFO,
        logging.WARNING: SeverityNumber.WARN,
        logging.ERROR: SeverityNumber.ERROR,
        logging.CRITICAL: SeverityNumber.FATAL,
    }


_SEVERITY = _severity_table()
