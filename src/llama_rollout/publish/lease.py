"""One publisher at a time: a ``coordination.k8s.io`` Lease held while OLSConfig changes.

Two runs that publish at once would each read OLSConfig, each roll the app server, and each
restore "the previous spec" on failure, one undoing the other. The Lease makes the second run
fail at once, naming the holder. Taking it is a create (409 when it exists) or, when the
holder's time has run out, a replace with the resourceVersion read (409 when another run took
it first): the API server decides every race. The Lease is held for at most its duration,
which covers the whole publish step, so a run killed while holding it blocks the next run
only until then.

OLSConfig is cluster-scoped, so the Lease is too in effect: it lives in
``openshift-lightspeed`` (beside what it guards), not in the pipeline's namespace, so that runs
in two projects contend for the same one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from llama_rollout.kube.client import Kube
from llama_rollout.kube.errors import Conflict, KubeError
from llama_rollout.publish.olsconfig import NAMESPACE

logger = logging.getLogger(__name__)

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
NAME = "llama-rollout-publish"


class LeaseHeld(KubeError):
    """Another run holds the publish Lease."""


def _now() -> datetime:
    return datetime.now(UTC)


def _micro_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # a MicroTime, as the API stores it


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _expired(spec: dict[str, Any], now: datetime) -> bool:
    if not spec.get("holderIdentity"):
        return True
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not renewed:
        return True
    return _parse(renewed) + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0)) <= now


@contextlib.contextmanager
def held(kube: Kube, holder: str, *, seconds: int) -> Iterator[None]:
    """Hold the publish Lease in ``openshift-lightspeed`` as ``holder`` for the body (at most
    ``seconds``).

    Raises:
        LeaseHeld: another holder's Lease has not expired, or another run took it first.
    """
    now = _now()
    spec = {
        "holderIdentity": holder,
        "leaseDurationSeconds": seconds,
        "acquireTime": _micro_time(now),
        "renewTime": _micro_time(now),
    }
    lease: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "llama-rollout"},
        },
        "spec": spec,
    }
    current = kube.get(API_VERSION, KIND, NAME, NAMESPACE)
    try:
        if current is None:
            taken = kube.create(lease)
        else:
            theirs = current.get("spec") or {}
            if theirs.get("holderIdentity") != holder and not _expired(theirs, now):
                raise _held_by(theirs)
            lease["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            taken = kube.replace(lease)
    except Conflict:
        now_there = (kube.get(API_VERSION, KIND, NAME, NAMESPACE) or {}).get("spec") or {}
        raise _held_by(now_there) from None
    logger.info("holding Lease %s/%s as %s (at most %d s)", NAMESPACE, NAME, holder, seconds)
    try:
        yield
    finally:
        _release(kube, taken, holder)


def _release(kube: Kube, taken: dict[str, Any], holder: str) -> None:
    released = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": NAME,
            "namespace": taken["metadata"]["namespace"],
            "resourceVersion": taken["metadata"]["resourceVersion"],
            "labels": taken["metadata"].get("labels") or {},
        },
        "spec": {**taken["spec"], "holderIdentity": None},
    }
    try:
        kube.replace(released)
    except KubeError as exc:
        # Not fatal: the Lease expires on its own; the next run waits at most its duration.
        logger.warning("could not release Lease %s as %s: %s", NAME, holder, exc)


def _held_by(spec: dict[str, Any]) -> LeaseHeld:
    holder = spec.get("holderIdentity") or "another run"
    since = spec.get("acquireTime") or "an unknown time"
    until = ""
    if spec.get("renewTime") and spec.get("leaseDurationSeconds"):
        ends = _parse(spec["renewTime"]) + timedelta(seconds=int(spec["leaseDurationSeconds"]))
        until = f", until {_micro_time(ends)[:19]}Z at the latest"
    return LeaseHeld(
        f"another run ({holder}) is publishing to Lightspeed: it holds Lease "
        f"{NAMESPACE}/{NAME} since {since}{until}",
        hint="let that run finish and start this one again; if that run is gone, delete the "
        f"Lease (oc delete lease {NAME} -n {NAMESPACE})",
    )
