"""What decides a deployment: typed serving settings, checked before anything is built.

Defaults follow the OpenShift AI dashboard and its vLLM CUDA runtime template, with the
evidence beside each.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llama_rollout.errors import ConfigurationError, invalid_settings, quoted
from llama_rollout.k8s_types import (
    DeploymentName,
    DnsLabel,
    LabelValue,
    NodeSelector,
    PinnedImage,
    Quantity,
    model_name_problem,
)
from llama_rollout.serving.tolerations import Toleration, TolerationEffect

ISVC_API = "serving.kserve.io/v1beta1"
RUNTIME_API = "serving.kserve.io/v1alpha1"
GPU_RESOURCE = "nvidia.com/gpu"
PORT = 8080
AUTH_PORT = 8443  # kube-rbac-proxy's, in front of vLLM when auth is on
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
# vLLM flags that carry a secret: a pipeline parameter is no place for one (it is in the run's
# record, the pipeline's YAML and the ServingRuntime for anyone who can read them).
SECRET_VLLM_FLAGS = {
    "--api-key": "set enable_auth=true instead (render: auth=true): the endpoint then takes "
    "service account tokens, and Llama Stack's comes from the Secret vllm_token_secret names",
    "--hf-token": "the model is read from the mirror, not from the hub",
}
_TEMPLATE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.jinja$")
# vLLM's parser names: llama3_json, pythonic, hermes, granite-20b-fc, ...
_TOOL_PARSER = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_GPUS = 16
MAX_MODEL_LEN = 10_485_760
MAX_REPLICAS = 100


class ServingSettings(BaseModel):
    """Everything that decides the ServingRuntime and InferenceService."""

    # A value is quoted, cut and redacted by the messages; the exception chained below them
    # (a step's traceback) shows none.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: DeploymentName = Field(description="InferenceService name")
    # Checked after the fields: the pipeline's is the model name the InferenceService's name
    # is made of, whose problems that name's reports, once.
    served_model: str | None = Field(
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
    gpu_count: int = Field(default=1, ge=0, le=MAX_GPUS)
    cpu_request: Quantity = "2"
    memory_request: Quantity = "16Gi"
    cpu_limit: Quantity = "8"
    memory_limit: Quantity = "24Gi"
    tolerations: tuple[Toleration, ...] = (
        Toleration(key=GPU_RESOURCE, operator="Exists", effect=TolerationEffect.NO_SCHEDULE),
    )
    node_selector: NodeSelector = Field(default_factory=dict)
    # Shared memory for vLLM's workers (NCCL between GPUs): the dashboard's 2Gi by default.
    shm_size: Quantity = "2Gi"
    max_model_len: int = Field(default=32768, ge=128, le=MAX_MODEL_LEN)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enable_auto_tool_choice: bool = True
    tool_call_parser: str = LLAMA3_TOOL_PARSER
    chat_template: str = Field(
        default=LLAMA3_CHAT_TEMPLATE,
        description="a file name in the runtime image's template folder, or an absolute path",
    )
    extra_args: tuple[str, ...] = ()
    genai_asset: bool = Field(default=True, description="list it in the Gen AI playground (3.x)")
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    auth: bool = True
    # Who reaches vLLM over the network (objects.network_policy): the Llama Stacks of its
    # namespace, always; the pipeline's pods from these namespaces; Lightspeed's, when it calls
    # vLLM straight.
    pipeline_namespaces: tuple[DnsLabel, ...] = ()
    lightspeed_calls: bool = False
    registered_model_id: LabelValue = ""
    model_version_id: LabelValue = ""
    registry_name: LabelValue = ""
    registry_namespace: LabelValue = ""

    @field_validator("tool_call_parser")
    @classmethod
    def _parser_name(cls, value: str) -> str:
        if not _TOOL_PARSER.fullmatch(value):
            raise ValueError(
                f"{quoted(value)} is not a vLLM tool-call parser name: give one of vLLM's "
                "--tool-call-parser names, e.g. llama3_json, pythonic or hermes"
            )
        return value

    @field_validator("storage_path")
    @classmethod
    def _a_prefix_in_the_bucket(cls, value: str) -> str:
        segments = value.removesuffix("/").split("/")
        if value and (
            len(value) > 1024
            or not value.isprintable()
            or any(c.isspace() for c in value)
            or any(s in ("", ".", "..") for s in segments)
        ):
            raise ValueError(
                f"{quoted(value)} is not a prefix in the bucket (no '..', '.' or empty segments, "
                "no leading '/', no spaces): give the mirrored model's, e.g. models/NAME/REVISION"
            )
        return value

    @field_validator("chat_template")
    @classmethod
    def _template_in_the_image(cls, value: str) -> str:
        absolute = value.startswith("/") and ".." not in value.split("/") and value.isprintable()
        if not (absolute and " " not in value) and not _TEMPLATE_FILE.fullmatch(value):
            raise ValueError(
                f"{quoted(value)} is neither a template file name (NAME.jinja) nor an absolute path "
                "without '..' inside the runtime image: give one of the two"
            )
        return value

    @field_validator("extra_args")
    @classmethod
    def _args_the_settings_do_not_own(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number, arg in enumerate(value, 1):
            if problem := _vllm_argument_problem(arg):
                raise ValueError(f"extra vLLM argument {number} {problem}")
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
            raise ValueError(f"unsupported storage_uri {quoted(self.storage_uri)}")
        if self.served_model is not None and (problem := model_name_problem(self.served_model)):
            raise ValueError(f"the served model name {problem}")
        if self.enable_auto_tool_choice and self.chat_template_path is None:
            raise ValueError(
                f"chat_template {quoted(self.chat_template)} is a file name, and where "
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


def _vllm_argument_problem(arg: str) -> str | None:
    """What is wrong with one extra vLLM argument (said after "extra vLLM argument N"), or
    None. A flag is never quoted past its name: what follows it may be a secret."""
    # vLLM reads --max_model_len as --max-model-len, and argparse takes an unambiguous prefix.
    flag = re.split(r"[=\s]", arg.strip(), maxsplit=1)[0]
    flag = "--" + flag[2:].replace("_", "-") if flag.startswith("--") else flag
    for secret, why in SECRET_VLLM_FLAGS.items():
        if len(flag) > 3 and secret.startswith(flag):
            return f"{quoted(flag, 40)} would keep a secret in a pipeline parameter: {why}"
    owned = [o for o in OWNED_VLLM_FLAGS if o == flag or (len(flag) > 3 and o.startswith(flag))]
    if owned:
        name = flag if flag in owned else f"{quoted(flag, 40)} (short for {owned[0]})"
        return f"{name} is set by {OWNED_VLLM_FLAGS[owned[0]]}: change that instead"
    if not arg.strip():
        return "is empty: leave it out, or give a vLLM flag such as --enable-prefix-caching"
    if not arg.isprintable():
        return f"{quoted(arg, 40)} has a control character: give one flag or value per item"
    if "$(" in arg:
        # The kubelet expands $(VAR) in container args.
        return f"{quoted(arg, 40)} has '$(', which Kubernetes expands: leave it out"
    return None


def settings_from(**values: Any) -> ServingSettings:
    """Build settings from parameters; bad values raise one ConfigurationError naming them all."""
    try:
        return ServingSettings(**values)
    except ValidationError as exc:
        raise invalid_settings("serving settings", exc) from exc


def _pairs_once(name: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(items)
        if len(value) < len(items):
            counts = Counter(key for key, _ in items)
            twice = next(key for key, _ in items if counts[key] > 1)
            raise ConfigurationError(
                f"{name}: the key {quoted(twice, 40)} is given twice in one object (JSON "
                "would keep the last silently)",
                hint="give each key once",
            )
        return value

    return pairs


def json_setting(name: str, text: str, kind: type) -> Any:
    """Parse a JSON-valued parameter (tolerations, node selector), naming it when it is bad."""
    try:
        value = json.loads(
            text or ("[]" if kind is list else "{}"), object_pairs_hook=_pairs_once(name)
        )
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigurationError(
            f"{name} is nested too deeply to be {'tolerations' if kind is list else 'labels'}",
            hint="give a JSON " + ("array of objects" if kind is list else "object of strings"),
        ) from None
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{name} must be a JSON {'array' if kind is list else 'object'}, got {quoted(text)}"
        )
    return value
