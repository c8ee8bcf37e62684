"""Where Llama Stack's OpenTelemetry traces and metrics go.

Llama Stack 0.7.x makes its own spans (MCP tool listing and calls, shields) and request
metrics through the global OpenTelemetry providers, and configures none itself: its documented
way to export them is to start the server under ``opentelemetry-instrument``, which reads the
``OTEL_*`` environment. ``opentelemetry-distro`` is a dependency of ``llama-stack``, so every
0.7.x image has that command. Its default protocol is gRPC, whose exporter not every image has
(Open Data Hub's lacks it): the stack exports OTLP over HTTP (protobuf), to a collector's
port 4318, where the collector's ``otlp`` receiver listens with ``endpoint: 0.0.0.0:4318``.

With an instrumentation package for FastAPI (and httpx) in the image, each request (and each
call to vLLM) gets its span too; ``opentelemetry-bootstrap -a install`` at image build adds
them. The embedded target's Llama Stack has both.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from llama_rollout.http_urls import url_problem
from llama_rollout.kube.trust import POD_SERVICE_CA

INSTRUMENT = "opentelemetry-instrument"
OTLP_PROTOCOL = "http/protobuf"
GRPC_PORT = 4317
SIGNAL_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")


def otlp_endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be an OTLP/HTTP collector's base URL; None when it can (or is
    empty: no export)."""
    example = "e.g. http://otel-collector.observability.svc:4318, OTLP over HTTP"
    if not endpoint:
        return None
    if problem := url_problem("the collector", endpoint):
        return f"{problem} ({example})"
    parts = urlsplit(endpoint)
    if parts.port == GRPC_PORT:
        return (
            f"the collector {endpoint} is OTLP's gRPC port, and the stack exports over HTTP: "
            f"give the collector's HTTP port ({example})"
        )
    if parts.path.rstrip("/").endswith(SIGNAL_PATHS):
        return (
            f"the collector {endpoint} ends in a signal's path, which the exporter appends "
            f"itself: give the base URL ({example})"
        )
    return None


def otel_environment(endpoint: str, service_name: str) -> dict[str, str]:
    """The environment that makes ``opentelemetry-instrument`` export the stack's traces and
    metrics to ``endpoint`` (its exporter appends ``/v1/traces`` and ``/v1/metrics``), as
    ``service_name``; logs stay in the pod's own. The exporter (``requests``) trusts its own
    CA list, not the pod's: an https collector is checked against the service CA, which signs
    in-cluster Services' certificates."""
    trust = (
        {"OTEL_EXPORTER_OTLP_CERTIFICATE": POD_SERVICE_CA} if endpoint.startswith("https") else {}
    )
    return trust | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.rstrip("/"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": OTLP_PROTOCOL,
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        # Health probes every few seconds would bury the calls.
        "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "v1/health",
        # As the image's own entrypoint sets it (llama-stack containers/Containerfile), which a
        # command of one's own bypasses: the store's queries would each be a span.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "asyncpg,sqlite3",
    }
