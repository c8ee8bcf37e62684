"""The Llama Stack stage's request and result: the step's parameters, declared once, and the
chain it proved.

Each field is a parameter of the ``deploy_llama_stack`` component, and (unless an earlier step
gives it) of the pipeline, under the pipeline's name where it differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict

from llama_rollout.k8s_types import DnsLabel, versioned_name
from llama_rollout.stack.settings import (
    DEFAULT_IMAGE,
    LIGHTSPEED_NAMESPACE,
    MAX_REPLICAS,
    MAX_TOKENS,
    StackSettings,
    settings_from,
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
LightspeedEndpoint = Annotated[
    Literal["llama-stack", "vllm"],
    parameter(
        "llama-stack",
        pipeline="lightspeed_endpoint",
        description="what Lightspeed talks to: ``llama-stack`` (Llama Stack's OpenAI-compatible "
        "/v1, the Llama Stack model id) or ``vllm`` (vLLM's /v1).",
    ),
]


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
        "", description="a Secret with key ``token`` when vLLM has auth on."
    )
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
    # What Lightspeed will call once published: with "llama-stack" the stack admits Lightspeed.
    lightspeed_endpoint: LightspeedEndpoint

    def deployment_name(self, target: Target) -> str:
        """This version's Llama Stack: ``<name>-<revision[:7]>`` on a cluster, where versions
        stand side by side (blue/green); the one local stack keeps its name."""
        return self.name if target is Target.LOCAL else versioned_name(self.name, self.revision)

    def settings(self, namespace: str) -> StackSettings:
        """The stack's settings in ``namespace``; bad values in one ConfigurationError."""
        admitted = (LIGHTSPEED_NAMESPACE,) if self.lightspeed_endpoint == "llama-stack" else ()
        return settings_from(
            name=self.deployment_name(Target.OPENSHIFT),
            namespace=namespace,
            vllm_url=self.serving_url,
            vllm_token_secret=self.vllm_token_secret,
            vllm_max_tokens=self.vllm_max_tokens,
            distribution_image=self.distribution_image,
            distribution_name=self.distribution_name,
            replicas=self.replicas,
            storage_size=self.storage_size,
            allowed_namespaces=admitted,
        )


@dataclass(frozen=True)
class StackReport:
    url: str
    version: str
    model_id: str
    mcp_url: str = ""
    mcp_tools: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "llama_stack": {"url": self.url, "version": self.version, "model_id": self.model_id},
            "mcp": {"url": self.mcp_url, "tools": self.mcp_tools},
        }
