"""The serving stage's step, on either target: vLLM serving the registered model version.

``serve`` takes the step's parameters as a :class:`ServingRequest` (exactly the component's
parameters) and the target; OpenShift AI gets a KServe InferenceService (``openshift``), the
embedded stack a vLLM process fed from its S3 (``embedded``). Both end with the tool-calling
preflight and the deployment's record in the Model Registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.k8s_types import versioned_name
from llama_rollout.registry.endpoint import DEFAULT_REGISTRIES_NAMESPACE
from llama_rollout.serving.settings import (
    DEFAULT_RUNTIME_IMAGE,
    LLAMA3_CHAT_TEMPLATE,
    LLAMA3_TOOL_PARSER,
    ServingSettings,
    json_setting,
    settings_from,
)
from llama_rollout.targets import Target


class ServingRequest(BaseModel):
    """The serving step's parameters, as the pipeline passes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str
    model_uri: str
    storage_path: str
    revision: str
    data_connection: str
    registered_model_id: str = ""
    model_version_id: str = ""
    registry_url: str = ""
    registry_name: str = ""
    registry_namespace: str = DEFAULT_REGISTRIES_NAMESPACE
    namespace: str = ""
    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    gpu_count: int = 1
    tolerations: str = "[]"
    node_selector: str = "{}"
    max_model_len: int = 32768
    tool_call_parser: str = LLAMA3_TOOL_PARSER
    chat_template: str = LLAMA3_CHAT_TEMPLATE
    shm_size: str = "2Gi"
    extra_vllm_args: list[str] = Field(default_factory=list)
    min_replicas: int = 1
    max_replicas: int = 1
    enable_auth: bool = False
    require_tool_calling: bool = True
    timeout_seconds: int = 1800

    @property
    def deployment_name(self) -> str:
        """The InferenceService of this version: ``<model>-<revision[:7]>`` (blue/green)."""
        return versioned_name(self.model_name, self.revision)

    def settings(self, namespace: str) -> ServingSettings:
        """The deployment's settings in ``namespace``; bad values in one ConfigurationError."""
        return settings_from(
            name=self.deployment_name, served_model=self.model_name, namespace=namespace, runtime_image=self.runtime_image,
            storage_key=self.data_connection, storage_path=self.storage_path,
            gpu_count=self.gpu_count, tolerations=json_setting("tolerations", self.tolerations, list),
            node_selector=json_setting("node_selector", self.node_selector, dict),
            max_model_len=self.max_model_len, tool_call_parser=self.tool_call_parser,
            chat_template=self.chat_template, shm_size=self.shm_size,
            extra_args=tuple(self.extra_vllm_args), min_replicas=self.min_replicas,
            max_replicas=self.max_replicas, auth=self.enable_auth,
            registered_model_id=self.registered_model_id, model_version_id=self.model_version_id,
            registry_name=self.registry_name, registry_namespace=self.registry_namespace,
        )  # fmt: skip


@dataclass(frozen=True)
class ServedModel:
    """Where the model answers: an OpenAI-compatible base URL (``.../v1``) and its name."""

    url: str
    model: str
    name: str = ""  # what serves it: the InferenceService, or the local server's model


def serve(target: Target, request: ServingRequest) -> ServedModel:
    """Serve the model version on ``target``; its endpoint once it answers tool calls."""
    if target is Target.LOCAL:
        from llama_rollout.serving import embedded

        return embedded.serve(request)
    from llama_rollout.serving import openshift

    return openshift.serve(request)
