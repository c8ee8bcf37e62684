"""The embedded Model Registry: the Kubeflow Model Registry REST API over SQLite.

It answers under both ``/api/model_registry/v1`` (client 0.3.18) and
``/api/model_registry/v1alpha3`` (older 0.3.x clients) with the bodies of the upstream OpenAPI
spec: ids and epoch-millisecond times as strings, lists as ``{items, nextPageToken, pageSize,
size}``, errors as ``{code, message}``. Every request and response is checked against that
spec (``registry_contract``), so it refuses what the real server refuses, with the same status.
The official ``model-registry`` client drives it exactly as it drives the real server.
"""

from __future__ import annotations

import argparse
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from llama_rollout.embedded.registry_contract import ContractViolation, RegistryContract
from llama_rollout.embedded.registry_store import RegistryStore, StoreError

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/model_registry/v1", "/api/model_registry/v1alpha3")

# URL collection -> (store kind, artifactType filter for the collection)
COLLECTIONS: dict[str, tuple[str, str | None]] = {
    "registered_models": ("registered_model", None),
    "model_versions": ("model_version", None),
    "model_artifacts": ("artifact", "model-artifact"),
    "artifacts": ("artifact", None),
    "serving_environments": ("serving_environment", None),
    "inference_services": ("inference_service", None),
}
# URL of the find-one endpoint -> collection
SINGULAR = {
    "registered_model": "registered_models",
    "model_version": "model_versions",
    "model_artifact": "model_artifacts",
    "artifact": "artifacts",
    "serving_environment": "serving_environments",
    "inference_service": "inference_services",
}
# (parent collection, child path) -> (child kind, artifactType)
CHILDREN: dict[tuple[str, str], tuple[str, str | None]] = {
    ("registered_models", "versions"): ("model_version", None),
    ("model_versions", "artifacts"): ("artifact", None),
    ("serving_environments", "inference_services"): ("inference_service", None),
    ("inference_services", "serves"): ("serve_model", None),
}


def _list_body(page: Any) -> dict[str, Any]:
    return {
        "items": page.items,
        "nextPageToken": page.next_page_token,
        "pageSize": page.page_size,
        "size": len(page.items),
    }


def _list_args(request: Request) -> dict[str, Any]:
    q = request.query_params
    if q.get("filterQuery"):
        raise StoreError(400, "filterQuery is not supported by the embedded registry")
    try:
        page_size = int(q.get("pageSize") or 100)
    except ValueError as exc:
        raise StoreError(400, f"invalid pageSize {q.get('pageSize')!r}") from exc
    return {
        "page_size": page_size,
        "order_by": q.get("orderBy") or "ID",
        "sort_order": q.get("sortOrder") or "ASC",
        "page_token": q.get("nextPageToken") or "",
    }


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise StoreError(400, "the request body is not JSON") from exc
    if not isinstance(body, dict):
        raise StoreError(400, "the request body must be a JSON object")
    return body


def contract_enforcer(contract: RegistryContract) -> Any:
    """HTTP middleware: requests checked before the store sees them, responses before sending."""

    async def enforce_contract(request: Request, call_next: Any) -> Response:
        path = request.url.path
        prefix = next((p for p in API_PREFIXES if path.startswith(p + "/")), None)
        if prefix is None:
            return await call_next(request)
        try:
            op, path_values = contract.operation(request.method, path.removeprefix(prefix))
            contract.check_request(
                op, path_values, dict(request.query_params), await request.body()
            )
        except ContractViolation as violation:
            media = "text/plain; charset=utf-8" if violation.plain else "application/json"
            return Response(violation.body(), status_code=violation.status, media_type=media)
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])
        problem = contract.response_problem(op, response.status_code, body)
        if problem:
            logger.error("broke the API contract: %s", problem)
            return JSONResponse(
                {"code": "Internal Server Error", "message": f"embedded registry bug: {problem}"},
                status_code=500,
            )
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(body, status_code=response.status_code, headers=headers)

    return enforce_contract


