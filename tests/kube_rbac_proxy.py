"""A stand-in for the kube-rbac-proxy in front of an OpenShift AI Model Registry.

As brancz/kube-rbac-proxy does with the model-registry-operator's config
(``resourceAttributes: {apiVersion: v1, resource: services, verb: get, namespace: <ns>,
name: <registry>}``): a request without a bearer token is 401; the token is checked with a
TokenReview, then a SubjectAccessReview asks whether its user may ``get`` that Service; no is
403; yes forwards the request upstream (over plain HTTP, on loopback, as in the pod). It asks
the API server with its own service account's token (the operator binds
``system:auth-delegator`` to it).
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from fastapi import FastAPI, Request, Response


def create_proxy(
    *, upstream: str, api_server: str, token: str, registry: str, namespace: str
) -> FastAPI:
    app = FastAPI()
    pool = urllib3.PoolManager()

    def review(kind: str, group: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{group}/v1", "kind": kind, "spec": spec}
        response = pool.request(
            "POST", f"{api_server}/apis/{group}/v1/{kind.lower()}s", body=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        return json.loads(response.data).get("status") or {}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def forward(path: str, request: Request) -> Response:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not sent:
            return Response("Unauthorized\n", status_code=401)
        who = review("TokenReview", "authentication.k8s.io", {"token": sent})
        if not who.get("authenticated"):
            return Response("Unauthorized\n", status_code=401)
        user = who["user"]
        attributes = {
            "verb": "get",
            "resource": "services",
            "namespace": namespace,
            "name": registry,
        }
        decision = review(
            "SubjectAccessReview", "authorization.k8s.io",
            {"user": user["username"], "groups": user.get("groups", []), "resourceAttributes": attributes},
        )  # fmt: skip
        if not decision.get("allowed"):
            return Response(
                f"Forbidden (user={user['username']}, verb=get, resource=services, subresource=)\n",
                status_code=403,
            )
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "authorization")
        }
        answer = pool.request(
            request.method, f"{upstream}/{path}?{request.url.query}", body=await request.body(),
            headers=headers,
        )  # fmt: skip
        return Response(
            answer.data, status_code=answer.status, media_type=answer.headers.get("content-type")
        )

    return app
