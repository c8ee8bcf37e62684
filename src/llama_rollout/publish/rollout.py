"""Has Lightspeed taken a new OLSConfig? The operator's status, then the app server's rollout.

What the code relies on, read in openshift/lightspeed-operator (c0d4789,
``internal/controller/olsconfig_controller.go`` and ``olsconfig_helpers.go``):

* ``ApiReady`` (the app server) turns True, reason ``Available``, as soon as the
  ``lightspeed-app-server`` Deployment reports ``Available``. The operator rolls that
  Deployment (a pod-template annotation, RollingUpdate), in the same reconcile or, when its
  cached ConfigMap is stale, in the next one, and the OLD pod keeps answering with the OLD
  configuration until the new one is available: ApiReady alone is no sign that the new
  provider is served (``lightspeed.py`` asks again while the old configuration answers). The Deployment's own rollout is, judged as
  ``kubectl rollout status`` does (kubernetes/kubectl 53ef3ab,
  ``pkg/polymorphichelpers/rollout_status.go``).
* ``overallStatus`` is NotReady while ANY component is (console plugin, Postgres, the OpenShift
  MCP server, RHOKP, ...), some of them for good on a given cluster: it is not the gate.
  ApiReady and CacheReady (the conversation cache the app server needs) are; the others are
  reported, not failed on.
* ``status.diagnosticInfo`` lists pods that are merely starting (ContainerCreating,
  PodInitializing, readiness, scheduling); the operator itself fails a component only on
  ``CrashLoopBackOff``, ``ImagePullBackOff``, ``ErrImagePull``, ``OOMKilled`` and
  ``PreviousCrash: <reason>`` (``checkDeploymentStatus``).
* The operator renders the spec into the ConfigMap ``olsconfig`` and restarts the app server
  when that ConfigMap's resourceVersion differs from the one the Deployment's annotation
  ``ols.openshift.io/olsconfig-configmap-version`` records (``appserver/deployment.go``
  ``updateOLSDeployment``), comparing with its cache: a stale cache delays the restart to a
  later reconcile. A rolled-out Deployment whose annotation is not the ConfigMap's current
  resourceVersion still runs an older configuration, which on a re-publication (same provider
  and model, a new URL) answers the question as well as the new one would.
* When phase 1 of a reconcile fails, the whole status is replaced by ``ResourceReconciliation``
  conditions (False, reason Failed, with the generation; for the app server the message names
  the failed tasks, not their errors), and the operator retries with controller-runtime's
  backoff (exponential, capped at 1000 s); the same when the step that writes a component's
  Deployment fails (its condition False, reason Failed, no pod diagnostics). A failure that
  passes is replaced by the next reconcile's status, so only one that lasts ``RECONCILE_GRACE``
  fails the wait: one that would clear later, after a long backoff, fails it too, and the
  publication is restored (safe, if needlessly).
* When a provider's credentials Secret is missing or lacks ``apitoken``, the reconcile ends
  before any status is written (``ValidateLLMCredentials``): the generation is never observed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from llama_rollout.kube.client import Kube
from llama_rollout.kube.waits import Readiness, watch_until
from llama_rollout.publish.olsconfig import API_VERSION, APP_SERVER, KIND, NAME, NAMESPACE

logger = logging.getLogger(__name__)

GATES = ("ApiReady", "CacheReady")  # the app server and its conversation cache
TERMINAL = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled")
PREVIOUS_CRASH = "PreviousCrash:"
APP_SERVER_WHERE = f"{NAMESPACE}/{APP_SERVER}"
# The status names the failed tasks only ("failed tasks: [reconcile OLSConfigMap]",
# appserver/reconciler.go); the operator logs each task's error.
OPERATOR_LOG = (
    "the operator's log says why: oc logs -n openshift-lightspeed "
    "deployment/lightspeed-operator-controller-manager"
)
NO_STATUS = (
    "the operator writes no status while a provider's credentials Secret in "
    "openshift-lightspeed is missing or lacks the key apitoken"
)


def conditions_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def terminal_diagnostics(status: dict[str, Any]) -> str:
    """The operator's terminal pod failures of the gated components, one sentence."""
    parts = []
    for entry in status.get("diagnosticInfo") or []:
        reason = str(entry.get("reason", ""))
        if entry.get("failedComponent") not in GATES:
            continue
        if reason in TERMINAL or reason.startswith(PREVIOUS_CRASH):
            where = "/".join(filter(None, [entry.get("podName"), entry.get("containerName")]))
            parts.append(
                f"{entry['failedComponent']}: {where or 'a pod'} {reason}: "
                f"{entry.get('message', '')}".strip()
            )
    return "; ".join(parts)


def starting_pods(status: dict[str, Any]) -> str:
    """The gated components' pods that are still starting (not failures), one sentence."""
    parts = [
        f"{entry.get('podName', 'a pod')} {entry.get('reason', 'starting')}"
        for entry in status.get("diagnosticInfo") or []
        if entry.get("failedComponent") in GATES
    ]
    return "; ".join(parts)


