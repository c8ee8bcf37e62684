"""Deploy Llama Stack on the cluster: the operator's CR where it exists, plain objects elsewhere.

The namespace, the kinds and the settings are checked before anything is applied. Readiness
is the CR's ``status.phase`` (operator) or the Deployment's available replicas (fallback);
failures are explained from the CR's conditions and the pods (image pull, crash loop with the
last log line, a config the server rejects shows up as a crash loop whose last line says so).
"""

from __future__ import annotations

import logging
from typing import Any

from llama_rollout.kube import Kube, Patience, Readiness, wait_until
from llama_rollout.stack import LLSD_API, StackSettings, service_url, stack_objects
from llama_rollout.stack_health import StackReport, verify_chain

logger = logging.getLogger(__name__)

# The operator labels its pods with the instance name (app.kubernetes.io/instance); the
# fallback Deployment uses the same label, so one selector finds the pods on both paths.
INSTANCE_LABEL = "app.kubernetes.io/instance"


def llsd_readiness(obj: dict[str, Any] | None) -> Readiness:
    """Read a LlamaStackDistribution's status."""
    if obj is None:
        return Readiness(state="not created yet")
    status = obj.get("status") or {}
    phase = status.get("phase", "")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    failing = [
        f"{t} {c.get('reason', '')}: {c.get('message', '')}".strip()
        for t, c in conditions.items()
        if c.get("status") == "False" and c.get("message")
    ]
    if phase == "Ready":
        return Readiness(ready=True, state="Ready")
    if phase == "Failed":
        return Readiness(failure="phase Failed" + (f" ({'; '.join(failing)})" if failing else ""))
    return Readiness(
        state=f"phase {phase or 'unknown'}" + (f" ({'; '.join(failing)})" if failing else "")
    )


def deployment_readiness(obj: dict[str, Any] | None) -> Readiness:
    """Read a Deployment's status: all desired replicas available at the current generation."""
    if obj is None:
        return Readiness(state="not created yet")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", 1)
    available = status.get("availableReplicas", 0)
    current = status.get("observedGeneration", 0) >= (obj.get("metadata") or {}).get(
        "generation", 0
    )
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(failure=f"rollout stalled: {progressing.get('message', '')}")
    if current and available >= desired:
        return Readiness(ready=True, state="Available")
    return Readiness(state=f"{available}/{desired} replicas available")


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
    operator = kube.serves(LLSD_API, "LlamaStackDistribution")
    objects = stack_objects(settings, operator=operator)  # raises before anything is applied
    logger.info(
        "deploying Llama Stack %s/%s %s",
        settings.namespace,
        settings.name,
        "with the operator (LlamaStackDistribution)"
        if operator
        else "as a Deployment (operator not installed)",
    )
    for obj in objects:
        kube.apply(obj)
    pods = {INSTANCE_LABEL: settings.name}
    patience = Patience(unschedulable_grace)

    def check() -> Readiness:
        if operator:
            readiness = llsd_readiness(
                kube.get(LLSD_API, "LlamaStackDistribution", settings.name, settings.namespace)
            )
        else:
            readiness = deployment_readiness(
                kube.get("apps/v1", "Deployment", settings.name, settings.namespace)
            )
        if readiness.ready or readiness.failure:
            return readiness
        return kube.explain_pods(settings.namespace, pods, readiness, patience)

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
