"""Why pods cannot run, one sentence each: crash loops with the last log line, image pulls,
unschedulable pods (which may pass, while an autoscaler adds a node)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from llama_rollout.kube.client import Kube
from llama_rollout.kube.waits import Readiness


@dataclass(frozen=True)
class PodProblem:
    """Why a pod cannot run; ``may_pass`` when it can still resolve itself (an autoscaler
    adding a GPU node for an unschedulable pod)."""

    message: str
    may_pass: bool = False


class Patience:
    """How long a problem that may pass is allowed to last before it is a failure."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None

    def exhausted(self, present: bool) -> bool:
        if not present:
            self._since = None
            return False
        if self._since is None:
            self._since = time.monotonic()
        return time.monotonic() - self._since >= self.seconds


def pod_problems(kube: Kube, namespace: str, labels: dict[str, str]) -> list[PodProblem]:
    """Why the pods selected by ``labels`` cannot run, one sentence each (empty if none)."""
    problems = []
    for pod in kube.list("v1", "Pod", namespace, labels=labels):
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                problems.append(
                    PodProblem(
                        f"pod {name} cannot be scheduled ({condition.get('reason')}): "
                        f"{condition.get('message', '')}",
                        may_pass=True,
                    )
                )
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
                problems.append(
                    PodProblem(
                        f"pod {name} cannot pull image {container.get('image')} ({reason}): "
                        f"{waiting.get('message', '')}"
                    )
                )
            elif reason in (
                "CrashLoopBackOff",
                "CreateContainerConfigError",
                "CreateContainerError",
            ):
                last = kube.pod_log_tail(
                    name, namespace, container["name"], previous=reason == "CrashLoopBackOff"
                )
                terminated = (container.get("lastState") or {}).get("terminated") or {}
                detail = last or terminated.get("message") or waiting.get("message", "")
                restarts = container.get("restartCount", 0)
                problems.append(
                    PodProblem(
                        f"container {container['name']} of pod {name} is in {reason} "
                        f"({restarts} restarts); last log line: {detail}"
                    )
                )
    return problems


def explain_pods(
    kube: Kube, namespace: str, labels: dict[str, str], waiting: Readiness, patience: Patience
) -> Readiness:
    """``waiting`` made a failure when the pods cannot run, or its state richer when they
    may still (an unschedulable pod, until ``patience`` runs out)."""
    problems = pod_problems(kube, namespace, labels)
    lasting = [p.message for p in problems if not p.may_pass]
    passing = [p.message for p in problems if p.may_pass]
    if lasting or patience.exhausted(bool(passing)):
        return Readiness(failure="; ".join(lasting + passing), state=waiting.state)
    if passing:
        return Readiness(state=f"{waiting.state}; {'; '.join(passing)}")
    return waiting
