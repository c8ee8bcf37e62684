"""Kubernetes for the stages: the client, waits, pod diagnostics and errors that say what to do."""

from llama_rollout.kube.client import (
    FIELD_MANAGER,
    Kube,
    api_client,
    current_namespace,
    schema_has,
)
from llama_rollout.kube.diagnostics import Patience, PodProblem, explain_pods, pod_problems
from llama_rollout.kube.errors import (
    Conflict,
    KubeError,
    NotReady,
    PermissionDenied,
    translated_errors,
)
from llama_rollout.kube.waits import Readiness, watch_until

__all__ = [
    "FIELD_MANAGER",
    "Conflict",
    "Kube",
    "KubeError",
    "NotReady",
    "Patience",
    "PermissionDenied",
    "PodProblem",
    "Readiness",
    "api_client",
    "current_namespace",
    "explain_pods",
    "pod_problems",
    "schema_has",
    "translated_errors",
    "watch_until",
]
