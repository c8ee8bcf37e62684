"""vLLM on KServe: typed settings, the ServingRuntime and InferenceService, and readiness.

The objects follow the conventions of the OpenShift AI dashboard (labels and annotations of the
RHOAI ``vllm-cuda-runtime`` template, data connection annotations, Model Registry linkage
labels), so a deployment made by the pipeline shows up in the dashboard like one made by hand.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llama_rollout.k8s_types import DnsLabel, LabelValue, ModelName, PinnedImage, Quantity
from llama_rollout.kube import Kube, Patience, Readiness, explain_pods

if TYPE_CHECKING:
    from llama_rollout.registry_endpoint import RegistryEndpoint

logger = logging.getLogger(__name__)

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

    name: ModelName = Field(description="InferenceService name; also the served model name")
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
    max_model_len: int = Field(default=8192, ge=128)
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
        return self.name

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
    from pydantic import ValidationError

    from llama_rollout.errors import invalid_settings

    try:
        return ServingSettings(**values)
    except ValidationError as exc:
        raise invalid_settings("serving settings", exc) from exc


def json_setting(name: str, text: str, kind: type) -> Any:
    """Parse a JSON-valued parameter (tolerations, node selector), naming it when it is bad."""
    import json

    from llama_rollout.errors import ConfigurationError

    try:
        value = json.loads(text or ("[]" if kind is list else "{}"))
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{name} must be a JSON {'array' if kind is list else 'object'}, got {text!r}"
        )
    return value


def serving_runtime(settings: ServingSettings) -> dict[str, Any]:
    """The deployment's own vLLM ServingRuntime, as the dashboard makes it from its template."""
    return {
        "apiVersion": RUNTIME_API,
        "kind": "ServingRuntime",
        "metadata": {
            "name": settings.runtime_name,
            "namespace": settings.namespace,
            "labels": {"opendatahub.io/dashboard": "true"},
            "annotations": {
                "openshift.io/display-name": TEMPLATE_DISPLAY_NAME,
                "opendatahub.io/recommended-accelerators": f'["{GPU_RESOURCE}"]',
                "opendatahub.io/apiProtocol": "REST",
                "opendatahub.io/template-name": TEMPLATE_NAME,
                "opendatahub.io/template-display-name": TEMPLATE_DISPLAY_NAME,
                "opendatahub.io/serving-runtime-scope": "global",
            },
        },
        "spec": {
            "annotations": {
                # odh-model-controller keys the dashboard's metrics on this one.
                "opendatahub.io/kserve-runtime": "vllm",
                "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics",
            },
            "multiModel": False,
            "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": settings.runtime_image,
                    "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
                    "args": [
                        f"--port={PORT}",
                        "--model=/mnt/models",
                        "--served-model-name={{.Name}}",
                    ],
                    "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],  # noqa: S108 - in the pod, as the RHOAI template
                    "ports": [{"containerPort": PORT, "protocol": "TCP"}],
                    "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],  # noqa: S108 - in the pod
                }
            ],
            "volumes": [
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size}}
            ],
        },
    }


def inference_service(settings: ServingSettings) -> dict[str, Any]:
    """The InferenceService serving the mirrored model with the vLLM runtime."""
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
        "limits": {"cpu": settings.cpu_limit, "memory": settings.memory_limit},
    }
    if settings.gpu_count:
        resources["requests"][GPU_RESOURCE] = str(settings.gpu_count)
        resources["limits"][GPU_RESOURCE] = str(settings.gpu_count)
    model: dict[str, Any] = {
        "modelFormat": {"name": "vLLM"},
        "runtime": settings.runtime_name,
        "args": settings.vllm_args(),
        "resources": resources,
    }
    annotations = {
        "openshift.io/display-name": settings.display_name or settings.name,
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "opendatahub.io/model-type": "generative",
        "security.opendatahub.io/enable-auth": "true" if settings.auth else "false",
    }
    if settings.storage_key:
        model["storage"] = {"key": settings.storage_key, "path": settings.storage_path}
        annotations["opendatahub.io/connections"] = settings.storage_key
        annotations["opendatahub.io/connection-path"] = settings.storage_path
    else:
        model["storageUri"] = settings.storage_uri
    labels = {"opendatahub.io/dashboard": "true"}
    if settings.genai_asset:
        labels["opendatahub.io/genai-asset"] = "true"
    for label, value in (
        ("modelregistry.opendatahub.io/registered-model-id", settings.registered_model_id),
        ("modelregistry.opendatahub.io/model-version-id", settings.model_version_id),
        ("modelregistry.opendatahub.io/name", settings.registry_name),
        (
            "modelregistry.opendatahub.io/namespace",
            settings.registry_namespace if settings.registry_name else "",
        ),
    ):
        if value:
            labels[label] = value
    predictor: dict[str, Any] = {
        "minReplicas": settings.min_replicas,
        "maxReplicas": settings.max_replicas,
        "model": model,
    }
    if settings.tolerations and settings.gpu_count:
        predictor["tolerations"] = [t.manifest() for t in settings.tolerations]
    if settings.node_selector:
        predictor["nodeSelector"] = dict(settings.node_selector)
    if settings.service_account:
        predictor["serviceAccountName"] = settings.service_account
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


