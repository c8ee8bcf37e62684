"""A stand-in for a Data Science Pipelines API server (KFP v2beta1 REST), as strict as the real
one where ``kfp.Client`` meets it.

From kubeflow/pipelines (``backend/src/apiserver/server/run_server.go``,
``recurring_run_server.go``, ``experiment_server.go``, ``api_converter.go``, the
ScheduledWorkflow controller's robfig/cron parser with seconds) and the route in front of it on
OpenShift: a request without a valid bearer token is a 401; a run or recurring run needs a
display name, an experiment that exists and a pipeline spec with its root; a runtime
parameter the spec does not declare is refused; a recurring run needs a trigger whose cron has
6 fields and a max concurrency of 1 to 10. Errors are google.rpc.Status bodies
(``{"error", "code", "message", "details"}``) with the HTTP status of their gRPC code.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.servers import serve_app

GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6}


def _status(http: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": GRPC_CODES[http], "message": message,
                         "details": []}, status_code=http)  # fmt: skip


def _cron_problem(cron: str) -> str | None:
    fields = cron.split()
    if len(fields) != 6:
        return f"expected exactly 6 fields, found {len(fields)}: {cron}"
    return None


def _spec_problem(spec: Any, parameters: dict[str, Any]) -> str | None:
    # With a platform spec (kfp-kubernetes), the SDK sends {pipeline_spec, platform_spec}.
    if isinstance(spec, dict) and "pipeline_spec" in spec:
        spec = spec["pipeline_spec"]
    if not isinstance(spec, dict) or "root" not in spec or "pipelineInfo" not in spec:
        return "Invalid input error: pipeline spec is missing or has no root"
    declared = set((spec["root"].get("inputDefinitions") or {}).get("parameters") or {})
    if unknown := sorted(set(parameters) - declared):
        return f"Invalid input error: parameters {unknown} are not in the pipeline spec"
    return None


@dataclass
class PipelinesApi:
    """The server's state, and the test's handle on it."""

    tokens: set[str]
    namespace: str
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
                return _status(401, "Unauthorized: a valid bearer token is required")
            return await call_next(request)

        @app.get("/apis/v2beta1/healthz")
        def healthz() -> dict[str, Any]:
            return {"commit_sha": "stand-in", "tag_name": "2.5.0", "multi_user": False}

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
            cron = ((body.get("trigger") or {}).get("cron_schedule") or {}).get("cron")
            if not cron:
                return _status(400, "Invalid input error: a recurring run needs a trigger")
            if message := _cron_problem(cron):
                return _status(400, f"Invalid input error: invalid cron schedule: {message}")
            if not 1 <= int(body.get("max_concurrency") or 0) <= 10:
                return _status(400, "Invalid input error: max concurrency must be between 1 and 10")
            recurring = {**body, "recurring_run_id": f"rr-{next(self._ids)}", "status": "ENABLED"}
            self.recurring_runs.append(recurring)
            return recurring

        return app

    def _common_problem(self, body: dict[str, Any]) -> JSONResponse | None:
        if not body.get("display_name"):
            return _status(400, "Invalid input error: the display name is empty")
        if body.get("experiment_id") not in self.experiments:
            return _status(404, f"experiment {body.get('experiment_id')} not found")
        parameters = (body.get("runtime_config") or {}).get("parameters") or {}
        if problem := _spec_problem(body.get("pipeline_spec"), parameters):
            return _status(400, problem)
        return None


@contextmanager
def running_pipelines_api(token: str, namespace: str) -> Iterator[tuple[PipelinesApi, str]]:
    api = PipelinesApi({token}, namespace)
    with serve_app(api.app()) as url:
        yield api, url
