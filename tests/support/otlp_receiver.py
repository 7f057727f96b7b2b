"""A real OTLP receiver for tests: gRPC and HTTP/protobuf on 127.0.0.1.

It speaks the OTLP collector services (traces, metrics, logs) over both
transports, keeps every decoded request *and* its raw bytes, and can be told
to misbehave::

    with OtlpReceiver() as rx:
        ... export to rx.grpc_endpoint or rx.http_endpoint ...
        rx.wait_for(lambda r: "genesys.websocket.rtt" in r.metric_names())
        rx.fail()          # gRPC UNAVAILABLE / HTTP 503 (fail(http_status=429) for 429)
        rx.hang()          # black-hole: accept, never answer (until healed/stopped)
        rx.heal()          # back to normal
        rx.stop(); rx.start()   # same ports again

gRPC uses generic method handlers with no request deserializer so the stored
bytes are exactly what went over the wire.
"""

from __future__ import annotations

import enum
import gzip
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_SIGNALS: dict[str, tuple[str, type[Message], type[Message]]] = {
    "traces": (
        "opentelemetry.proto.collector.trace.v1.TraceService",
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
    ),
    "metrics": (
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
    ),
    "logs": (
        "opentelemetry.proto.collector.logs.v1.LogsService",
        logs_pb.ExportLogsServiceRequest,
        logs_pb.ExportLogsServiceResponse,
    ),
}


class Mode(enum.Enum):
    """How the receiver answers."""

    OK = "ok"
    FAIL = "fail"
    HANG = "hang"


@dataclass(frozen=True)
class Received:
    """One export request as it arrived."""

    signal: str
    """``traces``, ``metrics`` or ``logs``."""
    transport: str
    """``grpc`` or ``http``."""
    request: Any
    """The decoded ``Export*ServiceRequest``."""
    raw: bytes
    """The request body as received (after gzip decoding for HTTP)."""
    headers: tuple[tuple[str, str], ...]


