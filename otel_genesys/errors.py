"""The exception tree of otel-genesys.

    OtelGenesysError                 base of everything raised on purpose
    ├── ConfigError                  invalid configuration (carries every problem)
    ├── AuthError                    OAuth token could not be obtained
    │   ├── InvalidClientError       bad client id/secret: needs an operator
    │   └── RateLimitedError         429 from the login or API side
    ├── ChannelError                 notification channel REST failed
    │   └── PermissionDeniedError    403 missing permissions: needs an operator
    ├── HandshakeError               WebSocket upgrade refused (status attached)
    ├── ProtocolError                the peer broke the wire protocol
    ├── ConnectionLostError          the socket closed or died (close code attached)
    └── ProbeTimeout                 no pong within the deadline

Each class has an ``error_type``: the low-cardinality string that becomes the
OpenTelemetry ``error.type`` attribute. Messages never contain secrets.
"""

from __future__ import annotations


class OtelGenesysError(Exception):
    """Base class for every error otel-genesys raises on purpose."""

    error_type = "error"
    retryable = True
    """False when retrying fast cannot help and an operator must act."""


class ConfigError(OtelGenesysError):
    """The configuration is invalid; ``problems`` lists every problem found."""

    error_type = "config"
    retryable = False

    def __init__(self, problems: list[str] | tuple[str, ...] | str) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__(
            "invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        )


class AuthError(OtelGenesysError):
    """The OAuth token endpoint did not give us a token."""

    error_type = "auth"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class InvalidClientError(AuthError):
    """Genesys rejected the OAuth client id or secret (``invalid_client``)."""

    error_type = "invalid_client"
    retryable = False


class RateLimitedError(AuthError):
    """HTTP 429; ``retry_after_s`` is the server's ``Retry-After`` if any."""

    error_type = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, status=429)


class ChannelError(OtelGenesysError):
    """Creating or subscribing a notification channel failed."""

    error_type = "channel"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        super().__init__(message)


class PermissionDeniedError(ChannelError):
    """403: the OAuth client lacks a permission (role) the request needs."""

    error_type = "permission_denied"
    retryable = False


class HandshakeError(OtelGenesysError):
    """The WebSocket upgrade was refused; ``status`` is the HTTP status."""

    error_type = "handshake"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ProtocolError(OtelGenesysError):
    """The peer sent something the protocol does not allow."""

    error_type = "protocol"


class ConnectionLostError(OtelGenesysError):
    """The WebSocket closed or died; ``close_code`` when the peer sent one."""

    error_type = "connection_lost"

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        self.close_code = close_code
        super().__init__(message)


class ProbeTimeout(OtelGenesysError):
    """No pong arrived within the ping's deadline."""

    error_type = "timeout"
