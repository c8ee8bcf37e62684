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
import hmac
import json
import logging
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from llama_rollout import redaction
from llama_rollout.errors import ConfigurationError
from llama_rollout.kube.identity import service_account, service_account_namespace

logger = logging.getLogger(__name__)

REVIEWS_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Identity:
    """Who a token is: the user name and groups a SelfSubjectReview answers."""

    username: str
    groups: tuple[str, ...]
    uid: str

    @classmethod
    def of_service_account(cls, namespace: str, name: str) -> Identity:
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
        return cls(service_account(namespace, name), groups, str(uuid.uuid4()))

    @classmethod
    def of_principal(cls, username: str) -> Identity:
        """The identity of a user name: a service account's groups when it names one."""
        namespace = service_account_namespace(username)
        name = username.rpartition(":")[2]
        return cls.of_service_account(namespace, name) if namespace else cls.of_user(username)

    @classmethod
    def of_user(cls, name: str, groups: tuple[str, ...] = ()) -> Identity:
        """An OpenShift user, as its OAuth token authenticates it."""
        return cls(name, (*groups, f"{AUTHENTICATED}:oauth", AUTHENTICATED), str(uuid.uuid4()))

    def user_info(self) -> dict[str, Any]:
        return {"username": self.username, "uid": self.uid, "groups": list(self.groups)}


class TokenBook:
    """The tokens the authority knows, in one file (mode 0600) of the state folder.

    Each identity gets one random token when first asked for, and keeps it: a token handed to a
    notebook stays valid across ``local up``. Each token is also written alone to a file of its
    own, for the clients that read a token file (``KF_PIPELINES_SA_TOKEN_PATH``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(self, identity: Identity) -> Path:
        """The token file of ``identity``, minting its token when it has none."""
        entries = self._entries()
        entry = entries.get(identity.username)
        if entry is None or list(entry["groups"]) != list(identity.groups):
            token = entry["token"] if entry else secrets.token_urlsafe(32)
            entries[identity.username] = {**identity.user_info(), "token": token}
            self._write(self.path, json.dumps(entries, indent=2))
        token_file = self.token_file(identity.username)
        self._write(token_file, entries[identity.username]["token"])
        return token_file

    def token(self, identity: Identity) -> str:
        """The token of ``identity``, minting it when it has none."""
        token = self.issue(identity).read_text()
        redaction.remember(token)
        return token

    def token_file(self, username: str) -> Path:
        return self.path.parent / "tokens" / username.replace(":", "_")

    def identity_of(self, token: str) -> Identity | None:
        """Who ``token`` is; compared in constant time, as the token is a secret."""
        found = None
        for entry in self._entries().values():
            if hmac.compare_digest(entry["token"].encode(), token.encode()):
                found = Identity(entry["username"], tuple(entry["groups"]), entry["uid"])
        return found

    def _entries(self) -> dict[str, dict[str, Any]]:
        try:
            entries = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"the token book {self.path} cannot be read: {exc}",
                hint="remove it and run `llama-rollout local up`: the tokens are minted again",
            ) from exc
        return entries if isinstance(entries, dict) else {}

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp makes the file 0600, under a name of its own: two writers never share one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)


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
