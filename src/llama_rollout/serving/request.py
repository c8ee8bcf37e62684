"""The serving stage's request and result: the step's parameters, declared once.

Each field is a parameter of the ``deploy_model_server`` component, and (unless an earlier
step gives it) of the pipeline: its type, default, bounds and description are here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.k8s_types import versioned_name
from llama_rollout.model_access import EnableAuth
from llama_rollout.registry.endpoint import RegistryReference
from llama_rollout.serving.settings import (
    DEFAULT_RUNTIME_IMAGE,
    LLAMA3_CHAT_TEMPLATE,
    LLAMA3_TOOL_PARSER,
    MAX_GPUS,
    MAX_MODEL_LEN,
    MAX_REPLICAS,
    ServingSettings,
    json_setting,
    settings_from,
)
from llama_rollout.stack.request import LightspeedEndpoint
from llama_rollout.step_parameters import DAY, parameter
from llama_rollout.targets import DeployNamespace
from llama_rollout.weights.connection import DataConnectionName

# JSON text, not a list: the compiler writes dict defaults in a different key order on every
# run, and text is what the dashboard's run form edits anyway.
GPU_TOLERATIONS = '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]'
# Parameters that later stages take too (evaluation and publishing read the served model).
MaxModelLen = Annotated[
    int,
    parameter(
        32768,
        ge=128,
        le=MAX_MODEL_LEN,
        pipeline="max_model_len",
        description="vLLM ``--max-model-len``, and the window Lightspeed's provider is "
        "published with: Lightspeed's own tools need a window this size (see the README's "
        "prompt budget). ``run --local`` serves 8192 on a CPU unless it is set.",
    ),
]
# The settings' fields that the request's fields of other names become (for error messages).
SETTING_FIELDS = {"name": "model_name", "extra_args": "extra_vllm_args", "auth": "enable_auth"}


class ServingRequest(BaseModel):
    """The serving step's parameters, as the pipeline passes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the earlier steps.
    model_name: str = parameter(
        description="the served model name; the InferenceService is ``<model>-<revision[:7]>``."
    )
    model_uri: str = parameter(description="the mirrored model (``s3://...``).")
    storage_path: str = parameter(description="the model's path in the data connection's bucket.")
    revision: str = parameter(
        description="the source revision (the local server is reused while it is unchanged)."
    )
    registered_model_id: str = parameter(
        description="registry id, on the InferenceService's labels."
    )
    model_version_id: str = parameter(description="registry id, on the InferenceService's labels.")
    # The pipeline's.
    data_connection: DataConnectionName
    registry: RegistryReference = Field(default_factory=RegistryReference)
    namespace: DeployNamespace
    runtime_image: str = parameter(
        DEFAULT_RUNTIME_IMAGE, description="the vLLM runtime image, pinned to a tag or digest."
    )
    gpu_count: int = parameter(
        1, ge=0, le=MAX_GPUS, description="GPUs per predictor replica (0 for none)."
    )
    tolerations: str = parameter(
        GPU_TOLERATIONS,
        description="predictor tolerations as JSON (the GPU node taint by default).",
    )
    node_selector: str = parameter("{}", description="predictor node selector as a JSON object.")
    max_model_len: MaxModelLen
    tool_call_parser: str = parameter(
        LLAMA3_TOOL_PARSER, description="vLLM ``--tool-call-parser``."
    )
    chat_template: str = parameter(
        LLAMA3_CHAT_TEMPLATE,
        description="vLLM ``--chat-template``: a file name in the runtime image's template "
        "folder (known for the OpenShift AI and Red Hat AI Inference Server images), or an "
        "absolute path inside the image.",
    )
    shm_size: str = parameter(
        "2Gi",
        description="the predictor's shared memory (/dev/shm); raise it for several GPUs.",
    )
    extra_vllm_args: list[str] = parameter(default_factory=list, description="more vLLM arguments.")
    min_replicas: int = parameter(
        1, ge=0, le=MAX_REPLICAS, description="predictor minimum replicas."
    )
    max_replicas: int = parameter(
        1, ge=1, le=MAX_REPLICAS, description="predictor maximum replicas."
    )
    enable_auth: EnableAuth
    # With "vllm", Lightspeed's app server calls the model straight: its NetworkPolicy admits it.
    lightspeed_endpoint: LightspeedEndpoint
    require_tool_calling: bool = parameter(
        True, description="fail when the tool-calling preflight fails."
    )
    timeout_seconds: int = parameter(
        1800,
        ge=1,
        le=DAY,
        pipeline="serving_timeout_seconds",
        description="how long to wait for the model server.",
    )

    @property
    def deployment_name(self) -> str:
        """The InferenceService of this version: ``<model>-<revision[:7]>`` (blue/green)."""
        return versioned_name(self.model_name, self.revision)

    def settings(self, namespace: str, pipeline_namespace: str) -> ServingSettings:
        """The deployment's settings in ``namespace``, for a pipeline whose pods run in
        ``pipeline_namespace``; bad values in one ConfigurationError."""
        return settings_from(
            pipeline_namespaces=(pipeline_namespace,) if pipeline_namespace else (),
            lightspeed_calls=self.lightspeed_endpoint == "vllm",
            name=self.deployment_name,
            served_model=self.model_name,
            namespace=namespace,
            runtime_image=self.runtime_image,
            storage_key=self.data_connection,
            storage_path=self.storage_path,
            gpu_count=self.gpu_count,
            tolerations=json_setting("tolerations", self.tolerations, list),
            node_selector=json_setting("node_selector", self.node_selector, dict),
            max_model_len=self.max_model_len,
            tool_call_parser=self.tool_call_parser,
            chat_template=self.chat_template,
            shm_size=self.shm_size,
            extra_args=tuple(self.extra_vllm_args),
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            auth=self.enable_auth,
            registered_model_id=self.registered_model_id,
            model_version_id=self.model_version_id,
            registry_name=self.registry.name,
            registry_namespace=self.registry.namespace,
        )


@dataclass(frozen=True)
class ServedModel:
    """Where the model answers: an OpenAI-compatible base URL (``.../v1``) and its name."""

    url: str
    model: str
    name: str = ""  # what serves it: the InferenceService, or the local server's model
