"""What decides a deployment: typed serving settings, checked before anything is built.

Defaults follow the OpenShift AI dashboard and its vLLM CUDA runtime template, with the
evidence beside each.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llama_rollout.errors import ConfigurationError, invalid_settings
from llama_rollout.k8s_types import (
    DeploymentName,
    DnsLabel,
    LabelValue,
    ModelName,
    PinnedImage,
    Quantity,
)

ISVC_API = "serving.kserve.io/v1beta1"
RUNTIME_API = "serving.kserve.io/v1alpha1"
GPU_RESOURCE = "nvidia.com/gpu"
PORT = 8080
# The image of OpenShift AI 3.3.5's vLLM CUDA runtime (Red Hat AI Inference Server), by digest:
# the `vllm-cuda-image` the rhods-operator CSV of that release sets (RHOAI-Build-Config f5fd3889).
DEFAULT_RUNTIME_IMAGE = (
    "registry.redhat.io/rhaiis/vllm-cuda-rhel9"
    "@sha256:e6a64e3e4de7c7f585601379ecea204d2d045bb113331edd4b3799f52b8e92b7"
)
# Where each family of vLLM images keeps vLLM's examples/*.jinja. vLLM exits at start-up when
# --chat-template names a missing file, so a template given by file name is looked up here.
# RHOAI 2.x images (opendatahub-io/vllm Dockerfile.ubi: COPY examples/*.jinja /app/data/template/);
# Red Hat AI Inference Server 3.x (the OpenShift AI docs, 2026-01: /opt/app-root/template).
TEMPLATE_FOLDERS = {
    "registry.redhat.io/rhaiis/": "/opt/app-root/template",
    "registry.redhat.io/rhaii/": "/opt/app-root/template",
    "registry.redhat.io/rhoai/odh-vllm-": "/app/data/template",
    "quay.io/modh/vllm": "/app/data/template",
    "quay.io/opendatahub/vllm": "/app/data/template",
}
# Tool calling for Llama 3.1, 3.2 and 3.3: vLLM's `llama3_json` parser with its JSON template.
# vLLM's docs recommend `pythonic` for 3.2 1B/3B, but that format is not what 3.1 and 3.3 (70B)
# were trained on, and one default must serve the whole family the project deploys; the
# evaluation stage measures the choice per model, and `tool_call_parser`/`chat_template` switch
# it (pythonic: tool_chat_template_llama3.2_pythonic.jinja).
LLAMA3_TOOL_PARSER = "llama3_json"
LLAMA3_CHAT_TEMPLATE = "tool_chat_template_llama3.2_json.jinja"
UNSCHEDULABLE_GRACE = 300.0
# How long odh-model-controller gets to record a deployment in the registry itself.
CONTROLLER_GRACE = 120.0
CONTROLLER_RECORD_LABEL = "modelregistry.opendatahub.io/inference-service-id"
# What the dashboard's template says of the runtime (odh-model-controller
# config/runtimes/vllm-cuda-template.yaml); one ServingRuntime per deployment copies it.
TEMPLATE_NAME = "vllm-cuda-runtime-template"
TEMPLATE_DISPLAY_NAME = "vLLM NVIDIA GPU ServingRuntime for KServe"
# vLLM flags these settings (or the runtime) set: one given again in extra_args would win
# silently on some vLLM versions and fail on others, so it is refused with the setting to use.
OWNED_VLLM_FLAGS = {
    "--model": "the runtime (the mirrored model)",
    "--served-model-name": "the runtime (the model name)",
    "--port": "the runtime",
    "--host": "the runtime",
    "--max-model-len": "max_model_len",
    "--gpu-memory-utilization": "gpu_memory_utilization",
    "--tensor-parallel-size": "gpu_count",
    "-tp": "gpu_count",
    "--enable-auto-tool-choice": "tool_call_parser",
    "--tool-call-parser": "tool_call_parser",
    "--chat-template": "chat_template",
}
_TEMPLATE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.jinja$")
_TOOL_PARSER = re.compile(r"^[a-z][a-z0-9_]*$")


class TolerationEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(BaseModel):
    """A pod toleration (the GPU node taint is usually ``nvidia.com/gpu:NoSchedule``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Exists"
    value: str | None = None
    effect: TolerationEffect | None = None

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists cannot have a value")
        return self

    def manifest(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(exclude_none=True).items()}


class ServingSettings(BaseModel):
    """Everything that decides the ServingRuntime and InferenceService."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: DeploymentName = Field(description="InferenceService name")
    served_model: ModelName | None = Field(
        default=None, description="the served model name (default: the InferenceService's)"
    )
    namespace: DnsLabel
    display_name: str = ""
    runtime_image: PinnedImage = DEFAULT_RUNTIME_IMAGE
    # Where the model is: a data connection Secret and the path in its bucket, or a URI read
    # with the service account's credentials.
    storage_key: str = ""
    storage_path: str = ""
    storage_uri: str = ""
    service_account: str = ""
    gpu_count: int = Field(default=1, ge=0)
    cpu_request: Quantity = "2"
    memory_request: Quantity = "16Gi"
    cpu_limit: Quantity = "8"
    memory_limit: Quantity = "24Gi"
    tolerations: tuple[Toleration, ...] = (
        Toleration(key=GPU_RESOURCE, operator="Exists", effect=TolerationEffect.NO_SCHEDULE),
    )
    node_selector: dict[str, str] = Field(default_factory=dict)
    # Shared memory for vLLM's workers (NCCL between GPUs): the dashboard's 2Gi by default.
    shm_size: Quantity = "2Gi"
    max_model_len: int = Field(default=32768, ge=128)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enable_auto_tool_choice: bool = True
    tool_call_parser: str = LLAMA3_TOOL_PARSER
    chat_template: str = Field(
        default=LLAMA3_CHAT_TEMPLATE,
        description="a file name in the runtime image's template folder, or an absolute path",
    )
    extra_args: tuple[str, ...] = ()
    genai_asset: bool = Field(default=True, description="list it in the Gen AI playground (3.x)")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    auth: bool = False
    registered_model_id: LabelValue = ""
    model_version_id: LabelValue = ""
    registry_name: LabelValue = ""
    registry_namespace: LabelValue = ""

    @field_validator("tool_call_parser")
    @classmethod
    def _parser_name(cls, value: str) -> str:
        if not _TOOL_PARSER.match(value):
            raise ValueError(f"{value!r} is not a vLLM tool-call parser name (e.g. llama3_json)")
        return value

    @field_validator("chat_template")
    @classmethod
    def _template_in_the_image(cls, value: str) -> str:
        absolute = value.startswith("/") and ".." not in value.split("/") and value.isprintable()
        if not (absolute and " " not in value) and not _TEMPLATE_FILE.match(value):
            raise ValueError(
                f"{value!r} is neither a template file name (NAME.jinja) nor an absolute path "
                "without '..' inside the runtime image"
            )
        return value

    @field_validator("extra_args")
    @classmethod
    def _args_the_settings_do_not_own(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arg in value:
            if not arg.isprintable():
                raise ValueError(f"extra vLLM argument {arg!r} has a control character")
            if "$(" in arg:
                # The kubelet expands $(VAR) in container args.
                raise ValueError(f"extra vLLM argument {arg!r} has '$(', which Kubernetes expands")
            flag = arg.split("=", 1)[0]
            if flag in OWNED_VLLM_FLAGS:
                raise ValueError(
                    f"extra vLLM argument {flag} is set by {OWNED_VLLM_FLAGS[flag]}: "
                    "change that instead"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServingSettings:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        if bool(self.storage_uri) == bool(self.storage_key):
            raise ValueError(
                "give either storage_key (+ storage_path), the data connection, or storage_uri"
            )
        if self.storage_key and not self.storage_path:
            raise ValueError(
                "storage_path is required with storage_key: the mirrored model's prefix"
            )
        if self.storage_uri and not self.storage_uri.startswith(
            ("s3://", "pvc://", "oci://", "hf://", "gs://", "https://")
        ):
            raise ValueError(f"unsupported storage_uri {self.storage_uri!r}")
        if self.enable_auto_tool_choice and self.chat_template_path is None:
            raise ValueError(
                f"chat_template {self.chat_template!r} is a file name, and where "
                f"{self.runtime_image} keeps vLLM's templates is not known: give its absolute "
                "path in the image"
            )
        return self

    @property
    def served_model_name(self) -> str:
        return self.served_model or self.name

    @property
    def runtime_name(self) -> str:
        """One ServingRuntime per deployment, named after it, as the dashboard makes them:
        deleting the deployment there deletes the runtime it names."""
        return self.name

    @property
    def chat_template_path(self) -> str | None:
        """The template's path inside the runtime image, or None when it cannot be known."""
        if self.chat_template.startswith("/"):
            return self.chat_template
        folder = next(
            (f for prefix, f in TEMPLATE_FOLDERS.items() if self.runtime_image.startswith(prefix)),
            None,
        )
        return f"{folder}/{self.chat_template}" if folder else None

    def vllm_args(self) -> list[str]:
        """The vLLM arguments the InferenceService adds to the runtime's."""
        args = [
            f"--max-model-len={self.max_model_len}",
            f"--gpu-memory-utilization={self.gpu_memory_utilization}",
        ]
        if self.gpu_count > 1:
            args.append(f"--tensor-parallel-size={self.gpu_count}")
        if self.enable_auto_tool_choice:
            args += [
                "--enable-auto-tool-choice",
                f"--tool-call-parser={self.tool_call_parser}",
                f"--chat-template={self.chat_template_path}",
            ]
        return args + list(self.extra_args)


def settings_from(**values: Any) -> ServingSettings:
    """Build settings from parameters; bad values raise one ConfigurationError naming them all."""
    try:
        return ServingSettings(**values)
    except ValidationError as exc:
        raise invalid_settings("serving settings", exc) from exc


def json_setting(name: str, text: str, kind: type) -> Any:
    """Parse a JSON-valued parameter (tolerations, node selector), naming it when it is bad."""
    try:
        value = json.loads(text or ("[]" if kind is list else "{}"))
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{name} must be a JSON {'array' if kind is list else 'object'}, got {text!r}"
        )
    return value
