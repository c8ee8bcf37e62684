"""The Llama Stack stage's request and result: the step's parameters, declared once, and the
chain it proved.

Each field is a parameter of the ``deploy_llama_stack`` component, and (unless an earlier step
gives it) of the pipeline, under the pipeline's name where it differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llama_rollout.k8s_types import (
    DnsLabel,
    dns_label_problem,
    object_name_problem,
    versioned_name,
)
from llama_rollout.kube.identity import service_account, service_account_namespace
from llama_rollout.model_access import EnableAuth
from llama_rollout.stack.access import StackClients
from llama_rollout.stack.settings import (
    DEFAULT_IMAGE,
    LIGHTSPEED_MODEL_CLIENT_ACCOUNT,
    LIGHTSPEED_NAMESPACE,
    MAX_REPLICAS,
    MAX_TOKENS,
    MODEL_CLIENT_TOKEN_SECRET,
    StackSettings,
    settings_from,
    vllm_access,
)
from llama_rollout.step_parameters import DAY, parameter
from llama_rollout.targets import DeployNamespace, Target

# Parameters the evaluation and publishing take too.
McpUrl = Annotated[
    str,
    parameter(
        "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
        pipeline="mcp_url",
        description="the cluster-health MCP server (streamable HTTP endpoint).",
    ),
]
McpTokenSecret = Annotated[
    str,
    parameter(
        "",
        pipeline="mcp_token_secret",
        description="the Secret (key ``token``, in ``namespace``) of the bearer token the MCP "
        "server requires (manifests/mcp-server: cluster-health-mcp-token); empty for a server "
        "that requires none.",
    ),
]
LightspeedEndpoint = Annotated[
    Literal["llama-stack", "vllm"],
    parameter(
        "llama-stack",
        pipeline="lightspeed_endpoint",
        description="what Lightspeed talks to: ``llama-stack`` (Llama Stack's OpenAI-compatible "
        "/v1, the Llama Stack model id) or ``vllm`` (vLLM's /v1).",
    ),
]


LightspeedServiceAccount = Annotated[
    DnsLabel,
    parameter(
        LIGHTSPEED_MODEL_CLIENT_ACCOUNT,
        pipeline="lightspeed_service_account",
        description="the service account, in the pipeline's namespace, whose token Lightspeed's "
        "provider Secret holds (manifests/lightspeed-publisher): Lightspeed calls Llama Stack "
        "and vLLM as it.",
    ),
]


class StackAccess(BaseModel):
    """Who may call the stack besides the pipeline's runner (``stack.access``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lightspeed_service_account: LightspeedServiceAccount
    workbench_service_account: str = parameter(
        "",
        description="a workbench's service account that may call Llama Stack (the notebooks): "
        "NAME in the stack's namespace, or NAMESPACE:NAME; empty admits no workbench.",
    )
    auditors: str = parameter(
        "llama-stack-auditors",
        pipeline="llama_stack_auditors",
        description="the group (or user) whose members read every call Llama Stack stored: "
        "the audit trail; empty for none.",
    )

    @field_validator("auditors")
    @classmethod
    def _one_name(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError(
                f"{value!r} is not a group or user name: Llama Stack's policy conditions take "
                "one word (an OpenShift group, e.g. llama-stack-auditors)"
            )
        return value

    @field_validator("workbench_service_account")
    @classmethod
    def _service_account(cls, value: str) -> str:
        namespace, _, name = value.rpartition(":")
        problem = (namespace and dns_label_problem(namespace)) or (
            value and object_name_problem(name)
        )
        if problem:
            raise ValueError(
                f"workbench_service_account must be NAME or NAMESPACE:NAME, and {problem}"
            )
        return value

    def clients(self, namespace: str, runner: str, *, lightspeed: bool) -> StackClients:
        """The principals the stack admits: ``runner`` (the pipeline's), Lightspeed's service
        account when ``lightspeed`` calls the stack, and the workbench's, in ``namespace``
        unless it names its own."""
        workbench = ""
        if self.workbench_service_account:
            home, _, name = self.workbench_service_account.rpartition(":")
            workbench = service_account(home or namespace, name)
        return StackClients(
            pipeline=runner,
            lightspeed=service_account(namespace, self.lightspeed_service_account)
            if lightspeed
            else "",
            workbench=workbench,
            auditors=self.auditors,
        )


class StackRequest(BaseModel):
    """The Llama Stack step's parameters, as the pipeline passes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the earlier steps.
    serving_url: str = parameter(
        description="vLLM's OpenAI-compatible base URL (from ``deploy_model_server``)."
    )
    serving_model: str = parameter(description="the served model name.")
    revision: str = parameter(
        description="the model revision (the local stack restarts when it changes)."
    )
    # The pipeline's.
    mcp_url: McpUrl
    mcp_token_secret: McpTokenSecret
    namespace: DeployNamespace
    name: DnsLabel = parameter(
        "llama-stack",
        pipeline="llama_stack_name",
        description="the LlamaStackDistribution (or fallback Deployment) name.",
    )
    distribution_image: str = parameter(
        DEFAULT_IMAGE,
        pipeline="llama_stack_image",
        description="the Llama Stack image, pinned (0.7.x).",
    )
    distribution_name: str = parameter(
        "",
        pipeline="llama_stack_distribution",
        description="an operator distribution name instead of the image.",
    )
    vllm_token_secret: str = parameter(
        MODEL_CLIENT_TOKEN_SECRET,
        description="the token Secret (key ``token``) Llama Stack calls vLLM with when "
        "enable_auth is on: a service-account token Secret "
        "(manifests/pipeline-runner/llama-stack-model-client.yaml).",
    )
    serving_auth: EnableAuth
    vllm_max_tokens: int = parameter(
        4096,
        ge=1,
        le=MAX_TOKENS,
        pipeline="llama_stack_max_tokens",
        description="Llama Stack's default completion limit.",
    )
    replicas: int = parameter(
        1,
        ge=1,
        le=MAX_REPLICAS,
        pipeline="llama_stack_replicas",
        description="Llama Stack replicas.",
    )
    storage_size: str = parameter(
        "5Gi", pipeline="llama_stack_storage_size", description="Llama Stack's persistent volume."
    )
    timeout_seconds: int = parameter(
        900,
        ge=1,
        le=DAY,
        pipeline="llama_stack_timeout_seconds",
        description="how long to wait for Llama Stack.",
    )
    otlp_endpoint: str = parameter(
        "",
        pipeline="llama_stack_otlp_endpoint",
        description="an OpenTelemetry collector's OTLP/HTTP base URL (e.g. "
        "http://otel-collector.observability.svc:4318) that Llama Stack exports its traces and "
        "metrics to; empty exports none.",
    )
    # What Lightspeed will call once published: with "llama-stack" the stack admits Lightspeed.
    lightspeed_endpoint: LightspeedEndpoint
    access: StackAccess = Field(default_factory=lambda: StackAccess.model_validate({}))

    @model_validator(mode="after")
    def _a_token_for_vllm(self) -> StackRequest:
        if self.serving_auth and not self.vllm_token_secret:
            raise ValueError(
                "vllm_token_secret is empty while enable_auth is on: vLLM would refuse every "
                f"call of the stack; give the token Secret of an account that may get "
                f"InferenceServices ({MODEL_CLIENT_TOKEN_SECRET}, from manifests/pipeline-runner), "
                "or set enable_auth=false"
            )
        return self

    def deployment_name(self, target: Target) -> str:
        """This version's Llama Stack: ``<name>-<revision[:7]>`` on a cluster, where versions
        stand side by side (blue/green); the one local stack keeps its name."""
        return self.name if target is Target.LOCAL else versioned_name(self.name, self.revision)

    def clients(self, namespace: str, runner: str) -> StackClients:
        """Who may call the stack in ``namespace``, the pipeline running as ``runner``."""
        lightspeed = self.lightspeed_endpoint == "llama-stack"
        return self.access.clients(namespace, runner, lightspeed=lightspeed)

    def settings(self, namespace: str, runner: str) -> StackSettings:
        """The stack's settings in ``namespace``, the pipeline running as ``runner``; bad
        values in one ConfigurationError."""
        clients = self.clients(namespace, runner)
        return settings_from(
            clients=clients,
            name=self.deployment_name(Target.OPENSHIFT),
            namespace=namespace,
            vllm_url=self.serving_url,
            **vllm_access(self.serving_auth, self.vllm_token_secret),
            vllm_max_tokens=self.vllm_max_tokens,
            distribution_image=self.distribution_image,
            distribution_name=self.distribution_name,
            replicas=self.replicas,
            storage_size=self.storage_size,
            allowed_namespaces=network_clients(clients),
            otlp_endpoint=self.otlp_endpoint,
        )


def network_clients(clients: StackClients) -> tuple[str, ...]:
    """The namespaces the stack's NetworkPolicy admits: where its clients' pods run.

    Lightspeed's pods run in its operator's namespace, whatever service account its token
    belongs to; the runner's and the workbench's in their service accounts' namespaces. A
    policy admits a namespace whole: inside it, the token tells the clients apart.
    """
    found = [LIGHTSPEED_NAMESPACE] if clients.lightspeed else []
    found += [service_account_namespace(who) for who in (clients.pipeline, clients.workbench)]
    return tuple(dict.fromkeys(ns for ns in found if ns))


@dataclass(frozen=True)
class StackReport:
    url: str
    version: str
    model_id: str
    mcp_url: str = ""
    mcp_tools: list[str] = field(default_factory=list)
    caller: str = ""  # the principal the stack knows the pipeline's steps by

    def as_dict(self) -> dict[str, Any]:
        return {
            "llama_stack": {
                "url": self.url,
                "version": self.version,
                "model_id": self.model_id,
                "caller": self.caller,
            },
            "mcp": {"url": self.mcp_url, "tools": self.mcp_tools},
        }
