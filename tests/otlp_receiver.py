"""A loopback OpenTelemetry collector: the OTLP/HTTP receiver alone, keeping what it receives.

As the collector's ``otlpreceiver`` (opentelemetry-collector, receiver/otlpreceiver/
otlphttp.go and encoder.go) answers: ``POST /v1/traces`` and ``/v1/metrics`` only (405 for
another method, 404 for another path); the body protobuf (``application/x-protobuf``) or JSON
(``application/json``), anything else 415; a ``Content-Encoding: gzip`` body unpacked (its
HTTP server's decompression); a body that does not decode 400; else 200 with an empty
``Export...ServiceResponse`` in the request's encoding.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SIGNALS = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    attributes: dict[str, Any]
    trace_id: str


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, path: str, message: Any) -> None:
        with self.lock:
            if path == "/v1/traces":
                for resource_spans in message.resource_spans:
                    resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        self.spans += [
                            Span(
                                service=str(resource.get("service.name", "")),
                                name=span.name,
                                kind=span.kind,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                trace_id=span.trace_id.hex(),
                            )
                            for span in scope_spans.spans
                        ]
            else:
                for resource_metrics in message.resource_metrics:
                    for scope_metrics in resource_metrics.scope_metrics:
                        self.metric_names |= {m.name for m in scope_metrics.metrics}


def _handler(received: Received) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(405 if self.path in SIGNALS else 404, b"method not allowed")

        def do_POST(self) -> None:
            if self.path not in SIGNALS:
                return self._answer(404, b"404 page not found")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                try:
                    body = gzip.decompress(body)
                except OSError:
                    return self._answer(400, b"bad gzip body")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
            request_type, response_type = SIGNALS[self.path]
            message = request_type()
            try:
                if content_type == "application/x-protobuf":
                    message.ParseFromString(body)
                    answer = response_type().SerializeToString()
                elif content_type == "application/json":
                    json_format.Parse(body, message)
                    answer = json_format.MessageToJson(response_type()).encode()
                else:
                    return self._answer(415, f"unsupported content type {content_type}".encode())
            except (DecodeError, json_format.ParseError) as exc:
                return self._answer(400, str(exc).encode())
            received.keep(self.path, message)
            return self._answer(200, answer, content_type)

    return Handler


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """(the collector's base URL, what it received) for the duration of the block."""
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