class OtlpReceiver:
    """gRPC + HTTP OTLP receiver; see the module docstring."""

    def __init__(
        self, *, grpc_enabled: bool = True, http_enabled: bool = True, hang_max_s: float = 30.0
    ) -> None:
        self._grpc_enabled = grpc_enabled
        self._http_enabled = http_enabled
        self._hang_max_s = hang_max_s
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self.attempts: dict[str, int] = {"traces": 0, "metrics": 0, "logs": 0}
        """Every request seen, including the ones refused or black-holed."""
        self.mode = Mode.OK
        self.grpc_code = grpc.StatusCode.UNAVAILABLE
        self.http_status = 503
        self._fail_left: int | None = None
        """With ``fail(times=n)``: refusals left before answering normally again."""
        self._release = threading.Event()
        self.grpc_port = 0
        self.http_port = 0
        self._grpc_server: grpc.Server | None = None
        self._http_server: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def grpc_endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` for the OTLP gRPC exporters (insecure)."""
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL for the OTLP HTTP exporters (``/v1/<signal>`` is appended)."""
        return f"http://127.0.0.1:{self.http_port}"

    def endpoint(self, transport: str) -> str:
        """The endpoint for ``transport``: ``grpc``/``otlp_grpc``, else HTTP."""
        return self.grpc_endpoint if transport in ("grpc", "otlp_grpc") else self.http_endpoint

    @property
    def running(self) -> bool:
        return self._grpc_server is not None or self._http_server is not None

    def start(self) -> OtlpReceiver:
        """Start listening (on the same ports as before after a :meth:`stop`)."""
        if self.running:
            return self
        self._release.clear()
        if self._grpc_enabled:
            self._start_grpc()
        if self._http_enabled:
            self._start_http()
        return self

    def stop(self) -> None:
        """Stop listening; black-holed requests are released. Data is kept."""
        self._release.set()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=0).wait(5)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None
        if self._http_thread is not None:
            self._http_thread.join(5)
            self._http_thread = None

    def restart(self) -> None:
        """Stop, then start again on the same ports."""
        self.stop()
        self.start()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ behaviour

    def fail(
        self,
        *,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        http_status: int = 503,
        times: int | None = None,
    ) -> None:
        """Refuse every export (gRPC ``grpc_code``, HTTP ``http_status``, e.g. 429), or
        only the next ``times`` and then answer normally (no race with a healing thread)."""
        self.grpc_code = grpc_code
        self.http_status = http_status
        self._fail_left = times
        self.mode = Mode.FAIL
        self._release.set()

    def hang(self) -> None:
        """Black-hole: accept requests and never answer (until heal/stop or ``hang_max_s``)."""
        self._release.clear()
        self.mode = Mode.HANG

    def heal(self) -> None:
        """Answer normally again; release black-holed requests."""
        self.mode = Mode.OK
        self._release.set()

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._lock:
            self._received.clear()
            self.attempts = {k: 0 for k in self.attempts}

    # ------------------------------------------------------------------ reading

    @property
    def received(self) -> list[Received]:
        """Every accepted request so far (a copy)."""
        with self._lock:
            return list(self._received)

    def requests(self, signal: str) -> list[Any]:
        """Decoded requests of one signal."""
        return [r.request for r in self.received if r.signal == signal]

    def raw_bytes(self) -> bytes:
        """All accepted request bodies concatenated (to scan for secrets)."""
        return b"".join(r.raw for r in self.received)

    def spans(self) -> list[Span]:
        """Every span received, flattened."""
        return [
            span
            for req in self.requests("traces")
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def metrics(self) -> list[Metric]:
        """Every metric received, flattened (one entry per metric per request)."""
        return [
            metric
            for req in self.requests("metrics")
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        ]

    def metric_names(self) -> set[str]:
        """Names of every metric received."""
        return {m.name for m in self.metrics()}

    def log_records(self) -> list[LogRecord]:
        """Every log record received, flattened."""
        return [
            record
            for req in self.requests("logs")
            for rl in req.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]

    def resource_attributes(self, signal: str = "traces") -> dict[str, Any]:
        """Resource attributes of the first request of ``signal`` (string values)."""
        for req in self.requests(signal):
            resources = getattr(req, f"resource_{'spans' if signal == 'traces' else signal}")
            for res in resources:
                return {kv.key: _any_value(kv.value) for kv in res.resource.attributes}
        return {}

    def wait_for(self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds; True if it did before ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if predicate(self):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))

    # ------------------------------------------------------------------ handling

    def _accept(
        self, signal: str, transport: str, raw: bytes, headers: tuple[tuple[str, str], ...]
    ) -> Mode:
        """Count the attempt; store it if accepted; black-hole if hanging. Returns the mode."""
        with self._lock:
            self.attempts[signal] += 1
            mode = self.mode
            if mode is Mode.FAIL and self._fail_left is not None:
                if self._fail_left <= 0:
                    mode = self.mode = Mode.OK
                    self._fail_left = None
                else:
                    self._fail_left -= 1
            self._lock.notify_all()
        if mode is Mode.HANG:
            self._release.wait(self._hang_max_s)
            return Mode.HANG
        if mode is Mode.FAIL:
            return Mode.FAIL
        request = _SIGNALS[signal][1].FromString(raw)
        with self._lock:
            self._received.append(Received(signal, transport, request, raw, headers))
            self._lock.notify_all()
        return Mode.OK

    def _start_grpc(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-rx")
        )
        handlers = []
        for signal, (service, _req, resp) in _SIGNALS.items():

            def export(raw: bytes, context: grpc.ServicerContext, _s: str = signal) -> bytes:
                headers = tuple((str(k), str(v)) for k, v in context.invocation_metadata())
                mode = self._accept(_s, "grpc", raw, headers)
                if mode is Mode.FAIL:
                    context.abort(self.grpc_code, "receiver told to fail")
                if mode is Mode.HANG:
                    context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "receiver black-holed")
                return b""  # an empty Export*ServiceResponse

            handler = grpc.unary_unary_rpc_method_handler(
                export, request_deserializer=None, response_serializer=None
            )
            handlers.append(grpc.method_handlers_generic_handler(service, {"Export": handler}))
            del resp
        server.add_generic_rpc_handlers(tuple(handlers))
        port = server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        if port == 0:
            raise RuntimeError(f"could not bind gRPC port {self.grpc_port}")
        self.grpc_port = port
        server.start()
        self._grpc_server = server

    def _start_http(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                signal = self.path.rstrip("/").rsplit("/", 1)[-1]
                if self.path not in (f"/v1/{signal}",) or signal not in _SIGNALS:
                    self._reply(404, b"")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                headers = tuple((k.lower(), v) for k, v in self.headers.items())
                mode = receiver._accept(signal, "http", body, headers)
                if mode is Mode.HANG:
                    self.close_connection = True
                    return
                if mode is Mode.FAIL:
                    self._reply(receiver.http_status, b"", retry_after=True)
                    return
                self._reply(200, _SIGNALS[signal][2]().SerializeToString())

            def _reply(self, status: int, body: bytes, retry_after: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                if retry_after:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        server = _HttpServer(("127.0.0.1", self.http_port), Handler)
        self.http_port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._http_server = server
        self._http_thread = thread


class _HttpServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def attributes_of(item: Any) -> dict[str, Any]:
    """A protobuf span/metric point/log record's attributes as a plain dict."""
    return {kv.key: _any_value(kv.value) for kv in item.attributes}
