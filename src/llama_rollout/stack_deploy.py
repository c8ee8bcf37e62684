"""Deploy Llama Stack on the cluster: the operator's CR where it exists, plain objects elsewhere.

The namespace, the kinds and the settings are checked before anything is applied. Readiness
is the CR's ``status.phase`` (operator) or the Deployment's available replicas (fallback);
failures are explained from the CR's conditions and the pods (image pull, crash loop with the
last log line, a config the server rejects shows up as a crash loop whose last line says so).
"""

from __future__ import annotations

import logging
from typing import Any

from llama_rollout.kube import (
    Kube,
    Patience,
    Readiness,
    current_namespace,
    explain_pods,
    schema_has,
    wait_until,
)
from llama_rollout.stack import (
    ALLOWED_FROM_FIELD,
    CONFIG_YAML_OPERATOR_FIELDS,
    LLSD_API,
    StackSettings,
    service_url,
    stack_objects,
)
from llama_rollout.stack_health import StackReport, verify_chain

logger = logging.getLogger(__name__)

# The operator labels its pods with the instance name (app.kubernetes.io/instance); the
# fallback Deployment uses the same label, so one selector finds the pods on both paths.
INSTANCE_LABEL = "app.kubernetes.io/instance"


def llsd_readiness(obj: dict[str, Any] | None) -> Readiness:
    """Read a LlamaStackDistribution's status, counting only conditions of its generation."""
    if obj is None:
        return Readiness(state="not created yet")
    status = obj.get("status") or {}
    phase = status.get("phase", "")
    generation = (obj.get("metadata") or {}).get("generation", 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    failing = [
        f"{t} {c.get('reason', '')}: {c.get('message', '')}".strip()
        for t, c in conditions.items()
        if c.get("status") == "False" and c.get("message")
    ]
    stale = [
        t for t, c in conditions.items() if c.get("observedGeneration", generation) < generation
    ]
    if phase == "Failed":
        return Readiness(failure="phase Failed" + (f" ({'; '.join(failing)})" if failing else ""))
    if phase == "Ready" and not stale:
        return Readiness(ready=True, state="Ready")
    state = f"phase {phase or 'unknown'}" + (f" ({'; '.join(failing)})" if failing else "")
    if stale:
        state += f"; the operator has not seen generation {generation} yet"
    return Readiness(state=state)


def deployment_readiness(obj: dict[str, Any] | None) -> Readiness:
    """Read a Deployment's rollout the way ``kubectl rollout status`` does."""
    if obj is None:
        return Readiness(state="not created yet")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if status.get("observedGeneration", 0) < (obj.get("metadata") or {}).get("generation", 0):
        return Readiness(state="waiting for the Deployment's new spec to be observed")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(failure=f"rollout stalled: {progressing.get('message', '')}")
    desired = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < desired:
        return Readiness(state=f"{updated} of {desired} new replicas updated")
    if status.get("replicas", 0) > updated:
        return Readiness(state=f"{status['replicas'] - updated} old replicas pending termination")
    if status.get("availableReplicas", 0) < updated:
        return Readiness(
            state=f"{status.get('availableReplicas', 0)} of {updated} updated replicas available"
        )
    return Readiness(ready=True, state="rolled out")


def operator_path(kube: Kube, settings: StackSettings) -> tuple[bool, StackSettings]:
    """Whether the installed operator can run this project's Llama Stack, and the settings
    for it (the pipeline's namespace admitted by its NetworkPolicy when that is elsewhere)."""
    if not kube.serves(LLSD_API, "LlamaStackDistribution"):
        logger.info("the Llama Stack operator is not installed: deploying a Deployment instead")
        return False, settings
    schema = kube.schema_of(LLSD_API, "LlamaStackDistribution")
    if schema is not None and not all(schema_has(schema, f) for f in CONFIG_YAML_OPERATOR_FIELDS):
        logger.warning(
            "the installed Llama Stack operator starts llama_stack.core.server.server with a "
            "run.yaml, which Llama Stack 0.7 no longer has (its CRD lacks %s): deploying "
            "Llama Stack as a Deployment instead",
            " and ".join(CONFIG_YAML_OPERATOR_FIELDS),
        )
        return False, settings
    pipeline_namespace = current_namespace()
    if (
        pipeline_namespace
        and pipeline_namespace != settings.namespace
        and schema_has(schema, ALLOWED_FROM_FIELD)
        and pipeline_namespace not in settings.allowed_namespaces
    ):
        allowed = (*settings.allowed_namespaces, pipeline_namespace)
        settings = settings.model_copy(update={"allowed_namespaces": allowed})
    return True, settings


def deploy_stack(
    kube: Kube,
    settings: StackSettings,
    *,
    timeout: float = 900,
    interval: float = 5,
    unschedulable_grace: float = 300,
) -> str:
    """Apply the stack's objects, wait until it runs, return its in-cluster URL.

    Returns:
        The base URL (``http://<service>.<namespace>.svc.cluster.local:8321``, or the CR's
        ``status.serviceURL``).
    """
    kube.require_namespace(settings.namespace)
    operator, settings = operator_path(kube, settings)
    objects = stack_objects(settings, operator=operator)  # raises before anything is applied
    logger.info(
        "deploying Llama Stack %s/%s %s",
        settings.namespace,
        settings.name,
        "with the operator (LlamaStackDistribution)" if operator else "as a Deployment",
    )
    for obj in objects:
        kube.apply(obj)
    pods = {INSTANCE_LABEL: settings.name}
    patience = Patience(unschedulable_grace)

    def check() -> Readiness:
        readiness = Readiness(ready=True)
        if operator:
            readiness = llsd_readiness(
                kube.get(LLSD_API, "LlamaStackDistribution", settings.name, settings.namespace)
            )
        if readiness.ready:
            # The operator's Deployment too: its phase may still reflect the old pods.
            readiness = deployment_readiness(
                kube.get("apps/v1", "Deployment", settings.name, settings.namespace)
            )
        if readiness.ready or readiness.failure:
            return readiness
        return explain_pods(kube, settings.namespace, pods, readiness, patience)

    kind = "LlamaStackDistribution" if operator else "Llama Stack Deployment"
    wait_until(check, what=f"{kind} {settings.namespace}/{settings.name}", timeout=timeout, interval=interval,
               on_state=lambda state: logger.info("Llama Stack: %s", state))  # fmt: skip
    if operator:
        obj = kube.get(LLSD_API, "LlamaStackDistribution", settings.name, settings.namespace) or {}
        return ((obj.get("status") or {}).get("serviceURL") or service_url(settings)).rstrip("/")
    return service_url(settings)


def serve_stack_on_openshift(
    settings: StackSettings,
    *,
    served_model: str,
    mcp_url: str,
    timeout: float = 900,
    kube: Kube | None = None,
) -> StackReport:
    """The cluster's Llama Stack step: deploy, then prove the chain to vLLM and MCP."""
    from llama_rollout.kube import api_client
    from llama_rollout.stack import model_id

    kube = kube or Kube(api_client())
    url = deploy_stack(kube, settings, timeout=timeout)
    return verify_chain(url, model_id(served_model), mcp_url)
