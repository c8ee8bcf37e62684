"""The Llama Stack stage's step, on either target: Llama Stack wired to the served model and to
the cluster-health MCP server, the chain proved.

``serve`` takes the step's parameters as a :class:`StackRequest` (exactly the component's
parameters) and the target: OpenShift AI gets the operator's LlamaStackDistribution or the
fallback Deployment (``openshift``), the embedded stack a ``llama stack run`` process
(``embedded``). Both end with the same chain checks (``health``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from llama_rollout.k8s_types import DnsLabel, versioned_name
from llama_rollout.stack.health import StackReport
from llama_rollout.stack.settings import (
    DEFAULT_IMAGE,
    LIGHTSPEED_NAMESPACE,
    StackSettings,
    settings_from,
)
from llama_rollout.targets import Target


class StackRequest(BaseModel):
    """The Llama Stack step's parameters, as the pipeline passes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serving_url: str
    serving_model: str
    revision: str
    mcp_url: str
    namespace: str = ""
    name: DnsLabel = "llama-stack"
    distribution_image: str = DEFAULT_IMAGE
    distribution_name: str = ""
    vllm_token_secret: str = ""
    vllm_max_tokens: int = 4096
    replicas: int = 1
    storage_size: str = "5Gi"
    timeout_seconds: int = 900
    # What Lightspeed will call once published: with "llama-stack" the stack admits Lightspeed.
    lightspeed_endpoint: Literal["llama-stack", "vllm"] = "llama-stack"

    def deployment_name(self, target: Target) -> str:
        """This version's Llama Stack: ``<name>-<revision[:7]>`` on a cluster, where versions
        stand side by side (blue/green); the one local stack keeps its name."""
        return self.name if target is Target.LOCAL else versioned_name(self.name, self.revision)

    def settings(self, namespace: str) -> StackSettings:
        """The stack's settings in ``namespace``; bad values in one ConfigurationError."""
        return settings_from(
            name=self.deployment_name(Target.OPENSHIFT), namespace=namespace, vllm_url=self.serving_url,
            vllm_token_secret=self.vllm_token_secret, vllm_max_tokens=self.vllm_max_tokens,
            distribution_image=self.distribution_image, distribution_name=self.distribution_name,
            replicas=self.replicas, storage_size=self.storage_size,
            allowed_namespaces=(LIGHTSPEED_NAMESPACE,) if self.lightspeed_endpoint == "llama-stack" else (),
        )  # fmt: skip


def serve(target: Target, request: StackRequest) -> StackReport:
    """Stand Llama Stack up on ``target`` and prove the chain to vLLM and MCP."""
    if target is Target.LOCAL:
        from llama_rollout.stack import embedded

        return embedded.serve(request)
    from llama_rollout.stack import openshift

    return openshift.serve(request)
