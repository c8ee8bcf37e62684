"""Is Llama Stack up: the LlamaStackDistribution's phase, and its Deployment's rollout."""

from __future__ import annotations

from typing import Any

from llama_rollout.kube import Readiness


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
