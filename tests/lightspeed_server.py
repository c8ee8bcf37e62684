"""A stand-in for OpenShift Lightspeed's app server, as strict as the real one where the publish
step meets it: ``POST /v1/query``.

Read from openshift/lightspeed-service at 47c96d87 (``ols/app/endpoints/ols.py``,
``ols/app/models/models.py``, ``ols/src/auth/k8s.py``): the request is an ``LLMRequest``
(``query`` required; extra fields refused with 422, pydantic's body); no Authorization header,
or no bearer token, is a 401; a token the TokenReview does not authenticate is a 403, and so is
a SubjectAccessReview of ``get`` on the non-resource path ``/ols-access`` that is denied, each
with its plain-string ``detail``; a provider without a model, or a model without a provider, is
pydantic's 422; a provider or a model the loaded configuration does not have is a 422 with
``{"detail": {"response", "cause"}}`` and the exact causes below. The answer is an
``LLMResponse``, every field present. The configuration is the OLSConfig as the
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
    """The SubjectAccessReview the app server makes: get on /ols-access, by ClusterRole."""
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
            if "/ols-access" in (rule.get("nonResourceURLs") or []) and (
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
            header = request.headers.get("authorization")
            if header is None:
                return JSONResponse({"detail": "Unauthorized: No auth header found"}, 401)
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return JSONResponse(
                    {"detail": "Unauthorized: Bearer token not found or invalid"}, 401
                )
            name = self.fake.tokens.get(token)
            if not name:
                return JSONResponse({"detail": "Forbidden: Invalid or expired token"}, 403)
            if not may_query(self.fake, User.of(name)):
                return JSONResponse({"detail": "Forbidden: User does not have access"}, 403)
            body = await request.json()
            allowed = {"query", "conversation_id", "provider", "model", "system_prompt",
                       "attachments", "media_type", "mcp_headers", "mode"}  # fmt: skip
            if not isinstance(body.get("query"), str) or set(body) - allowed:
                return JSONResponse({"detail": [{"msg": "invalid LLMRequest"}]}, status_code=422)
            provider, model = body.get("provider"), body.get("model")
            if model and not provider:
                return _invalid("LLM provider must be specified when the model is specified.")
            if provider and not model:
                return _invalid("LLM model must be specified when the provider is specified.")
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
                                 "referenced_documents": [], "truncated": False,
                                 "input_tokens": 12, "output_tokens": 3, "available_quotas": {},
                                 "tool_calls": [], "tool_results": []})  # fmt: skip

        return app


def _invalid(message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"type": "value_error", "loc": ["body"],
                                     "msg": f"Value error, {message}"}]}, status_code=422)  # fmt: skip


def _error(status: int, response: str, cause: str) -> JSONResponse:
    return JSONResponse({"detail": {"response": response, "cause": cause}}, status_code=status)


@contextmanager
def running_lightspeed(fake: FakeKube) -> Iterator[tuple[Lightspeed, str]]:
    server = Lightspeed(fake)
    with serve_app(server.app()) as url:
        yield server, url
