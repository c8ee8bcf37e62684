"""Who may call Llama Stack, and what: the ``server.auth`` section of its config.

Llama Stack 0.7.3 authenticates every request but ``/v1/health`` and ``/v1/version`` with its
``kubernetes`` provider: it sends the caller's bearer token to the API server's
SelfSubjectReview endpoint and takes the user name as the principal, the user name and the
groups as the roles (``claims_mapping``). Then two policies decide (``core/server/auth.py``,
``core/access_control``), each denying whatever no rule permits:

* ``route_policy``: which paths each client reaches (no token: 401; a principal no rule names:
  403);
* ``access_policy``: which resources it may use: the model for the clients that call it, every
  stored chat completion for the auditors, and each caller's own records.

A route rule cannot tell GET from POST: Lightspeed may list the chat completions it made
itself, and no one else's, since the access policy lets a principal read only what it owns.
The auditors reach the chat completions alone: Llama Stack deletes a stored response on a
``read`` right, so a route to the responses would let them delete anyone's. The chat
completions hold every model call, those the Responses API makes included.

A stored row is the resource ``sql_record::<table>::<id>`` (``authorized_sqlstore.SqlRecord``).
Llama Stack filters the rows a principal may read after it applies the page's limit, so a page
may hold fewer of one's own records than its limit: ask for large pages.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# What the server answers without a token (the health probes and the version check).
PUBLIC_ROUTES = ("/v1/health", "/v1/version")
MODELS = "/v1/models*"
CHAT = "/v1/chat/completions"
# The stored chat completions, as the access policy names their rows (the config's table).
INFERENCE_RECORDS = "sql_record::inference_store::*"
# The service account a pipeline's pods run as: pipeline-runner-<DataSciencePipelinesApplication>,
# and the dashboard names the application "dspa". The step asks the API server who it is; this
# name is only for what is shown before a run (render, the embedded stack's identities).
PIPELINE_RUNNER_ACCOUNT = "pipeline-runner-dspa"
# The service-account CA and API server a pod reaches the cluster with.
IN_CLUSTER_API_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


class StackClients(BaseModel):
    """The principals Llama Stack admits, as the API server names them
    (``system:serviceaccount:<namespace>:<name>`` for a service account)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str
    """the pipeline's runner: the chain check and the evaluation."""
    lightspeed: str = ""
    """the identity in Lightspeed's provider Secret, when Lightspeed calls the stack."""
    workbench: str = ""
    """a workbench's service account: the notebooks."""
    auditors: str = ""
    """a group (or user) that reads every stored call: the audit trail."""

    @field_validator("pipeline", "lightspeed", "workbench", "auditors")
    @classmethod
    def _one_word(cls, value: str) -> str:
        # Llama Stack's rule conditions are words: a name with a space fails its config.
        if any(c.isspace() for c in value):
            raise ValueError(
                f"{value!r} cannot be a principal in Llama Stack's policy: it has a space"
            )
        return value

    def routes(self) -> list[tuple[str, tuple[str, ...]]]:
        """(principal or group, the paths it reaches), in rule order."""
        model_callers = [
            (self.pipeline, (MODELS, f"{CHAT}*", "/v1/responses*")),
            (self.lightspeed, (MODELS, CHAT)),
            (self.workbench, (MODELS, f"{CHAT}*", "/v1/responses*", "/v1/conversations*")),
            (self.auditors, (f"{CHAT}*",)),
        ]
        return [(who, paths) for who, paths in model_callers if who]

    def model_callers(self) -> list[str]:
        return [who for who in (self.pipeline, self.lightspeed, self.workbench) if who]


def _member(who: str) -> str:
    # The kubernetes provider puts the user name and each group under "roles".
    return f"user with {who} in roles"


def auth_config(
    clients: StackClients, *, api_server_url: str, tls_cafile: str | None = None
) -> dict[str, Any]:
    """Llama Stack's ``server.auth``: the ``kubernetes`` provider at ``api_server_url``, and
    the route and access policies that admit ``clients`` alone."""
    provider: dict[str, Any] = {
        "type": "kubernetes",
        "api_server_url": api_server_url,
        "claims_mapping": {"username": "roles", "groups": "roles"},
    }
    if tls_cafile:
        provider["tls_cafile"] = tls_cafile
    route_policy: list[dict[str, Any]] = [
        {"permit": {"paths": list(PUBLIC_ROUTES)}, "description": "health and version: anyone"}
    ]
    route_policy += [
        {"permit": {"paths": list(paths)}, "when": _member(who), "description": who}
        for who, paths in clients.routes()
    ]
    access_policy: list[dict[str, Any]] = [
        {
            "permit": {"actions": ["read"], "resource": "model::*"},
            "when": _member(who),
            "description": f"{who} calls the model",
        }
        for who in clients.model_callers()
    ]
    if clients.auditors:
        access_policy.append(
            {
                "permit": {"actions": ["read"], "resource": INFERENCE_RECORDS},
                "when": _member(clients.auditors),
                "description": f"{clients.auditors} read every stored model call",
            }
        )
    access_policy.append(
        {
            "permit": {"actions": ["create", "read", "update", "delete"]},
            "when": "user is owner",
            "description": "each caller its own records",
        }
    )
    return {
        "provider_config": provider,
        "route_policy": route_policy,
        "access_policy": access_policy,
    }
