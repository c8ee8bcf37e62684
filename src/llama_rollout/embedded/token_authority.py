"""The embedded stack's token authority: service-account tokens, and the one endpoint of the
Kubernetes API that Llama Stack's ``kubernetes`` auth provider asks about them.

On a cluster, Llama Stack sends each caller's bearer token to the API server's
``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` and takes the user name it answers
as the caller's principal (llama-stack 0.7.3, ``core/server/auth_providers.py``,
``KubernetesAuthProvider``). On a laptop there is no API server, so this server answers that
endpoint for the tokens of a token book kept in the state folder (mode 0600), with the
identities the cluster's service accounts have: the demo, the evaluation and the notebooks send
real tokens, and a wrong one is refused.

What it copies from the API server (kubernetes ``pkg/registry/authentication/selfsubjectreview``,
``staging/src/k8s.io/apiserver``: ``authentication/request/bearertoken``, ``endpoints/handlers``):

* the bearer token is the second word of ``Authorization: Bearer <token> [...]``; another
  scheme, or an empty token, makes the request ``system:anonymous``;
* a token it does not know: 401 with a ``Status`` whose reason is ``Unauthorized``;
* ``system:anonymous`` may not create a SelfSubjectReview (``system:basic-user`` is bound to
  ``system:authenticated``), and no one may do anything else with the collection: 403;
* a body that is not JSON or YAML, or whose ``kind`` or ``apiVersion`` is another's: 400 (a
  body that names neither takes them from the URL, as the real server does); another content
  type: 415; another path: 404;
* a known token: 201 with the review, ``status.userInfo`` holding ``username``, ``uid`` and
  ``groups``: a service account's ``system:serviceaccounts``,
  ``system:serviceaccounts:<namespace>`` and ``system:authenticated``; an OpenShift user's
  own groups, ``system:authenticated:oauth`` and ``system:authenticated``.

Not copied: the ``extra`` of a pod's projected token (pod name, node), the service account's
own uid, protobuf bodies, and token expiry: a minted token is valid until the book is removed.

Run: ``python -m llama_rollout.embedded.token_authority --port N --tokens FILE``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from llama_rollout.embedded.service_accounts import TokenBook

logger = logging.getLogger(__name__)

REVIEWS_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def _status(code: int, reason: str, message: str) -> JSONResponse:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return JSONResponse(body, status_code=code)


FORBIDDEN = (
    'selfsubjectreviews.authentication.k8s.io is forbidden: User "{user}" cannot {verb} '
    'resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope'
)
MEDIA_TYPES = ("application/json", "application/yaml")
VERBS = {"GET": "list", "PUT": "update", "PATCH": "patch", "DELETE": "deletecollection"}


def bearer_token(header: str) -> str:
    """The token of an ``Authorization`` header, or '' when the request is anonymous."""
    parts = header.split(" ", 2)
    return parts[1] if len(parts) >= 2 and parts[0].lower() == "bearer" else ""


def create_app(book: TokenBook) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route(REVIEWS_PATH, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def review(request: Request) -> JSONResponse:
        token = bearer_token(request.headers.get("authorization", ""))
        identity = book.identity_of(token) if token else None
        if token and identity is None:
            return _status(401, "Unauthorized", "Unauthorized")
        user = identity.username if identity else "system:anonymous"
        if request.method != "POST" or identity is None:
            verb = VERBS.get(request.method, "create")
            return _status(403, "Forbidden", FORBIDDEN.format(user=user, verb=verb))
        media_type = request.headers.get("content-type", "application/json").split(";")[0]
        if media_type.strip() not in MEDIA_TYPES:
            return _status(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(MEDIA_TYPES)}, application/vnd.kubernetes.protobuf",
            )
        try:
            body = yaml.safe_load(await request.body()) or {}
        except yaml.YAMLError as exc:
            return _status(400, "BadRequest", f"error decoding the body: {exc}")
        # What the body leaves out, the URL gives; what it names must be this.
        if not isinstance(body, dict) or any(body.get(k, v) != v for k, v in REVIEW.items()):
            return _status(
                400,
                "BadRequest",
                "the API version in the data does not match the expected API version "
                "(authentication.k8s.io/v1, kind SelfSubjectReview)",
            )
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return JSONResponse(
            {
                **REVIEW,
                "metadata": {"creationTimestamp": created},
                "status": {"userInfo": identity.user_info()},
            },
            status_code=201,
        )

    @app.get("/readyz")
    async def ready() -> JSONResponse:
        return JSONResponse("ok")

    return app


def main(argv: list[str] | None = None) -> None:
    """Run the authority: ``python -m llama_rollout.embedded.token_authority --port N --tokens FILE``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", required=True, help="the token book (JSON, mode 0600)")
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(TokenBook(Path(args.tokens))),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
