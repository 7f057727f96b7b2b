"""OTLP endpoints (gRPC and HTTP) that accept every export and throw it away.

The agent under test exports exactly as it would to a Collector (protobuf
encoding, gRPC or HTTP, batching, retries all included in its CPU), while the
far end costs next to nothing: requests are not even decoded, only their bytes
counted, so the report can show that spans and metrics really left.
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import grpc

_SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


class _Sink:
    """What both sinks share: a loopback port, and requests and bytes per signal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = dict.fromkeys(_SERVICES, 0)
        self.bytes: dict[str, int] = dict.fromkeys(_SERVICES, 0)
        self._server: Any = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the exporters' endpoint (OTLP/HTTP adds ``/v1/…``)."""
        return f"http://127.0.0.1:{self.port}"

    def _count(self, signal: str, size: int) -> None:
        with self._lock:
            self.requests[signal] += 1
            self.bytes[signal] += size

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """``{signal: (requests, bytes)}`` received so far."""
        with self._lock:
            return {s: (self.requests[s], self.bytes[s]) for s in _SERVICES}

    def start(self) -> Self:
        """Listen on a free loopback port."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop at once (in-flight exports are cut)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DiscardSink(_Sink):
    """OTLP/gRPC: ``with DiscardSink() as sink: ... sink.endpoint ... sink.snapshot()``."""

    def start(self) -> Self:
        # Metric exports of thousands of targets exceed gRPC's 4 MiB default.
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)],
        )
        for signal, service in _SERVICES.items():

            def export(raw: bytes, _context: Any, _signal: str = signal) -> bytes:
                self._count(_signal, len(raw))
                return b""  # an empty Export*ServiceResponse

            handler = grpc.unary_unary_rpc_method_handler(export)
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
            )
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0)
            self._server = None


class HttpDiscardSink(_Sink):
    """OTLP/HTTP: ``POST /v1/{traces,metrics,logs}`` counted and answered empty.

    Its ``endpoint`` is the base URL the agent's ``telemetry.endpoint`` takes (the
    agent adds ``/v1/<signal>``). Served by a thread of this process.
    """

    def start(self) -> Self:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a Collector speaks it

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signal = self.path.rsplit("/", 1)[-1]
                known = signal in _SERVICES
                if known:
                    sink._count(signal, len(body))
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")  # an empty Export*ServiceResponse
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # not on the benchmark's terminal

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="otlp-http-discard", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main(argv: list[str] | None = None) -> None:
    """Run a discarding sink in its own process (gRPC, or OTLP/HTTP when the first
    argument is ``http``): print its endpoint, serve until stdin closes, then print
    ``signal=requests/bytes`` per signal.

    ``bench.soak`` uses this so the sink's memory never counts in the agent's RSS.
    """
    args = sys.argv[1:] if argv is None else argv
    kind: type[_Sink] = HttpDiscardSink if args[:1] == ["http"] else DiscardSink
    with kind() as sink:
        print(sink.endpoint, flush=True)
        sys.stdin.read()
        received = sink.snapshot()
    print(" ".join(f"{s}={r}/{b}" for s, (r, b) in received.items()), flush=True)


if __name__ == "__main__":
    main()
