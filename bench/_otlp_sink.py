"""An OTLP/gRPC endpoint that accepts every export and throws it away.

The agent under test exports exactly as it would to a Collector (protobuf
encoding, gRPC, batching, retries all included in its CPU), while the far
end costs next to nothing: requests are not even decoded, only their bytes
counted, so the report can show that spans and metrics really left.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import grpc

_SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


class DiscardSink:
    """``with DiscardSink() as sink: ... sink.endpoint ... sink.received``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = dict.fromkeys(_SERVICES, 0)
        self.bytes: dict[str, int] = dict.fromkeys(_SERVICES, 0)
        self._server: Any = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` for ``OTLPSpanExporter(endpoint=…)``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DiscardSink:
        """Listen on a free loopback port."""
        # Metric exports of thousands of targets exceed gRPC's 4 MiB default.
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)],
        )
        for signal, service in _SERVICES.items():

            def export(raw: bytes, _context: Any, _signal: str = signal) -> bytes:
                with self._lock:
                    self.requests[_signal] += 1
                    self.bytes[_signal] += len(raw)
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
        """Stop at once (in-flight exports are cut)."""
        if self._server is not None:
            self._server.stop(0)
            self._server = None

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """``{signal: (requests, bytes)}`` received so far."""
        with self._lock:
            return {s: (self.requests[s], self.bytes[s]) for s in _SERVICES}

    def __enter__(self) -> DiscardSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Run a sink in its own process: print its endpoint, serve until stdin closes.

    The soak uses this so the sink's memory never counts in the agent's RSS.
    """
    import sys

    with DiscardSink() as sink:
        print(sink.endpoint, flush=True)
        sys.stdin.read()
        received = sink.snapshot()
    print(" ".join(f"{s}={r}/{b}" for s, (r, b) in received.items()), flush=True)


if __name__ == "__main__":
    main()