FORCE_RELOAD = "ols.openshift.io/force-reload"  # the pod-template stamp of each restart
BACKING_OFF = ("CrashLoopBackOff", "ImagePullBackOff")  # ErrImagePull alone may pass


def pods_that_cannot_start(pods: list[dict[str, Any]], deployment: dict[str, Any]) -> str:
    """The Deployment's NEW pods (those stamped with its template's current ``FORCE_RELOAD``)
    whose containers, init containers included, the kubelet backs off from, with how their
    last run ended and where its log is, one sentence. A serving old pod is never judged, even
    with an old crash in its history."""
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    stamp = (template.get("annotations") or {}).get(FORCE_RELOAD)
    parts = []
    for pod in pods:
        if (
            stamp is not None
            and (pod["metadata"].get("annotations") or {}).get(FORCE_RELOAD) != stamp
        ):
            continue
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in BACKING_OFF:
                continue
            how = f"{waiting['reason']} after {container.get('restartCount', 0)} restarts"
            ended = (container.get("lastState") or {}).get("terminated") or {}
            if ended:
                how += f", its last run ended with exit code {ended.get('exitCode')} ({ended.get('reason', '')})"
            parts.append(
                f"{name} {how}; its log: oc logs -n {NAMESPACE} {name} -c "
                f"{container.get('name', '')} --previous"
            )
    return "; ".join(parts)


def other_components(status: dict[str, Any]) -> str:
    """The components that are not ready but do not gate a publication, one sentence."""
    return ", ".join(
        f"{kind} ({c.get('reason', '')})"
        for kind, c in conditions_of(status).items()
        if kind.endswith("Ready")
        and kind not in GATES
        and c.get("status") != "True"
        and c.get("reason") != "Disabled"
    )


def phase_one_failures(status: dict[str, Any], generation: int = 0) -> list[str]:
    """The messages of the ``ResourceReconciliation`` conditions that are False (one per failed
    task), of ``generation`` or a later one."""
    return [
        str(c.get("message", ""))
        for c in status.get("conditions") or []
        if c.get("type") == "ResourceReconciliation"
        and c.get("status") == "False"
        and _observed(c) >= generation
    ]


def deployment_step_failures(status: dict[str, Any]) -> str:
    """The gated components whose Deployment the operator could not write (False, reason
    Failed, no pod to blame in the diagnostics), one sentence."""
    blamed = {entry.get("failedComponent") for entry in status.get("diagnosticInfo") or []}
    return "; ".join(
        f"{kind} ({c.get('message', '')})"
        for kind, c in conditions_of(status).items()
        if kind in GATES
        and c.get("status") == "False"
        and c.get("reason") == "Failed"
        and kind not in blamed
    )


def serving_problem(obj: dict[str, Any]) -> str | None:
    """Why Lightspeed does not serve (None when its app server and cache are ready); the
    same rule for a publication and for the live check of an unchanged run."""
    status = obj.get("status") or {}
    found = conditions_of(status)
    if failed := phase_one_failures(status):
        return "; ".join(failed)
    for gate in GATES:
        condition = found.get(gate)
        if condition is None and gate == "CacheReady":
            continue  # a status without a cache condition is not held against Lightspeed
        if condition is None or condition.get("status") != "True":
            detail = (
                f"{condition.get('reason', '')}: {condition.get('message', '')}"
                if condition
                else "absent"
            )
            return f"{gate} is not True ({detail})"
    return None


RECONCILE_GRACE = 60.0  # seconds a phase-1 failure may last: several of the operator's retries


def reconciled(
    generation: int, *, grace: float | None = None
) -> Callable[[dict[str, Any] | None], Readiness]:
    """The check that the operator reconciled ``generation`` and the app server is up; a
    phase-1 failure fails it once it has lasted ``grace`` seconds (``RECONCILE_GRACE``)."""
    grace = RECONCILE_GRACE if grace is None else grace
    failing_since: float | None = None

    def check(obj: dict[str, Any] | None) -> Readiness:
        nonlocal failing_since
        if obj is None:
            return Readiness(failure="OLSConfig cluster was deleted while waiting for it")
        status = obj.get("status") or {}
        found = conditions_of(status)

        def failing(said: str) -> Readiness:
            nonlocal failing_since
            failing_since = failing_since if failing_since is not None else time.monotonic()
            if time.monotonic() - failing_since >= grace:
                return Readiness(failure=f"{said} (for {grace:.0f} s); {OPERATOR_LOG}")
            return Readiness(state=f"{said} (it retries)")

        if phase1 := phase_one_failures(status, generation):
            return failing(
                f"the operator could not reconcile generation {generation}: " + "; ".join(phase1)
            )
        api = found.get("ApiReady")
        if api is None or _observed(api) < generation:
            failing_since = None
            seen = api.get("observedGeneration") if api else "nothing"
            return Readiness(
                state=f"the operator has not reconciled generation {generation} "
                f"yet (ApiReady reports {seen}; {NO_STATUS})"
            )
        if terminal := terminal_diagnostics(status):
            return Readiness(failure=terminal)
        if updates := deployment_step_failures(status):
            # The step that writes a component's Deployment failed (an API error, not a pod):
            # retried as phase 1 is (olsconfig_controller.go reconcileDeploymentsAndStatus).
            return failing(f"the operator could not update {updates} for generation {generation}")
        failing_since = None
        if (problem := serving_problem(obj)) is None:
            return Readiness(ready=True, state="ApiReady")
        starting = starting_pods(status)
        return Readiness(state=problem + (f"; starting: {starting}" if starting else ""))

    return check


