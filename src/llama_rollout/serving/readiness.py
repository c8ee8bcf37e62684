"""Is an InferenceService serving: ready, failed to load and why, or what it waits for."""

from __future__ import annotations

from typing import Any

from llama_rollout.kube import Kube, Patience, Readiness, explain_pods
from llama_rollout.serving.settings import ServingSettings


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
    kube: Kube, settings: ServingSettings, obj: dict[str, Any] | None, patience: Patience
) -> Readiness:
    """One look at an InferenceService (``obj``) and, while it is not ready, its pods."""
    name, namespace = settings.name, settings.namespace
    readiness = isvc_readiness(obj)
    if readiness.ready or readiness.failure:
        return readiness
    labels = {"serving.kserve.io/inferenceservice": name}
    readiness = explain_pods(kube, namespace, labels, readiness, patience)
    if readiness.failure and MISSING_TEMPLATE in readiness.failure:
        return Readiness(
            failure=f"{readiness.failure}. The runtime image {settings.runtime_image} has no "
            f"chat template at {settings.chat_template_path}: set chat_template to the template's "
            "absolute path in that image (OpenShift AI 2.x images keep them in "
            "/app/data/template, Red Hat AI Inference Server 3.x in /opt/app-root/template)",
            state=readiness.state,
        )
    return readiness