def serving_objects(settings: ServingSettings) -> list[dict[str, Any]]:
    """Every object the serving stage applies, in apply order."""
    return [serving_runtime(settings), inference_service(settings)]


def isvc_readiness(obj: dict[str, Any] | None) -> Readiness:
    """Read an InferenceService's status: ready, failed to load, or what it is waiting for."""
    if obj is None:
        return Readiness(state="not created yet")
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    model_status = status.get("modelStatus") or {}
    states = model_status.get("states") or {}
    active = states.get("activeModelState", "")
    transition = model_status.get("transitionStatus", "")
    if active == "FailedToLoad" or transition in ("BlockedByFailedLoad", "InvalidSpec"):
        info = model_status.get("lastFailureInfo") or {}
        detail = ": ".join(x for x in (info.get("reason"), info.get("message")) if x)
        return Readiness(
            failure=f"the model failed to load ({transition or active}){': ' + detail if detail else ''}"
        )
    ready = conditions.get("Ready", {})
    generation = (obj.get("metadata") or {}).get("generation", 0)
    # A status the controller wrote for an older generation says nothing of this one.
    observed = status.get("observedGeneration", 0)
    if ready.get("status") == "True" and observed >= generation and active in ("", "Loaded"):
        return Readiness(ready=True, state="Ready")
    parts = [f"Ready={ready.get('status', 'Unknown')}"]
    if ready.get("reason") or ready.get("message"):
        parts.append(f"({ready.get('reason', '')}: {ready.get('message', '')})")
    if active or transition:
        parts.append(f"model {active or '?'}/{transition or '?'}")
    if observed < generation:
        parts.append(f"controller has not seen generation {generation} yet")
    return Readiness(state=" ".join(parts))


def isvc_url(obj: dict[str, Any]) -> str:
    """The in-cluster URL of a ready InferenceService (``status.address.url``, else ``url``)."""
    status = obj.get("status") or {}
    return ((status.get("address") or {}).get("url") or status.get("url") or "").rstrip("/")


# vLLM's start-up error when --chat-template names no file (vllm/renderers/chat_utils.py).
MISSING_TEMPLATE = "looks like a file path, but it failed to be opened"


def check_inference_service(
    kube: Kube, settings: ServingSettings, patience: Patience | None = None
) -> Readiness:
    """One look at an InferenceService and its predictor pods."""
    name, namespace = settings.name, settings.namespace
    readiness = isvc_readiness(kube.get(ISVC_API, "InferenceService", name, namespace))
    if readiness.ready or readiness.failure:
        return readiness
    labels = {"serving.kserve.io/inferenceservice": name}
    readiness = explain_pods(kube, namespace, labels, readiness, patience or Patience(0))
    if readiness.failure and MISSING_TEMPLATE in readiness.failure:
        return Readiness(
            failure=f"{readiness.failure}. The runtime image {settings.runtime_image} has no "
            f"chat template at {settings.chat_template_path}: set chat_template to the template's "
            "absolute path in that image (OpenShift AI 2.x images keep them in "
            "/app/data/template, Red Hat AI Inference Server 3.x in /opt/app-root/template)",
            state=readiness.state,
        )
    return readiness


def deploy(
    kube: Kube,
    settings: ServingSettings,
    *,
    timeout: float = 1800,
    interval: float = 10,
    unschedulable_grace: float = UNSCHEDULABLE_GRACE,
) -> str:
    """Apply the runtime and InferenceService, wait until it serves, return its URL.

    Everything is checked before the first object is applied: the namespace exists and the
    cluster serves both kinds. Readiness failures are explained (see ``kube.wait_until``); a
    predictor pod that cannot be scheduled fails the wait after ``unschedulable_grace`` seconds,
    which leaves a cluster autoscaler time to add a GPU node.
    """
    from llama_rollout.data_connection import check_connection_secret
    from llama_rollout.kube import wait_until

    kube.require_namespace(settings.namespace)
    kube.resource(RUNTIME_API, "ServingRuntime")
    kube.resource(ISVC_API, "InferenceService")
    if settings.storage_key:
        check_connection_secret(kube, settings.storage_key, settings.namespace)
    for obj in serving_objects(settings):
        kube.apply(obj)
        logger.info("applied %s %s/%s", obj["kind"], settings.namespace, obj["metadata"]["name"])
    seen: list[str] = []

    def log_state(state: str) -> None:
        if not seen or seen[-1] != state:
            seen.append(state)
            logger.info("InferenceService %s/%s: %s", settings.namespace, settings.name, state)

    patience = Patience(unschedulable_grace)
    wait_until(
        lambda: check_inference_service(kube, settings, patience),
        what=f"InferenceService {settings.namespace}/{settings.name}",
        timeout=timeout,
        interval=interval,
        on_state=log_state,
    )
    obj = kube.get(ISVC_API, "InferenceService", settings.name, settings.namespace) or {}
    return isvc_url(obj)


