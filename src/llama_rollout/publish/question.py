"""One question to Lightspeed through a provider and model, and the ways publishing fails.

Lightspeed's readiness probe only asks its default provider, so the publish step asks
``/v1/query`` once through the new provider and model; each refusal is worded by its cause.
"""

from __future__ import annotations

from llama_rollout.bounds import LIGHTSPEED_QUERY
from llama_rollout.errors import RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.redaction import excerpt

SMOKE_QUESTION = "In one sentence: what does a Kubernetes readiness probe check?"


class PublishError(RolloutError):
    """Publishing to Lightspeed failed; the message says whether OLSConfig was restored."""


class OldConfiguration(PublishError):
    """Lightspeed answered from a configuration without the new provider or model (422)."""


class AppServerUnreachable(PublishError):
    """The connection to the app server failed (refused or reset, not silent)."""


class LightspeedMissing(PublishError):
    """There is no OLSConfig ``cluster``: Lightspeed is not installed (or not configured)."""


def ask(base_url: str, provider: str, model: str, *, token: str, ca_certs: str | None) -> str:
    """One question to Lightspeed through ``provider``/``model``; its answer.

    Raises:
        PublishError: Lightspeed refused or failed the question.
    """
    status, answer = request_json(
        "POST",
        f"{base_url.rstrip('/')}/v1/query",
        {"query": SMOKE_QUESTION, "provider": provider, "model": model},
        bound=LIGHTSPEED_QUERY,
        what="Lightspeed",
        ca_certs=ca_certs,
        token=token,
        unreachable=AppServerUnreachable,
    )
    text = answer.get("response") if isinstance(answer, dict) else None
    if status != 200 or not text:
        detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
        if status == 422 and "is not a valid" in str(detail):
            raise OldConfiguration(
                f"Lightspeed does not know provider {provider}, model {model} yet (422: "
                f"{excerpt(detail, 200)})",
                hint="the app server did not restart with the new OLSConfig: see its Deployment "
                "openshift-lightspeed/lightspeed-app-server and the operator's log",
            )
        if status == 413:
            raise PublishError(
                f"Lightspeed's prompt budget is exceeded through provider {provider}, model "
                f"{model} (413: {excerpt(detail, 200)})",
                hint="raise max_model_len (contextWindowSize), lower lightspeed_max_tokens, or "
                "serve fewer MCP tools",
            )
        hint = {
            502: "Lightspeed could not reach the provider's URL from openshift-lightspeed: check "
            "that the URL is right and that a NetworkPolicy admits Lightspeed's pods (the "
            "stack's allowedFrom, lightspeed_endpoint)",
            401: "the step had no service-account token to send",
            403: "the token was refused, or the pipeline's service account may not get "
            "/ols-access: apply manifests/lightspeed-publisher",
        }.get(status, "the provider's URL, model or credential is wrong for Lightspeed")
        raise PublishError(
            f"Lightspeed answered {status} to a question through provider "
            f"{provider}, model {model}: {excerpt(detail, 300)}",
            hint=hint,
        )
    return str(text)
