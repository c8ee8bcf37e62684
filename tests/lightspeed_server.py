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
``LLMResponse``, every field present.

The provider: the app server asks the provider's ``url`` (``ols/src/llms/providers/
rhoai_vllm.py``: ``ChatOpenAI`` with the url as its base, so ``POST <url>/chat/completions``
with the credentials Secret's ``apitoken`` as bearer). The stand-in does so only for the URLs a
test maps in ``upstreams`` (to an Edge from the app server's pod, tests/network_policy.py, so
the NetworkPolicies decide); for the others it answers itself. A provider that fails or never
answers within ``provider_timeout`` is a 500 with the error as the cause; a refused connection
never opens, and the app server's client waits out its connect timeout (10 s), so the step's
own bound on the question fires first, as on a cluster.

The configuration is what the pod that answers loaded at its start: lightspeed-service reads
``olsconfig.yaml`` only then, so during the operator's rolling restart the OLD pod answers with
the OLD configuration until the new pod is available (``tests/lightspeed_operator.py`` calls
``reload`` at that moment, with the spec the operator rendered).

The prompt budget (``ols/src/query_helpers/docs_summarizer.py``, ``ols/utils/token_handler.py``,
``ols/app/models/config.py`` ``_compute_tool_budgets``): the budget is ``contextWindowSize -
maxTokensForResponse - max_tokens_for_tools``, where ``max_tokens_for_tools`` is
``int(contextWindowSize * toolBudgetRatio)`` (the operator writes 0.5 when the CR has none,
lightspeed-operator ``internal/controller/appserver/assets.go``) once any MCP server or the
documentation search is configured, else 0 (``config.py`` 1467-1490). The operator configures
its own OpenShift MCP server unless ``spec.ols.introspectionEnabled`` is false, the
documentation search (``solr_hybrid``) unless ``spec.ols.byokRAGOnly`` is true, and the CR's
``mcpServers`` only under the ``MCPServer`` feature gate (``assets.go`` 410), and of those only
the ones whose header Secrets held a ``header`` when the pod started (``_headers_readable``;
the app server resolves headers once, at load: ``config.py`` 1452-1465); a model
without ``maxTokensForResponse`` gets 4096 (``ols/constants.py``: the operator omits a zero).
The prompt (system instructions, the documentation guidance when the search is on, and the
question) and then every tool definition (``json.dumps([{name, description, schema}])``: the
OpenShift MCP server's, the documentation search's, the CR's servers') are charged against
it; over it,
``PromptTooLongError`` is a 413 with the body of ``ols.py``. Tokens are counted there with
tiktoken's ``cl100k_base`` times 1.1 (``TOKEN_BUFFER_WEIGHT``), rounded up; that encoding is a
download this machine cannot make, so the stand-in takes 4 characters a token (cl100k's
average on English and JSON) before the same 1.1. The system instructions are
``SYSTEM_PROMPT_CHARS`` long (``ols/src/prompts/prompts.py``: the query system instruction,
the generic agent instructions, the context and history instructions).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fake_kube import FakeKube
from tests.fake_rbac import User
from tests.servers import serve_app