def serve_on_openshift(
    settings: ServingSettings,
    *,
    model_uri: str,
    registry: RegistryEndpoint | None,
    require_tool_calling: bool = True,
    timeout: float = 1800,
    interval: float = 10,
    controller_grace: float = CONTROLLER_GRACE,
    kube: Kube | None = None,
) -> tuple[str, str]:
    """The cluster's serving step: check, deploy, preflight, record. Returns (URL, model).

    Args:
        settings: the serving settings (storage from the mirror, registry ids for the labels).
        model_uri: the mirrored model; it must have its manifest.
        registry: the Model Registry the deployment is recorded in (None: not recorded).
        require_tool_calling: fail the step when the tool-calling preflight fails.
        timeout: seconds to wait for the InferenceService.
        interval: seconds between readiness checks.
        controller_grace: seconds to wait for odh-model-controller to record the deployment.
        kube: the cluster (default: in-cluster or kubeconfig).
    """
    from llama_rollout import storage, tool_calling
    from llama_rollout.data_connection import DataConnection
    from llama_rollout.kube import api_client
    from llama_rollout.registry_endpoint import service_account_token

    if settings.storage_key:
        storage.read_manifest(DataConnection.from_env(name=settings.storage_key), model_uri)
    kube = kube or Kube(api_client())
    url = deploy(kube, settings, timeout=timeout, interval=interval)
    base_url = f"{url}/v1"
    token = service_account_token() if settings.auth else None  # the runner's token has access
    tool_calling.preflight(
        base_url, settings.served_model_name, strict=require_tool_calling, api_key=token
    )
    if registry is not None and settings.registered_model_id:
        record_in_registry(kube, settings, registry, grace=controller_grace, interval=interval)
    return base_url, settings.served_model_name


def record_in_registry(
    kube: Kube,
    settings: ServingSettings,
    registry: RegistryEndpoint,
    *,
    grace: float,
    interval: float,
) -> str:
    """Record the deployment in the registry, unless odh-model-controller does; its record id.

    With a managed registry, odh-model-controller's InferenceService controller finds the
    registry by the linkage labels, creates the record ``<isvc>/<uid>``, labels the
    InferenceService with its id, and marks it UNDEPLOYED when the InferenceService is deleted.
    A record of the step's own would be a second one that stays DEPLOYED. So where the
    controller could be at work (the ModelRegistry kind is served and the labels name a
    registry), the step waits for its label, and records the deployment itself only when
    none comes, under the name the controller would give it, so that the controller adopts it.
    """
    from llama_rollout.registry import record_deployment
    from llama_rollout.registry_endpoint import MODEL_REGISTRY_API

    if settings.registry_name and kube.serves(MODEL_REGISTRY_API, "ModelRegistry"):
        deadline = time.monotonic() + grace
        while True:
            obj = kube.get(ISVC_API, "InferenceService", settings.name, settings.namespace) or {}
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if record_id := labels.get(CONTROLLER_RECORD_LABEL):
                logger.info(
                    "odh-model-controller recorded the deployment in the registry (inference "
                    "service id %s)", record_id,
                )  # fmt: skip
                return record_id
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        logger.info(
            "no record from odh-model-controller after %.0fs (is the registry integration of "
            "KServe off?): recording the deployment from this step", grace,
        )  # fmt: skip
    uid = (
        (kube.get(ISVC_API, "InferenceService", settings.name, settings.namespace) or {}).get(
            "metadata"
        )
        or {}
    ).get("uid", "")
    record = record_deployment(
        registry,
        serving_environment=settings.namespace,
        name=f"{settings.name}/{uid}" if uid else settings.name,
        registered_model_id=settings.registered_model_id,
        model_version_id=settings.model_version_id,
        runtime=settings.runtime_name,
    )
    return record.inference_service_id