def create_app(db_path: Path | str) -> FastAPI:
    """The registry app, storing in ``db_path``."""
    store = RegistryStore(db_path)
    app = FastAPI(
        title="llama-rollout embedded Model Registry",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.store = store

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(
            {"code": HTTPStatus(exc.status).phrase, "message": exc.message},
            status_code=exc.status,
        )

    app.middleware("http")(contract_enforcer(RegistryContract()))

    @app.get("/readyz/isDirty")
    @app.get("/readyz/health")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    router = APIRouter()

    @router.get("/{name}")
    def find_or_list(name: str, request: Request) -> dict[str, Any]:
        q = request.query_params
        if name in SINGULAR:
            kind, _ = COLLECTIONS[SINGULAR[name]]
            return store.find(
                kind,
                name=q.get("name"),
                external_id=q.get("externalId"),
                owner_id=q.get("parentResourceId"),
            )
        kind, artifact_type = _collection(name)
        artifact_type = artifact_type or q.get("artifactType")
        return _list_body(store.list(kind, artifact_type=artifact_type, **_list_args(request)))

    @router.post("/{collection}")
    async def create(collection: str, request: Request) -> JSONResponse:
        kind, artifact_type = _collection(collection)
        body = await _json_body(request)
        if artifact_type:
            body.setdefault("artifactType", artifact_type)
        try:
            created = store.create(kind, body)
        except StoreError as exc:
            # The parent named in the body does not exist: bad input, as the API documents
            # (only the nested POST .../{id}/children declares 404).
            if exc.status == 404:
                raise StoreError(400, exc.message) from exc
            raise
        # The API answers 200, not 201, to POST /inference_services.
        return JSONResponse(created, status_code=200 if collection == "inference_services" else 201)

    @router.get("/{collection}/{resource_id}")
    def get_one(collection: str, resource_id: str) -> dict[str, Any]:
        kind, artifact_type = _collection(collection)
        resource = store.get(kind, resource_id)
        if artifact_type and resource.get("artifactType") != artifact_type:
            raise StoreError(404, f"no {artifact_type} with id {resource_id}")
        return resource

    @router.patch("/{collection}/{resource_id}")
    async def update(collection: str, resource_id: str, request: Request) -> dict[str, Any]:
        kind, _ = _collection(collection)
        return store.update(kind, resource_id, await _json_body(request))

    @router.get("/inference_services/{resource_id}/model")
    def served_model(resource_id: str) -> dict[str, Any]:
        service = store.get("inference_service", resource_id)
        return store.get("registered_model", service["registeredModelId"])

    @router.get("/inference_services/{resource_id}/version")
    def served_version(resource_id: str) -> dict[str, Any]:
        return _served_version(store, resource_id)

    @router.get("/{collection}/{resource_id}/{child}")
    def list_children(
        collection: str, resource_id: str, child: str, request: Request
    ) -> dict[str, Any]:
        kind, artifact_type = _child(collection, child)
        store.get(COLLECTIONS[collection][0], resource_id)
        artifact_type = artifact_type or request.query_params.get("artifactType")
        page = store.list(
            kind, owner_id=resource_id, artifact_type=artifact_type, **_list_args(request)
        )
        return _list_body(page)

    @router.post("/{collection}/{resource_id}/{child}")
    async def create_child(
        collection: str, resource_id: str, child: str, request: Request
    ) -> JSONResponse:
        kind, _ = _child(collection, child)
        store.get(COLLECTIONS[collection][0], resource_id)
        body = await _json_body(request)
        if kind == "artifact" and body.get("id"):
            # Upsert: an existing artifact is updated and linked to this version.
            artifact_id = str(body["id"])
            store.update("artifact", artifact_id, body)
            return JSONResponse(store.attach("artifact", artifact_id, resource_id), status_code=200)
        return JSONResponse(store.create(kind, body, owner_id=resource_id), status_code=201)

    for prefix in API_PREFIXES:
        app.include_router(router, prefix=prefix)
    return app


def _collection(name: str) -> tuple[str, str | None]:
    if name not in COLLECTIONS:
        raise StoreError(404, f"unknown collection {name}")
    return COLLECTIONS[name]


def _child(collection: str, child: str) -> tuple[str, str | None]:
    if (collection, child) not in CHILDREN:
        raise StoreError(404, f"unknown endpoint {collection}/{{id}}/{child}")
    return CHILDREN[(collection, child)]


def _served_version(store: RegistryStore, inference_service_id: str) -> dict[str, Any]:
    service = store.get("inference_service", inference_service_id)
    if service.get("modelVersionId"):
        return store.get("model_version", service["modelVersionId"])
    page = store.list(
        "model_version",
        owner_id=service["registeredModelId"],
        order_by="CREATE_TIME",
        sort_order="DESC",
        page_size=1,
    )
    if not page.items:
        raise StoreError(404, f"registered model {service['registeredModelId']} has no versions")
    return page.items[0]


def main(argv: list[str] | None = None) -> None:
    """Run the registry: ``python -m llama_rollout.embedded.registry_server --db FILE --port N``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
