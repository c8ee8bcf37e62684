"""A loopback OpenTelemetry collector: the OTLP/HTTP receiver alone, keeping what it receives.

As the collector's ``otlpreceiver`` (opentelemetry-collector, receiver/otlpreceiver/otlp.go,
otlphttp.go, encoder.go; config/confighttp server.go and compression.go) answers:
``POST /v1/traces`` and, for a collector with a metrics pipeline, ``/v1/metrics`` (404 for a
signal it has no pipeline for or another path, 405 for another method); a body over 20 MiB
400; a ``Content-Encoding`` of gzip or deflate unpacked, another 400; a ``Content-Type`` that
does not parse 415, protobuf (``application/x-protobuf``) decoded, a body that does not
decode 400, else 200 with an empty ``Export...ServiceResponse``. OTLP/JSON, which the
collector also takes (with hex trace ids, where protobuf's JSON mapping reads base64), is
answered 415 here: the Python SDK has no JSON exporter, so nothing sends it. It never answers
429 or 503, so the exporter's retries are not exercised.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

MAX_BODY = 20 * 1024 * 1024  # confighttp's default max_request_body_size
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


def _handler(received: Received, signals: tuple[str, ...]) -> type[BaseHTTPRequestHandler]:
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
            self._answer(405 if self.path in signals else 404, b"method not allowed")

        def do_POST(self) -> None:
            if self.path not in signals:
                return self._answer(404, b"404 page not found")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(400, b"request body too large")
            body = self.rfile.read(length)
            encoding = self.headers.get("Content-Encoding", "")
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding in ("deflate", "zlib"):
                    body = zlib.decompress(body)
                elif encoding not in ("", "identity"):
                    return self._answer(400, f"unsupported Content-Encoding {encoding}".encode())
            except (OSError, zlib.error):
                return self._answer(400, f"bad {encoding} body".encode())
            header = Message()
            header["Content-Type"] = self.headers.get("Content-Type", "")
            content_type = header.get_content_type() if header.get("Content-Type") else ""
            if content_type != "application/x-protobuf" or header.defects:
                return self._answer(415, f"unsupported content type {content_type}".encode())
            request_type, response_type = SIGNALS[self.path]
            message = request_type()
            try:
                message.ParseFromString(body)
            except DecodeError as exc:
                return self._answer(400, str(exc).encode())
            received.keep(self.path, message)
            return self._answer(200, response_type().SerializeToString(), content_type)

    return Handler


@contextmanager
def otlp_receiver(
    signals: tuple[str, ...] = ("/v1/traces",),
) -> Iterator[tuple[str, Received]]:
    """(the collector's base URL, what it received) for the duration of the block; a collector
    with pipelines for ``signals`` alone."""
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received, signals))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