SYSTEM_PROMPT_CHARS = 3103  # measured at lightspeed-service 47c96d8
DOCS_GUIDANCE_CHARS = 824  # the same prompts.py, added while the documentation search is on
DOCS_SEARCH_TOOL_CHARS = 400  # ols/src/rag_index/solr_support.py, as serialised
# The OpenShift MCP server's core, config and helm toolsets (openshift/openshift-mcp-server
# 032d3e2, pkg/mcp/testdata) and the metrics toolset (rhobs/obs-mcp v0.7.1), as serialised.
OPENSHIFT_MCP_TOOL_CHARS = 16_765 + 9_500
TOKEN_BUFFER_WEIGHT = 1.1  # ols/constants.py
DEFAULT_TOOL_BUDGET_RATIO = 0.5
DEFAULT_MAX_TOKENS_FOR_RESPONSE = 4096
NAMESPACE = "openshift-lightspeed"  # where the operator reads the providers' Secrets


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
        self.loaded: dict[str, Any] = {}  # the spec the serving pod started with
        self.loaded_sources = (False, False, False)  # its tool sources, as it resolved them
        # What the configured MCP servers list (tools/list): name, description, inputSchema.
        self.mcp_tools: list[dict[str, Any]] = []
        # A provider's URL as OLSConfig names it -> where the app server's pod reaches it.
        self.upstreams: dict[str, str] = {}
        self.provider_timeout = 60.0
        self.provider_connect_timeout = 10.0

    def reload(self, spec: dict[str, Any] | None = None) -> None:
        """A new pod is serving: it read ``spec`` (by default, the current one) at its start."""
        current = spec if spec is not None else self.fake.get("olsconfigs", "cluster")["spec"]
        self.loaded = json.loads(json.dumps(current))
        self.loaded_sources = self._tool_sources(self.loaded)  # headers read once, at the start

    def start_error(self, spec: dict[str, Any]) -> str | None:
        """Why an app server given ``spec`` stops at its start (None when it starts): a model
        whose window cannot hold its response and the tools' reserve
        (``ols/app/models/config.py`` ``_compute_tool_budgets`` raises at load)."""
        reserved = any(self._tool_sources(spec))
        for provider in (spec.get("llm") or {}).get("providers") or []:
            for model in provider.get("models") or []:
                window, response, ratio = self._window(model)
                if reserved and window <= response + int(window * ratio):
                    return f"model {model.get('name')}: context window {window} too small"
        return None

    @staticmethod
    def _window(model: dict[str, Any]) -> tuple[int, int, float]:
        parameters = model.get("parameters") or {}
        return (
            int(model.get("contextWindowSize", 128_000)),
            int(parameters.get("maxTokensForResponse", DEFAULT_MAX_TOKENS_FOR_RESPONSE)),
            float(parameters.get("toolBudgetRatio", DEFAULT_TOOL_BUDGET_RATIO)),
        )

    def _tool_sources(self, spec: dict[str, Any]) -> tuple[bool, bool, bool]:
        """(the operator's OpenShift MCP server, the documentation search, the CR's servers)."""
        ols = spec.get("ols") or {}
        servers = "MCPServer" in (spec.get("featureGates") or []) and any(
            self._headers_readable(server) for server in spec.get("mcpServers") or []
        )
        return (
            ols.get("introspectionEnabled") is not False,
            ols.get("byokRAGOnly") is not True,
            servers,
        )

    def _headers_readable(self, server: dict[str, Any]) -> bool:
        """Whether the app server keeps an MCP server: each header from a Secret is the file
        ``header`` of that Secret's mount, read whole (``ols/utils/checks.py`` 147-205, the
        value ``rstrip``-ed and sent as it is); a missing or empty one drops the server with a
        warning in the log and nothing else (``validate_mcp_servers`` 208-243)."""
        for header in server.get("headers") or []:
            source = header["valueFrom"]
            if source.get("type") != "secret":
                continue
            secret = self.fake.get("secrets", source["secretRef"]["name"], NAMESPACE) or {}
            value = base64.b64decode((secret.get("data") or {}).get("header", "")).decode()
            if not value.rstrip():
                return False
        return True

    def over_budget(self, query: str, model: dict[str, Any]) -> bool:
        """Whether the question and the MCP tool definitions exceed the model's prompt budget."""
        window, response, ratio = self._window(model)
        introspection, docs_search, servers = self.loaded_sources
        tools = int(window * ratio) if introspection or docs_search or servers else 0
        definitions = json.dumps([
            {"name": t["name"], "description": t.get("description", ""),
             "schema": (t.get("inputSchema") or {}).get("properties", {})}
            for t in self.mcp_tools
        ]) if servers and self.mcp_tools else ""  # fmt: skip
        used = _tokens(
            SYSTEM_PROMPT_CHARS + len(query) + (DOCS_GUIDANCE_CHARS if docs_search else 0)
        )
        tool_chars = len(definitions) + (OPENSHIFT_MCP_TOOL_CHARS if introspection else 0)
        tool_chars += DOCS_SEARCH_TOOL_CHARS if docs_search else 0
        used += _tokens(tool_chars) if tool_chars else 0
        return used > window - response - tools

    def ask_provider(self, url: str, provider: dict[str, Any], model: str, query: str) -> str:
        """The question as the provider's client sends it; the answer's text."""
        secret = self.fake.get("secrets", provider["credentialsSecretRef"]["name"], NAMESPACE)
        token = base64.b64decode(((secret or {}).get("data") or {}).get("apitoken", "")).decode()
        response = requests.post(
            f"{url.rstrip('/')}/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": query}]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=(self.provider_connect_timeout, self.provider_timeout),
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

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
            entry = next(m for m in providers[provider]["models"] if m["name"] == model)
            if self.over_budget(body["query"], entry):
                return _error(413, "Prompt is too long",
                              "The input exceeds the model's context window")  # fmt: skip
            self.asked.append(body)
            answer = f"{model} answers."
            upstream = self.upstreams.get(providers[provider].get("url", ""))
            if upstream is not None:
                try:
                    answer = await asyncio.to_thread(
                        self.ask_provider, upstream, providers[provider], model, body["query"]
                    )
                except Exception as exc:  # the app server catches every error of the call too
                    return _error(*provider_error(exc))
            return JSONResponse({"conversation_id": "c-1", "response": answer,
                                 "referenced_documents": [], "truncated": False,
                                 "input_tokens": 12, "output_tokens": 3, "available_quotas": {},
                                 "tool_calls": [], "tool_results": []})  # fmt: skip

        return app


def _tokens(characters: int) -> int:
    return math.ceil(math.ceil(characters / 4) * TOKEN_BUFFER_WEIGHT)


def _invalid(message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"type": "value_error", "loc": ["body"],
                                     "msg": f"Value error, {message}"}]}, status_code=422)  # fmt: skip


# ols/utils/errors_parsing.py parse_generic_llm_error (lightspeed-service 47c96d87): what a
# failed provider call becomes, the status, the response and the cause.
NETWORK_ERROR = (
    "[Network] Unable to reach the LLM backend. Please verify network connectivity and provider "
    "URL configuration."
)
BACKEND_ERROR = (
    "[LLM Backend] An error occurred during LLM invocation. Please contact your OpenShift "
    "Lightspeed administrator."
)


def provider_error(exc: Exception) -> tuple[int, str, str]:
    """A connection failure or timeout (openai's APIConnectionError, APITimeoutError) is a
    502; a 400 (BadRequestError) keeps its status and message; anything else (another status,
    an answer without choices) is a 500 that names no cause."""
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return 502, NETWORK_ERROR, "Unable to connect to LLM provider"
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None and response.status_code == 400:
        try:
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text
        return 400, f"[LLM Backend] {message}", message
    return 500, BACKEND_ERROR, "An unexpected error occurred"


def _error(status: int, response: str, cause: str) -> JSONResponse:
    return JSONResponse({"detail": {"response": response, "cause": cause}}, status_code=status)


@contextmanager
def running_lightspeed(fake: FakeKube) -> Iterator[tuple[Lightspeed, str]]:
    server = Lightspeed(fake)
    with serve_app(server.app()) as url:
        yield server, url
