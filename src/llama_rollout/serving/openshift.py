"""The serving stage on OpenShift AI: KServe's InferenceService on a GPU, then the preflight and
the record in the Model Registry."""

from __future__ import annotations

import logging
from typing import Any

from llama_rollout import weights
from llama_rollout.kube import (
    Kube,
    NotReady,
    Patience,
    Readiness,
    api_client,
    current_namespace,
    watch_until,
)
from llama_rollout.kube.identity import service_account_token
from llama_rollout.kube.trust import service_ca
from llama_rollout.registry import record_deployment
from llama_rollout.registry.endpoint import MODEL_REGISTRY_API, RegistryEndpoint
from llama_rollout.serving import tool_calling
from llama_rollout.serving.objects import serving_objects
from llama_rollout.serving.readiness import check_inference_service, isvc_url
from llama_rollout.serving.request import ServedModel, ServingRequest
from llama_rollout.serving.settings import (
    CONTROLLER_GRACE,
    CONTROLLER_RECORD_LABEL,
    ISVC_API,
    RUNTIME_API,
    UNSCHEDULABLE_GRACE,
    ServingSettings,
)
from llama_rollout.weights.connection import DataConnection, check_connection_secret

logger = logging.getLogger(__name__)


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
    cluster serves both kinds. The InferenceService is watched, and failures explained (see
    ``kube.watch_until`` and ``kube.explain_pods``); a
    predictor pod that cannot be scheduled fails the wait after ``unschedulable_grace`` seconds,
    which leaves a cluster autoscaler time to add a GPU node.
    """

    kube.require_namespace(settings.namespace)
    kube.resource(RUNTIME_API, "ServingRuntime")
    kube.resource(ISVC_API, "InferenceService")
    if settings.storage_key:
        check_connection_secret(kube, settings.storage_key, settings.namespace)
    for obj in serving_objects(settings):
        kube.apply(obj)
        logger.info("applied %s %s/%s", obj["kind"], settings.namespace, obj["metadata"]["name"])
    patience = Patience(unschedulable_grace)
    watch_until(
        kube,
        ISVC_API,
        "InferenceService",
        settings.name,
        settings.namespace,
        lambda obj: check_inference_service(kube, settings, obj, patience),
        timeout=timeout,
        resync=interval,
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

    if settings.storage_key:
        weights.read_manifest(DataConnection.from_env(name=settings.storage_key), model_uri)
    kube = kube or Kube(api_client())
    url = deploy(kube, settings, timeout=timeout, interval=interval)
    base_url = f"{url}/v1"
    # The runner may get the InferenceService, which is what KServe's auth proxy asks; the
    # proxy's certificate is the service CA's.
    token = service_account_token() if settings.auth else None
    tool_calling.preflight(
        base_url,
        settings.served_model_name,
        strict=require_tool_calling,
        api_key=token,
        ca_certs=service_ca() if base_url.startswith("https://") else None,
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

    if settings.registry_name and kube.serves(MODEL_REGISTRY_API, "ModelRegistry"):

        def recorded(obj: dict[str, Any] | None) -> Readiness:
            labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
            return Readiness(ready=bool(labels.get(CONTROLLER_RECORD_LABEL)), state="no record yet")

        try:
            watch_until(
                kube,
                ISVC_API,
                "InferenceService",
                settings.name,
                settings.namespace,
                recorded,
                timeout=grace,
                resync=interval,
            )
        except NotReady:
            logger.info(
                "no record from odh-model-controller after %.0fs (is the registry integration "
                "of KServe off?): recording the deployment from this step",
                grace,
            )
        else:
            obj = kube.get(ISVC_API, "InferenceService", settings.name, settings.namespace) or {}
            record_id = obj["metadata"]["labels"][CONTROLLER_RECORD_LABEL]
            logger.info(
                "odh-model-controller recorded the deployment in the registry (inference "
                "service id %s)",
                record_id,
            )
            return str(record_id)
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


def serve(request: ServingRequest, *, kube: Kube | None = None) -> ServedModel:
    """The serving step on OpenShift AI (see :func:`llama_rollout.serving.step.serve`)."""

    settings = request.settings(request.namespace or current_namespace(), current_namespace())
    kube = kube or Kube(api_client())
    registry = request.registry.endpoint(kube)
    url, model = serve_on_openshift(
        settings,
        model_uri=request.model_uri,
        registry=registry,
        require_tool_calling=request.require_tool_calling,
        timeout=request.timeout_seconds,
        kube=kube,
    )
    return ServedModel(url, model, settings.name)