def _observed(condition: dict[str, Any]) -> int:
    return int(condition.get("observedGeneration") or 0)


CONFIG_MAP = "olsconfig"
CONFIG_MAP_VERSION = "ols.openshift.io/olsconfig-configmap-version"


def app_server_rolled(deployment: dict[str, Any] | None, config_version: str) -> Readiness:
    """The app server's Deployment runs ConfigMap ``olsconfig`` at ``config_version`` (its
    resourceVersion) and has rolled out, as ``kubectl rollout status`` judges it: the
    controller saw the newest spec, every replica is updated and available, and no old replica
    is left (an old pod answers with the old configuration)."""
    if deployment is None:
        return Readiness(state=f"Deployment {APP_SERVER_WHERE} does not exist yet")
    annotations = deployment["metadata"].get("annotations") or {}
    recorded = annotations.get(CONFIG_MAP_VERSION)
    # Operators before 1.0.8 or so have no such annotation: they restart the app server in the
    # same reconcile as they write the ConfigMap (a hash of it), so there is no late restart
    # to wait for, and the rollout alone is judged.
    if CONFIG_MAP_VERSION in annotations and recorded != config_version:
        return Readiness(
            state=f"the operator has not restarted the app server with the new "
            f"configuration yet (ConfigMap {CONFIG_MAP} is at resourceVersion "
            f"{config_version}, the app server at {recorded})"
        )
    status = deployment.get("status") or {}
    generation = deployment["metadata"].get("generation", 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return Readiness(state="waiting for the app server's new spec to be observed")
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "Progressing"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return Readiness(
                failure=f"the app server's rollout exceeded its progress deadline: "
                f"{condition.get('message', '')}"
            )
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    if updated < wanted:
        return Readiness(state=f"app server rollout: {updated} of {wanted} new pods updated")
    if replicas > updated:
        # While old pods are left the new ones may not be available yet: a deadline reached
        # here is most often a new pod that cannot start (oc get pods -n openshift-lightspeed).
        fresh = max(available - (replicas - updated), 0)
        return Readiness(
            state=f"app server rollout: {replicas - updated} old pods still serve "
            f"the previous configuration; {fresh} of {updated} new pods "
            "available"
        )
    if available < updated:
        return Readiness(state=f"app server rollout: {available} of {updated} new pods available")
    return Readiness(ready=True, state="rolled out")


def wait_rolled(kube: Kube, generation: int, *, timeout: float) -> None:
    """Wait until Lightspeed serves generation ``generation`` of OLSConfig ``cluster``: the
    operator reconciled it, then the app server's pods all run the new configuration."""
    deadline = time.monotonic() + timeout
    watch_until(kube, API_VERSION, KIND, NAME, None, reconciled(generation), timeout=timeout)
    others = other_components((kube.get(API_VERSION, KIND, NAME) or {}).get("status") or {})
    if others:
        logger.info("Lightspeed components not ready, which do not serve the provider: %s", others)

    def rolled(deployment: dict[str, Any] | None) -> Readiness:
        # Read at each look: the operator rewrites the ConfigMap of a later generation too.
        config = kube.metadata_of("v1", "ConfigMap", CONFIG_MAP, NAMESPACE)
        if config is None:
            return Readiness(state=f"ConfigMap {NAMESPACE}/{CONFIG_MAP} does not exist yet")
        judged = app_server_rolled(deployment, str(config.get("resourceVersion", "")))
        if judged.ready or judged.failure or deployment is None:
            return judged
        # The old pod keeps the Deployment Available, so ApiReady stays True and the operator
        # reports no diagnostics while a new pod crash-loops: only the pods say it, long before
        # the rollout's progress deadline (600 s by default).
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels")
        pods = kube.list("v1", "Pod", NAMESPACE, labels=selector) if selector else []
        if crashing := pods_that_cannot_start(pods, deployment):
            return Readiness(failure=f"the app server's new pod cannot start: {crashing}")
        return judged

    watch_until(
        kube,
        "apps/v1",
        "Deployment",
        APP_SERVER,
        NAMESPACE,
        rolled,
        timeout=max(deadline - time.monotonic(), 1.0),
    )
