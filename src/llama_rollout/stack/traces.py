"""Where Llama Stack's OpenTelemetry traces and metrics go.

Llama Stack 0.7.x makes its own spans (MCP tool listing and calls, shields) and request
metrics through the global OpenTelemetry providers, and configures none itself: its documented
way to export them is to start the server under ``opentelemetry-instrument``, which reads the
``OTEL_*`` environment. ``opentelemetry-distro`` is a dependency of ``llama-stack``, so every
0.7.x image has that command. Its default protocol is gRPC, whose exporter the images lack:
the stack exports OTLP over HTTP (protobuf), to a collector's port 4318.

With an instrumentation package for FastAPI (and httpx) in the image, each request (and each
call to vLLM) gets its span too; ``opentelemetry-bootstrap -a install`` at image build adds
them. The embedded target's Llama Stack has both.
"""

from __future__ import annotations

from llama_rollout.http_urls import url_problem

INSTRUMENT = "opentelemetry-instrument"
OTLP_PROTOCOL = "http/protobuf"


def otlp_endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be an OTLP/HTTP collector's base URL; None when it can (or is
    empty: no export)."""
    if endpoint and (problem := url_problem("the collector", endpoint)):
        return f"{problem} (e.g. http://otel-collector.observability.svc:4318, OTLP over HTTP)"
    return None


def otel_environment(endpoint: str, service_name: str) -> dict[str, str]:
    """The environment that makes ``opentelemetry-instrument`` export the stack's traces and
    metrics to ``endpoint`` (its exporter appends ``/v1/traces`` and ``/v1/metrics``), as
    ``service_name``; logs stay in the pod's own."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.rstrip("/"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": OTLP_PROTOCOL,
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        # Health probes every few seconds would bury the calls.
        "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "v1/health",
    }
