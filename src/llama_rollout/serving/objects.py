"""The ServingRuntime and InferenceService, shaped as the OpenShift AI dashboard makes them.

Labels and annotations of the RHOAI ``vllm-cuda-runtime`` template, one runtime per
deployment, the data connection annotations and the Model Registry linkage labels: a
deployment made by the pipeline shows up in the dashboard like one made by hand.
"""

from __future__ import annotations

from typing import Any

from llama_rollout.network_policies import ingress_policy, namespace_peer, pods_peer
from llama_rollout.serving.settings import (
    AUTH_PORT,
    GPU_RESOURCE,
    ISVC_API,
    PORT,
    RUNTIME_API,
    TEMPLATE_DISPLAY_NAME,
    TEMPLATE_NAME,
    ServingSettings,
)
from llama_rollout.stack.settings import LIGHTSPEED_NAMESPACE


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


# KServe's label on the predictor's pods; the Llama Stack pods' of the operator and of the
# stack step's fallback Deployment; Kubeflow Pipelines' on every pod of a v2 run; the
# Lightspeed operator's on its app server (GenerateAppServerSelectorLabels).
PREDICTOR_LABEL = "serving.kserve.io/inferenceservice"
LLAMA_STACK_PODS = ({"app": "llama-stack"}, {"app.kubernetes.io/name": "llama-stack"})
PIPELINE_PODS = {"pipelines.kubeflow.org/v2_component": "true"}
LIGHTSPEED_PODS = {"app.kubernetes.io/name": "lightspeed-service-api"}


def network_policy_name(name: str) -> str:
    return f"{name}-clients"


def network_policy(settings: ServingSettings) -> dict[str, Any]:
    """Who reaches the model over the network: the Llama Stacks of its namespace, the
    pipeline's pods (the tool-calling check, lm-eval), and Lightspeed's app server when it
    calls vLLM straight. With auth on, only on the auth proxy's port, which checks each
    caller's token: vLLM's own port still listens in the pod, and a client that reached it
    there would pass no check. With auth off, on vLLM's port."""
    peers = [pods_peer(pods) for pods in LLAMA_STACK_PODS]
    peers += [namespace_peer(ns, PIPELINE_PODS) for ns in settings.pipeline_namespaces]
    if settings.lightspeed_calls:
        peers.append(namespace_peer(LIGHTSPEED_NAMESPACE, LIGHTSPEED_PODS))
    return ingress_policy(
        network_policy_name(settings.name),
        settings.namespace,
        labels={"app.kubernetes.io/part-of": "llama-rollout"},
        selects={PREDICTOR_LABEL: settings.name},
        peers=peers,
        ports=[AUTH_PORT] if settings.auth else [PORT],
    )


def predictor_url(settings: ServingSettings) -> str:
    """The predictor's in-cluster base URL (``/v1``), as KServe reports it in
    ``status.address.url`` for a RawDeployment: its Service on port 80, or, with auth on, on
    the auth proxy's https port (the Service's only one then)."""
    host = f"{settings.name}-predictor.{settings.namespace}.svc.cluster.local"
    return f"https://{host}:{AUTH_PORT}/v1" if settings.auth else f"http://{host}/v1"


def serving_objects(settings: ServingSettings) -> list[dict[str, Any]]:
    """Every object the serving stage applies, in apply order."""
    return [serving_runtime(settings), inference_service(settings), network_policy(settings)]


def owned_objects(name: str) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of everything the serving step makes for the deployment
    ``name``: its InferenceService, the ServingRuntime named after it, and its NetworkPolicy."""
    return [
        (ISVC_API, "InferenceService", name),
        (RUNTIME_API, "ServingRuntime", name),
        ("networking.k8s.io/v1", "NetworkPolicy", network_policy_name(name)),
    ]
