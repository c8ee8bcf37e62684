"""A stand-in for a Data Science Pipelines API server (KFP v2beta1 REST), as strict as the real
one where ``kfp.Client`` meets it.

Read from kubeflow/pipelines at 2.17.0 (``backend/src/apiserver/server/run_server.go``,
``job_server.go``, ``api_converter.go``, ``resource/resource_manager.go``,
``template/v2_template.go``, ``main.go``) and kfp-server-api 2.17.3: a request without a valid
bearer token is the route's kube-rbac-proxy's 401, a plain-text "Unauthorized"
(brancz/kube-rbac-proxy ``pkg/filters/auth.go``; the DSPA's proxy guards every path, healthz
included); an empty display name or a pipeline
spec without ``pipelineInfo``/``root`` is a 500 (the server wraps them as internal errors); a
runtime parameter the spec does not declare is a 400 ("parameter(s) provided are not required
by pipeline"); a recurring run's max concurrency must be 1 to 10 and its cron parse with
robfig/cron v1 (5 or 6 fields, seconds first), else 400. Errors are grpc-gateway v2 bodies,
``{"code", "message", "details"}``, with the HTTP status of their gRPC code.

Healthz is the API server's own handler, not the gateway's (``main.go``: ``healthzResponse``
and ``newHealthzResponse``, checked by ``main_test.go``'s
``TestBuildHTTPRouter_HealthzResponses``, read at kubeflow/pipelines 7b70c7b): a JSON object
``{commit_sha, tag_name, multi_user, pipeline_store}`` where ``tag_name`` is the TAG_NAME the
image was built with (a release's "2.17.0") or "unknown" when the build gave none
(``backend/Dockerfile``: ``ARG TAG_NAME=unknown``), and ``pipeline_store`` is omitted when empty.
Red Hat's builds set no TAG_NAME, so a Data Science Pipelines server says "unknown": that is
the default here, and a test sets ``tag_name`` to play an upstream release.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from tests.servers import serve_app

GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13}


def _status(http: int, message: str) -> JSONResponse:
    code = GRPC_CODES[http]
    detail = message if http != 500 else "Internal Server Error"
    return JSONResponse({"code": code, "message": message, "details": [
        {"@type": "type.googleapis.com/google.rpc.Status", "code": code, "message": detail}]},
        status_code=http)  # fmt: skip


def _cron_problem(cron: str) -> str | None:
    fields = cron.split()
    if not 5 <= len(fields) <= 6:
        return f"Expected 5 to 6 fields, found {len(fields)}: {cron}"
    return None


def _spec_problem(spec: Any, parameters: dict[str, Any]) -> str | None:
    # With a platform spec (kfp-kubernetes), the SDK sends {pipeline_spec, platform_spec}.
    if isinstance(spec, dict) and "pipeline_spec" in spec:
        spec = spec["pipeline_spec"]
    if not isinstance(spec, dict) or "root" not in spec or "pipelineInfo" not in spec:
        return "500:Failed to fetch a template with an invalid pipeline spec manifest: unknown template format"
    declared = set((spec["root"].get("inputDefinitions") or {}).get("parameters") or {})
    if unknown := sorted(set(parameters) - declared):
        return (
            "400:invalid pipeline job inputs: Invalid input error: parameter(s) provided are "
            f"not required by pipeline: {', '.join(unknown)}"
        )
    return None


@dataclass
class PipelinesApi:
    """The server's state, and the test's handle on it."""

    tokens: set[str]
    namespace: str
    tag_name: str = "unknown"
    commit_sha: str = "unknown"
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    recurring_runs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authenticate(request: Request, call_next: Any) -> Any:
            self.requests.append(f"{request.method} {request.url.path}")
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in self.tokens:
                return PlainTextResponse("Unauthorized", status_code=401)
            return await call_next(request)

        @app.get("/apis/v2beta1/healthz")
        def healthz() -> dict[str, Any]:
            # A Data Science Pipelines server is single-user, its pipelines in its database.
            return {
                "commit_sha": self.commit_sha,
                "tag_name": self.tag_name,
                "multi_user": False,
                "pipeline_store": "database",
            }

        @app.get("/apis/v2beta1/experiments")
        def list_experiments(request: Request) -> Any:
            wanted = None
            if raw := request.query_params.get("filter"):
                predicates = json.loads(raw).get("predicates", [])
                wanted = next((p.get("string_value", p.get("stringValue")) for p in predicates
                               if p.get("key") in ("display_name", "name")), None)  # fmt: skip
            found = [e for e in self.experiments.values()
                     if wanted is None or e["display_name"] == wanted]  # fmt: skip
            return {"experiments": found, "total_size": len(found)} if found else {}

        @app.post("/apis/v2beta1/experiments")
        async def create_experiment(request: Request) -> Any:
            body = await request.json()
            if not body.get("display_name"):
                return _status(400, "Invalid input error: experiment name is empty")
            if any(e["display_name"] == body["display_name"] for e in self.experiments.values()):
                return _status(409, f"experiment {body['display_name']} already exists")
            experiment_id = f"exp-{next(self._ids)}"
            self.experiments[experiment_id] = {"experiment_id": experiment_id,
                                               "display_name": body["display_name"],
                                               "namespace": body.get("namespace", ""),
                                               "storage_state": "AVAILABLE"}  # fmt: skip
            return self.experiments[experiment_id]

        @app.post("/apis/v2beta1/runs")
        async def create_run(request: Request) -> Any:
            body = await request.json()
            if problem := self._common_problem(body):
                return problem
            run = {**body, "run_id": f"run-{next(self._ids)}", "state": "PENDING"}
            self.runs.append(run)
            return run

        @app.post("/apis/v2beta1/recurringruns")
        async def create_recurring_run(request: Request) -> Any:
            body = await request.json()
            if problem := self._common_problem(body):
                return problem
            prefix = (
                "Failed to create a recurring run due to conversion error: Invalid input error: "
            )
            concurrency = int(body.get("max_concurrency") or 0)
            if not 1 <= concurrency <= 10:
                return _status(400, f"{prefix}Max concurrency of a recurring run must be at least "
                               f"1 and at most 10. Received {concurrency}")  # fmt: skip
            cron = ((body.get("trigger") or {}).get("cron_schedule") or {}).get("cron")
            if cron is not None and (message := _cron_problem(cron)):
                return _status(400, f"{prefix}Schedule cron is not a supported format"
                               f"(https://godoc.org/github.com/robfig/cron). Error: {message}")  # fmt: skip
            recurring = {**body, "recurring_run_id": f"rr-{next(self._ids)}", "status": "ENABLED"}
            self.recurring_runs.append(recurring)
            return recurring

        return app

    def _common_problem(self, body: dict[str, Any]) -> JSONResponse | None:
        if not body.get("display_name"):
            return _status(500, "Failed to convert to its internal representation: Invalid "
                           "input error: Run name cannot be empty")  # fmt: skip
        if body.get("experiment_id") not in self.experiments:
            return _status(404, f"experiment {body.get('experiment_id')} not found")
        parameters = (body.get("runtime_config") or {}).get("parameters") or {}
        if problem := _spec_problem(body.get("pipeline_spec"), parameters):
            status, _, message = problem.partition(":")
            return _status(int(status), message)
        return None


@contextmanager
def running_pipelines_api(
    token: str, namespace: str, *, tag_name: str = "unknown"
) -> Iterator[tuple[PipelinesApi, str]]:
    """The stand-in on loopback: its state and its URL; ``tag_name`` is the version it reports."""
    api = PipelinesApi({token}, namespace, tag_name=tag_name)
    with serve_app(api.app()) as url:
        yield api, url
