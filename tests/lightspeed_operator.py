"""A stand-in for the OpenShift Lightspeed operator and for the app server's Deployment, played
as read hooks of the fake API: each read of OLSConfig ``cluster`` or of the Deployment
``openshift-lightspeed/lightspeed-app-server`` is a moment passing, in which the Deployment's
rollout moves one step and the operator reconciles.

Each behaviour copies openshift/lightspeed-operator at c0d47898 (paths below are in that repo
unless named otherwise):

* ``internal/controller/olsconfig_helpers.go`` ``annotateExternalResources`` ->
  ``internal/controller/utils/utils.go`` ``ValidateLLMCredentials``: every provider's
  credentials Secret must exist in openshift-lightspeed with the key ``apitoken`` (present; the
  operator does not look at the value), else the reconcile returns before any status is
  written (``olsconfig_controller.go`` ``Reconcile``, step 4).
* ``olsconfig_controller.go`` ``reconcileIndependentResources``: a phase-1 failure replaces the
  whole status by one ``ResourceReconciliation`` condition per failed task (False, reason
  Failed, message ``Failed to reconcile <task>: <error>``, the CR's generation), overallStatus
  NotReady, no diagnostics.
* ``internal/controller/appserver/reconciler.go`` and ``assets.go``: the spec is rendered into
  the ConfigMap ``olsconfig`` (written only when its content differs, so its resourceVersion
  moves only then).
* ``internal/controller/appserver/deployment.go`` ``updateOLSDeployment`` / ``RestartAppServer``:
  when the ConfigMap's resourceVersion (read from the operator's cache) differs from the
  Deployment's annotation ``ols.openshift.io/olsconfig-configmap-version``, the annotation is
  updated and the pod-template annotation ``ols.openshift.io/force-reload`` set, a
  RollingUpdate (the defaults, 25% surge and unavailable, keep the one old pod serving).
* ``olsconfig_controller.go`` ``reconcileDeploymentsAndStatus`` and ``olsconfig_helpers.go``
  ``checkDeploymentStatus``: each component's condition is True, reason ``Available``, as soon
  as its Deployment reports Available (the rollout is not looked at); otherwise its pods'
  diagnostics (``collectDeploymentDiagnostics``: Waiting reasons such as ContainerCreating,
  ``PreviousCrash: <reason>``, PodReady False) and False, reason ``Failed`` when one is
  terminal (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, OOMKilled, PreviousCrash:*),
  else ``Progressing``. overallStatus is NotReady when any component is not ready; here the
  console plugin stays starting unless ``console_plugin_ready``.
* The Deployment controller (kubernetes/kubernetes c91999a ``pkg/controller/deployment``,
  ``progress.go`` for the deadline): a template change bumps
  ``generation``; the controller observes it, surges one new pod, counts it available when it
  is ready, then removes the old pod; a pod that never becomes ready ends, after the progress
  deadline, in ``Progressing`` False ``ProgressDeadlineExceeded``.
* The app server's reconcile tasks include "reconcile App NetworkPolicy" (before the
  Deployment's): the policy of ``GenerateAppServerNetworkPolicy``
  (``internal/controller/appserver/assets.go``, tests/operator_policies.py) is written when it
  is missing or differs, so it admits only Prometheus, the console and the routers unless
  another policy (the project's, manifests/lightspeed-publisher) adds a peer.
* ``internal/controller/appserver/deployment.go`` (423-442) and ``utils/utils.go`` (831-845):
  each MCP server header's Secret is mounted whole (no ``items``, not ``optional``) under
  ``/etc/mcp/headers/<secret>``, whether or not the ``MCPServer`` gate is on; the operator does
  not check that it exists, so a new pod whose header Secret is missing waits (phase Pending,
  the app server's container ``PodInitializing`` behind the init container that cannot start)
  until the Secret appears, and the rollout does not end before (``Pod.mounts_missing``). Not
  played: the operator's watch on those Secrets (``watchers.go``), which restarts the app
  server when one is created or its data changes.
* lightspeed-service (47c96d87) reads ``olsconfig.yaml`` only at start (``runner.py`` calls
  ``ols/utils/config.py`` ``reload_from_yaml_file`` once), so the Lightspeed stand-in switches
  configuration only when the new pod becomes available (``Lightspeed.reload``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.fake_kube import FakeKube
from tests.lightspeed_server import Lightspeed
from tests.operator_policies import APP_SERVER_LABELS, lightspeed_app_server_policy

NAMESPACE = "openshift-lightspeed"
APP_SERVER = "lightspeed-app-server"
CONSOLE = "lightspeed-console-plugin"
TERMINAL = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled")
SELECTOR = APP_SERVER_LABELS  # internal/controller/utils/utils.go GenerateAppServerSelectorLabels
CONFIG_MAP = "olsconfig"  # internal/controller/utils/constants.go OLSConfigCmName
FORCE_RELOAD = "ols.openshift.io/force-reload"  # appserver/deployment.go RestartAppServer
CONFIG_MAP_VERSION = "ols.openshift.io/olsconfig-configmap-version"  # constants.go


@dataclass
class Pod:
    """The one new app-server pod of a rollout, as the kubelet moves it along."""

    name: str
    spec: dict[str, Any]  # the configuration it reads at its start
    age: int = 0  # moments since it was created
    mounts_missing: tuple[str, ...] = ()  # Secrets it mounts that do not exist

    def diagnostics(self, starts_in: int, crash_loops: bool) -> list[dict[str, Any]]:
        """What ``collectDeploymentDiagnostics`` reports for it, at this age."""
        entry = {"failedComponent": "ApiReady", "podName": self.name,
                 "containerName": "lightspeed-service-api"}  # fmt: skip
        if self.age <= 1 or self.mounts_missing:
            return [{**entry, "reason": "ContainerCreating", "type": "ContainerWaiting",
                     "message": "Container waiting - check pod status for details"}]  # fmt: skip
        if crash_loops and self.age > 1:
            return [
                {**entry, "reason": "CrashLoopBackOff", "type": "ContainerWaiting",
                 "message": "back-off 40s restarting failed container"},
                {**entry, "reason": "PreviousCrash: Error", "type": "ContainerTerminated",
                 "message": "Previous container crash - check pod logs for details", "exitCode": 1},
            ]  # fmt: skip
        if self.age < starts_in:
            return [{"failedComponent": "ApiReady", "podName": self.name, "type": "PodCondition",
                     "reason": "ContainersNotReady",
                     "message": "containers with unready status: [lightspeed-service-api]"}]  # fmt: skip
        return []


@dataclass
class LightspeedOperator:
    """The operator, the app server's Deployment and its pods; the tests set the modes."""

    fake: FakeKube
    lightspeed: Lightspeed
    starts_in: int = 3  # moments before a new pod is ready
    crash_loops: bool = False  # the new pod never becomes ready
    cannot_start: bool = False  # the new pod's configuration stops the app server at its start
    deadline_in: int = 12  # moments before a stuck rollout exceeds its progress deadline
    old_pod_serves: bool = True  # False: nothing else serves while the new pod starts
    console_plugin_ready: bool = False
    # A phase-1 failure as the status names it: the app server's failed tasks, without their
    # errors (appserver/reconciler.go: "failed tasks: [reconcile OLSConfigMap]").
    phase1_failure: str = ""
    phase1_failure_reconciles: int = -1  # how many reconciles it lasts (-1: every one)
    # The app server's Deployment step fails (an API error): ApiReady False, reason Failed,
    # "Failed: <error>", no diagnostics, the Deployment untouched (olsconfig_controller.go
    # reconcileDeploymentsAndStatus).
    deployment_step_failure: str = ""
    # Reconciles of a new configuration that find the olsconfig ConfigMap's old resourceVersion
    # in the operator's cache: no restart, but ApiReady True for the generation all the same
    # (appserver/deployment.go updateOLSDeployment compares the cached resourceVersion with
    # the Deployment's annotation; the ConfigMap's event brings the restart a reconcile later).
    stale_configmap_reads: int = 0
    rendered: int = 0  # the generation the app server's configuration was rendered from
    noticed: int = 0  # the newest generation the operator has heard of
    pod: Pod | None = None
    previous_stamp: str | None = None  # the old pod's force-reload stamp during a rollout
    # How the serving (old) pod's container last ended, if it ever restarted (a lastState).
    serving_pod_history: dict[str, Any] | None = None
    moments: int = field(default=0)

    def install(self) -> None:
        """The state of a cluster where Lightspeed runs: the Deployment rolled out, the app
        server serving the current spec, the credentials of every provider, the status."""
        version = self._render(self._olsconfig()["spec"])
        self.fake.put("deployments", {
            "metadata": {"name": APP_SERVER, "namespace": NAMESPACE, "labels": dict(SELECTOR),
                         "annotations": {CONFIG_MAP_VERSION: version}},
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(SELECTOR)},
                     "strategy": {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": dict(SELECTOR)}}},
        })  # fmt: skip
        self._deployment_status(replicas=1, updated=1, available=1)
        self._pods()
        spec = self._olsconfig()["spec"]
        for provider in spec["llm"]["providers"]:
            name = provider["credentialsSecretRef"]["name"]
            if self.fake.get("secrets", name, NAMESPACE) is None:
                self.fake.put("secrets", {"metadata": {"name": name, "namespace": NAMESPACE},
                                          "data": {"apitoken": "c2stdGVzdA=="}})  # fmt: skip
        self._network_policy()
        self.rendered = self.noticed = self._olsconfig()["metadata"]["generation"]
        self.lightspeed.reload(spec)
        self.reconcile(self._olsconfig(), self.fake)
        self.fake.on_read("olsconfigs", "cluster", self.reconcile)
        self.fake.on_read("deployments", APP_SERVER, self.moment, NAMESPACE)

    # -- the operator ----------------------------------------------------------------------------

    def reconcile(self, obj: dict[str, Any], fake: FakeKube) -> None:
        generation = obj["metadata"]["generation"]
        if generation != self.noticed:
            self.noticed = generation  # the write's event queues a reconcile: it runs next moment
            return
        if not self._credentials_valid(obj["spec"]):
            return
        self._network_policy()  # a task of phase 1, before the one that may fail below
        if self.phase1_failure and self.phase1_failure_reconciles != 0:
            self.phase1_failure_reconciles -= 1
            self._write_status(obj, {"overallStatus": "NotReady", "diagnosticInfo": [], "conditions": [
                {"type": "ResourceReconciliation", "status": "False", "reason": "Failed",
                 "observedGeneration": generation,
                 "message": f"Failed to reconcile application server resources: {self.phase1_failure}"}]})  # fmt: skip
            return
        version = self._render(obj["spec"])
        if self.deployment_step_failure:
            self._write_status(obj, {"overallStatus": "NotReady", "diagnosticInfo": [], "conditions": [
                {"type": "ApiReady", "status": "False", "reason": "Failed",
                 "observedGeneration": generation, "message": f"Failed: {self.deployment_step_failure}"},
                self._condition("CacheReady", generation, True)]})  # fmt: skip
            return
        if version == self._restarted_for():
            self.rendered = generation  # the same configuration: nothing to restart
        elif self.stale_configmap_reads > 0:
            self.stale_configmap_reads -= 1
        else:
            self.rendered = generation
            self._restart(copy.deepcopy(obj["spec"]), version)
        self.roll(self.deployment(), fake)  # the operator reads the Deployment it just updated
        diagnostics: list[dict[str, Any]] = []
        conditions = [self._api_ready(generation, diagnostics),
                      self._condition("CacheReady", generation, True)]  # fmt: skip
        console = self._condition("ConsolePluginReady", generation, self.console_plugin_ready)
        if not self.console_plugin_ready:
            diagnostics.append({"failedComponent": "ConsolePluginReady", "podName": f"{CONSOLE}-5d8",
                                "containerName": "lightspeed-console-plugin", "type": "ContainerWaiting",
                                "reason": "ContainerCreating", "message": "Container waiting - "
                                "check pod status for details"})  # fmt: skip
        conditions.append(console)
        ready = all(c["status"] == "True" for c in conditions)
        self._write_status(obj, {"overallStatus": "Ready" if ready else "NotReady",
                                 "conditions": conditions, "diagnosticInfo": diagnostics})  # fmt: skip

    def settle(self, moments: int = 50) -> None:
        """Let time pass until the current spec is rolled out and reported (what a later run
        finds), within ``moments``."""
        for _ in range(moments):
            obj = self._olsconfig()
            self.reconcile(obj, self.fake)
            if self.pod is None and self.rendered == obj["metadata"]["generation"]:
                return
        raise AssertionError(f"the operator did not settle within {moments} moments")

    def _api_ready(self, generation: int, diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
        if self._available(self.deployment()):
            return self._condition("ApiReady", generation, True)
        crashing = self.crash_loops or self.cannot_start
        found = self.pod.diagnostics(self.starts_in, crashing) if self.pod else []
        diagnostics.extend(found)
        terminal = [d["reason"] for d in found
                    if d["reason"] in TERMINAL or d["reason"].startswith("PreviousCrash:")]  # fmt: skip
        if terminal:
            return {"type": "ApiReady", "status": "False", "reason": "Failed",
                    "observedGeneration": generation,
                    "message": f"Failed: deployment has failing pods: {terminal[0]}"}  # fmt: skip
        return {"type": "ApiReady", "status": "False", "reason": "Progressing",
                "observedGeneration": generation, "message": "Progressing"}  # fmt: skip

    @staticmethod
    def _condition(kind: str, generation: int, ready: bool) -> dict[str, Any]:
        if ready:
            return {"type": kind, "status": "True", "reason": "Available", "message": "Ready",
                    "observedGeneration": generation}  # fmt: skip
        return {"type": kind, "status": "False", "reason": "Progressing",
                "message": "Progressing", "observedGeneration": generation}  # fmt: skip

    def _missing_header_secrets(self, spec: dict[str, Any]) -> tuple[str, ...]:
        names = [header["valueFrom"]["secretRef"]["name"]
                 for server in spec.get("mcpServers") or [] for header in server.get("headers") or []
                 if header["valueFrom"].get("type") == "secret"]  # fmt: skip
        return tuple(n for n in names if self.fake.get("secrets", n, NAMESPACE) is None)

    def _credentials_valid(self, spec: dict[str, Any]) -> bool:
        for provider in (spec.get("llm") or {}).get("providers") or []:
            secret = self.fake.get("secrets", provider["credentialsSecretRef"]["name"], NAMESPACE)
            if secret is None or "apitoken" not in (secret.get("data") or {}):
                return False
        return True

    def _network_policy(self) -> None:
        """The operator's app-server policy, written back when missing or changed (a write
        only then, as controller-runtime's update after a comparison)."""
        desired = lightspeed_app_server_policy(NAMESPACE)
        current = self.fake.get("networkpolicies", desired["metadata"]["name"], NAMESPACE)
        if current is None or current.get("spec") != desired["spec"]:
            self.fake.put("networkpolicies", desired)

    def _render(self, spec: dict[str, Any]) -> str:
        """The ConfigMap written from ``spec`` when its content differs; its resourceVersion."""
        data = {"olsconfig.yaml": yaml.safe_dump(spec, sort_keys=True)}
        current = self.fake.get("configmaps", CONFIG_MAP, NAMESPACE)
        if current is None or current.get("data") != data:
            current = self.fake.put("configmaps", {
                "metadata": {"name": CONFIG_MAP, "namespace": NAMESPACE}, "data": data})  # fmt: skip
        return current["metadata"]["resourceVersion"]

    def _restarted_for(self) -> str | None:
        return (self.deployment()["metadata"].get("annotations") or {}).get(CONFIG_MAP_VERSION)

    def _restart(self, spec: dict[str, Any], version: str) -> None:
        deployment = self.deployment()
        deployment["metadata"].setdefault("annotations", {})[CONFIG_MAP_VERSION] = version
        template = deployment["spec"]["template"]["metadata"]
        stamps = template.setdefault("annotations", {})
        self.previous_stamp = stamps.get(FORCE_RELOAD)
        stamps[FORCE_RELOAD] = str(self.moments)
        deployment["metadata"]["generation"] += 1
        self.fake.put("deployments", deployment)
        self.pod = Pod(f"{APP_SERVER}-{deployment['metadata']['generation']}x7", spec,
                       mounts_missing=self._missing_header_secrets(spec))  # fmt: skip
        self.cannot_start = self.lightspeed.start_error(spec) is not None

    def _write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if obj.get("status") != status:
            obj["status"] = status
            self.fake.put("olsconfigs", obj)  # a new resourceVersion, as a status update makes

    def moment(self, deployment: dict[str, Any], fake: FakeKube) -> None:
        """A moment seen from the Deployment: the rollout moves, and a ConfigMap the app server
        was not restarted with queues a reconcile (the operator watches its ConfigMaps)."""
        config = self.fake.get("configmaps", CONFIG_MAP, NAMESPACE)
        if config and config["metadata"]["resourceVersion"] != self._restarted_for():
            self.reconcile(self._olsconfig(), fake)
        else:
            self.roll(deployment, fake)

    # -- the Deployment controller and the kubelet ------------------------------------------------

    def roll(self, deployment: dict[str, Any], fake: FakeKube) -> None:
        """One moment of the app server's rollout, and its pods as they are after it."""
        self._roll(deployment)
        self._pods()

    def _roll(self, deployment: dict[str, Any]) -> None:
        self.moments += 1
        pod = self.pod
        if pod is None:
            return
        status = deployment.get("status") or {}
        old = 1 if self.old_pod_serves else 0
        if int(status.get("observedGeneration") or 0) < deployment["metadata"]["generation"]:
            self._deployment_status(replicas=1 + old, updated=1, available=old)  # a pod surges
            return
        pod.age += 1
        pod.mounts_missing = self._missing_header_secrets(pod.spec)  # the kubelet retries
        if self.crash_loops or self.cannot_start or pod.mounts_missing or pod.age < self.starts_in:
            if pod.age >= self.deadline_in:  # never ready: the Deployment gives up on it
                self._deployment_status(replicas=1 + old, updated=1, available=old, stuck=True)
            return
        if status.get("availableReplicas", 0) < 1 + old:
            self.lightspeed.reload(pod.spec)  # ready: it serves what it read at its start
            self._deployment_status(replicas=1 + old, updated=1, available=1 + old)
        else:
            self._deployment_status(replicas=1, updated=1, available=1)  # the old pod is gone
            self.pod = None

    def deployment(self) -> dict[str, Any]:
        found = self.fake.get("deployments", APP_SERVER, NAMESPACE)
        assert found is not None, "the operator's Deployment was deleted"
        return found

    def _available(self, deployment: dict[str, Any]) -> bool:
        return any(c["type"] == "Available" and c["status"] == "True"
                   for c in (deployment.get("status") or {}).get("conditions") or [])  # fmt: skip

    def _pods(self) -> None:
        """The Deployment's pods as the kubelet reports them: the old one while it serves, the
        new one by its age (a crash loop: CrashLoopBackOff after its first exit)."""
        wanted: dict[str, dict[str, Any]] = {}
        stamps: dict[str, str | None] = {}
        running = {"running": {"startedAt": "2026-12-05T00:00:00Z"}}
        deployment = self.deployment()
        status = deployment.get("status") or {}
        current = ((deployment["spec"]["template"]["metadata"].get("annotations") or {})
                   .get(FORCE_RELOAD))  # fmt: skip
        rolling = int(status.get("replicas") or 0) > int(status.get("updatedReplicas") or 0)
        if self.pod is None or (self.old_pod_serves and rolling):
            name = f"{APP_SERVER}-0ld"
            wanted[name] = {"ready": True, "state": running,
                            "restartCount": 1 if self.serving_pod_history else 0,
                            **({"lastState": self.serving_pod_history}
                               if self.serving_pod_history else {})}  # fmt: skip
            stamps[name] = current if self.pod is None else self.previous_stamp
        pod = self.pod
        if pod is not None:
            stamps[pod.name] = current
        if pod is not None:
            if pod.mounts_missing:
                wanted[pod.name] = {"ready": False, "restartCount": 0,
                                    "state": {"waiting": {"reason": "PodInitializing"}}}  # fmt: skip
            elif (self.crash_loops or self.cannot_start) and pod.age > 1:
                wanted[pod.name] = {"ready": False, "restartCount": pod.age - 1, "state": {
                    "waiting": {"reason": "CrashLoopBackOff",
                                "message": "back-off 40s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}  # fmt: skip
            elif pod.age <= 1:
                wanted[pod.name] = {"ready": False, "restartCount": 0,
                                    "state": {"waiting": {"reason": "ContainerCreating"}}}  # fmt: skip
            else:
                wanted[pod.name] = {"ready": pod.age >= self.starts_in, "restartCount": 0,
                                    "state": running}  # fmt: skip
        for key in [k for k in self.fake.objects if k[:2] == ("pods", NAMESPACE)]:
            if key[2] not in wanted:
                del self.fake.objects[key]
        for name, container in wanted.items():
            stamp = {FORCE_RELOAD: stamps[name]} if stamps[name] is not None else {}
            self.fake.put("pods", {
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(SELECTOR),
                             "annotations": stamp},
                "status": {"phase": "Pending" if "PodInitializing" in str(container) else "Running",
                           "containerStatuses": [{"name": "lightspeed-service-api", **container}]},
            })  # fmt: skip

    def _deployment_status(
        self, *, replicas: int, updated: int, available: int, stuck: bool = False
    ) -> None:
        deployment = self.deployment()
        progressing = (
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": f'ReplicaSet "{APP_SERVER}-x7" has timed out progressing.'}
            if stuck else
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"
             if replicas == updated == available else "ReplicaSetUpdated"}
        )  # fmt: skip
        deployment["status"] = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas, "updatedReplicas": updated, "availableReplicas": available,
            "readyReplicas": available, "unavailableReplicas": max(replicas - available, 0),
            "conditions": [
                {"type": "Available", "status": "True" if available >= 1 else "False",
                 "reason": "MinimumReplicasAvailable" if available >= 1 else "MinimumReplicasUnavailable"},
                progressing,
            ],
        }  # fmt: skip
        self.fake.put("deployments", deployment)

    def _olsconfig(self) -> dict[str, Any]:
        found = self.fake.get("olsconfigs", "cluster")
        assert found is not None
        return found
