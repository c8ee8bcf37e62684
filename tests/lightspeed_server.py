"""A stand-in for OpenShift Lightspeed's app server, as strict as the real one where the publish
step meets it: ``POST /v1/query``.

From openshift/lightspeed-service (``ols/app/endpoints/ols.py``, ``ols/app/models/models.py``,
``ols/src/auth/k8s.py``): the request is an ``LLMRequest`` (``query`` required;
``conversation_id``, ``provider``, ``model`` optional, extra fields refused with 422); the
bearer token is authenticated (401 without one or with an unknown one) and authorized by a
SubjectAccessReview of ``get`` on the non-resource URL ``/ls-access`` (403 when denied); a
provider without a model, or a model without a provider, is a 422, and so is a provider or a
model the loaded configuration does not have. The configuration is the OLSConfig as the
operator last rolled it out: the fake API's object at the generation ApiReady reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fake_kube import FakeKube
from tests.fake_rbac import User
from tests.servers import serve_app


def may_query(fake: FakeKube, user: User) -> bool:
    """The SubjectAccessReview the app server makes: get on /ls-access, by ClusterRole."""
    rbac = "rbac.authorization.k8s.io"
    for (plural, _, _, group), binding in fake.objects.items():
        if (plural, group) != ("clusterrolebindings", rbac):
            continue
        subjects = binding.get("subjects") or []
        if not any(
            (s.get("kind") == "ServiceAccount"
             and user.name == f"system:serviceaccount:{s.get('namespace')}:{s.get('name')}")
            or (s.get("kind") == "Group" and s.get("name") in user.groups)
            for s in subjects
        ):  # fmt: skip
            continue
        role = fake.objects.get(("clusterroles", "", binding["roleRef"]["name"], rbac)) or {}
        for rule in role.get("rules") or []:
            if "/ls-access" in (rule.get("nonResourceURLs") or []) and (
                {"get", "*"} & set(rule.get("verbs") or [])
            ):
                return True
    return False


class Lightspeed:
    """The app server's state: what it loaded, and the questions it was asked."""

    def __init__(self, fake: FakeKube) -> None:
        self.fake = fake
        self.asked: list[dict[str, Any]] = []
        self.loaded: dict[str, Any] = {}  # the spec the operator rolled out

    def reload(self) -> None:
        """What the operator's rollout does: the app server reads the current spec."""
        self.loaded = dict(self.fake.get("olsconfigs", "cluster")["spec"])

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/query")
        async def query(request: Request) -> JSONResponse:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            name = self.fake.tokens.get(token) if scheme.lower() == "bearer" else None
            if not name:
                return _error(401, "Missing or invalid credentials provided by client",
                              "No token found in Authorization header")  # fmt: skip
            if not may_query(self.fake, User.of(name)):
                return _error(403, "Unable to review access", f"User {name} is not authorized")
            body = await request.json()
            allowed = {"query", "conversation_id", "provider", "model", "system_prompt",
                       "attachments", "media_type"}  # fmt: skip
            if not isinstance(body.get("query"), str) or set(body) - allowed:
                return JSONResponse({"detail": [{"msg": "invalid LLMRequest"}]}, status_code=422)
            provider, model = body.get("provider"), body.get("model")
            if bool(provider) != bool(model):
                return _error(422, "Unable to process this request",
                              "LLM model and provider must be specified together")  # fmt: skip
            providers = {p["name"]: p for p in (self.loaded.get("llm") or {}).get("providers", [])}
            if provider not in providers:
                return _error(422, "Unable to process this request",
                              f"Provider '{provider}' is not a valid provider. "
                              f"Valid providers are: {sorted(providers)}")  # fmt: skip
            models = [m["name"] for m in providers[provider]["models"]]
            if model not in models:
                return _error(422, "Unable to process this request",
                              f"Model '{model}' is not a valid model for provider "
                              f"'{provider}'. Valid models are: {models}")  # fmt: skip
            self.asked.append(body)
            return JSONResponse({"conversation_id": "c-1", "response": f"{model} answers.",
                                 "referenced_documents": [], "truncated": False})  # fmt: skip

        return app


def _error(status: int, response: str, cause: str) -> JSONResponse:
    return JSONResponse({"detail": {"response": response, "cause": cause}}, status_code=status)


@contextmanager
def running_lightspeed(fake: FakeKube) -> Iterator[tuple[Lightspeed, str]]:
    server = Lightspeed(fake)
    with serve_app(server.app()) as url:
        yield server, url
