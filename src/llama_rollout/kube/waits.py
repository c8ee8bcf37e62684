"""Waiting for a workload, by watching it: ready, failed with why, or the last state at the deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_rollout.kube.errors import NotReady

if TYPE_CHECKING:
    from llama_rollout.kube.client import Kube

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """One look at a workload: ready, failed (with why), or still waiting (with what)."""

    ready: bool = False
    failure: str | None = None
    state: str = ""


def watch_until(
    kube: Kube,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    check: Callable[[dict[str, Any] | None], Readiness],
    *,
    timeout: float,
    resync: float = 10.0,
) -> Readiness:
    """Follow one object with the watch API until ``check`` says it is ready.

    Each change the watch reports is judged as it comes; every ``resync`` seconds the object
    is read afresh (and the check looks again at what does not change the object itself: its
    pods). The first failure ``check`` names ends the wait at once; at the deadline it reports
    the last state it saw.

    Args:
        kube: the cluster.
        api_version: the object's API version.
        kind: its kind.
        name: its name.
        namespace: its namespace (None for a cluster-scoped kind).
        check: one look at the object (None when it does not exist).
        timeout: seconds before giving up.
        resync: seconds between fresh reads.

    Raises:
        NotReady: at the first failure, or at the deadline.
    """
    what = f"{kind} {namespace + '/' if namespace else ''}{name}"
    logged: list[str] = []  # the states seen, each logged once as the progress of the wait
    deadline = time.monotonic() + timeout
    while True:
        obj = kube.get(api_version, kind, name, namespace)
        last = _judged(check(obj), what, logged)
        if last.ready:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotReady(
                f"{what} not ready after {timeout:.0f}s; last state: {last.state}",
                hint="raise the timeout if it is still starting (a model loading), or inspect the pods",
            )
        version = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        window = min(resync, remaining)
        for _, changed in kube.watch(
            api_version, kind, name, namespace, resource_version=version, seconds=window
        ):
            last = _judged(check(changed), what, logged)
            if last.ready:
                return last
            if time.monotonic() >= deadline:
                break


def _judged(readiness: Readiness, what: str, logged: list[str]) -> Readiness:
    if readiness.failure:
        raise NotReady(f"{what} failed: {readiness.failure}")
    if not readiness.ready and readiness.state not in logged[-1:]:
        logged.append(readiness.state)
        logger.info("%s: %s", what, readiness.state)
    return readiness
