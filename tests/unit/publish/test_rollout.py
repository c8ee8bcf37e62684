"""What the operator's status and the app server's Deployment say, judged: the rules the
publish step and the live check share (the operator's own, read at lightspeed-operator
c0d4789 ``olsconfig_helpers.go`` ``checkDeploymentStatus``; kubectl's ``rollout status``)."""

from __future__ import annotations

import pytest

from llama_rollout.publish import rollout


def status(*conditions, diagnostics=()):
    return {"status": {"overallStatus": "NotReady", "conditions": list(conditions),
                       "diagnosticInfo": list(diagnostics)}}  # fmt: skip


def condition(kind, ready, generation=2, reason=""):
    return {"type": kind, "status": "True" if ready else "False", "observedGeneration": generation,
            "reason": reason or ("Available" if ready else "Progressing"), "message": ""}  # fmt: skip


def diagnostic(reason, component="ApiReady"):
    return {"failedComponent": component, "podName": "lightspeed-app-server-1", "reason": reason}


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled",
               "PreviousCrash: Error"],
)  # fmt: skip
def test_the_operators_terminal_reasons_fail(reason):
    seen = rollout.reconciled(2)(
        status(condition("ApiReady", False), diagnostics=[diagnostic(reason)])
    )
    assert seen.failure and reason in seen.failure


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing", "ContainersNotReady",
                                    "Unschedulable"])  # fmt: skip
def test_starting_pods_are_waited_for(reason):
    seen = rollout.reconciled(2)(
        status(condition("ApiReady", False), diagnostics=[diagnostic(reason)])
    )
    assert not seen.failure and not seen.ready and reason in seen.state


def test_other_components_neither_gate_nor_fail():
    obj = status(condition("ApiReady", True), condition("CacheReady", True),
                 condition("ConsolePluginReady", False),
                 diagnostics=[diagnostic("CrashLoopBackOff", "ConsolePluginReady")])  # fmt: skip
    assert rollout.reconciled(2)(obj).ready
    assert rollout.serving_problem(obj) is None
    assert rollout.other_components(obj["status"]) == "ConsolePluginReady (Progressing)"


def test_an_older_generation_is_not_taken_for_ours():
    seen = rollout.reconciled(3)(status(condition("ApiReady", True, generation=2)))
    assert not seen.ready and "has not reconciled generation 3" in seen.state


PHASE_ONE_FAILED = [condition("ResourceReconciliation", False, reason="Failed") | {"message": m}
                    for m in ("Failed to reconcile a: x", "Failed to reconcile b: y")]  # fmt: skip


def test_a_phase_one_failure_of_our_generation_that_lasts_fails_with_every_message():
    check = rollout.reconciled(2, grace=0)
    seen = check(status(*PHASE_ONE_FAILED))
    assert seen.failure and "a: x" in seen.failure and "b: y" in seen.failure
    assert not rollout.reconciled(3, grace=0)(status(*PHASE_ONE_FAILED)).failure, "not ours"


def test_a_phase_one_failure_the_operator_retries_past_is_waited_for(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(rollout.time, "monotonic", lambda: now[0])
    check = rollout.reconciled(2, grace=60)
    first = check(status(*PHASE_ONE_FAILED))
    assert not first.failure and "it retries" in first.state
    now[0] += 30
    assert not check(status(*PHASE_ONE_FAILED)).failure
    # The next reconcile replaced it: the clock starts again at the next failure.
    assert not check(status(condition("ApiReady", False))).failure
    now[0] += 45
    assert not check(status(*PHASE_ONE_FAILED)).failure, "a new failure gets its own grace"
    now[0] += 60
    assert "(for 60 s)" in check(status(*PHASE_ONE_FAILED)).failure


CONFIG = "41"  # the olsconfig ConfigMap's resourceVersion the app server was restarted with


def deployment(generation, observed, replicas, updated, available, progressing="ReplicaSetUpdated"):
    return {"metadata": {"generation": generation,
                         "annotations": {rollout.CONFIG_MAP_VERSION: CONFIG}},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": observed, "replicas": replicas,
                       "updatedReplicas": updated, "availableReplicas": available,
                       "conditions": [{"type": "Progressing", "reason": progressing}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("seen", "ready", "says"),
    [
        (deployment(3, 2, 1, 1, 1), False, "new spec to be observed"),
        (
            deployment(3, 3, 2, 1, 1),
            False,
            "1 old pods still serve the previous configuration; 0 of 1 new pods available",
        ),
        (
            deployment(3, 3, 2, 1, 2),
            False,
            "1 old pods still serve the previous configuration; 1 of 1 new pods available",
        ),
        (deployment(3, 3, 1, 0, 1), False, "0 of 1 new pods updated"),
        (deployment(3, 3, 1, 1, 0), False, "0 of 1 new pods available"),
        (deployment(3, 3, 1, 1, 1, "NewReplicaSetAvailable"), True, "rolled out"),
    ],
)
def test_the_app_server_rollout_as_kubectl_judges_it(seen, ready, says):
    judged = rollout.app_server_rolled(seen, CONFIG)
    assert (judged.ready, says in judged.state) == (ready, True)


def test_a_rollout_past_its_deadline_fails():
    judged = rollout.app_server_rolled(
        deployment(3, 3, 2, 1, 1, "ProgressDeadlineExceeded"), CONFIG
    )
    assert judged.failure and "progress deadline" in judged.failure


def test_a_rolled_out_app_server_of_an_older_configuration_is_not_rolled():
    # The operator's cache was stale: it has not restarted the app server for the ConfigMap the
    # new generation wrote, and the Deployment, settled, still runs the previous configuration.
    judged = rollout.app_server_rolled(deployment(3, 3, 1, 1, 1, "NewReplicaSetAvailable"), "42")
    assert not judged.ready and not judged.failure
    assert "ConfigMap olsconfig is at resourceVersion 42, the app server at 41" in judged.state


def test_an_operator_that_records_no_configmap_version_is_judged_by_the_rollout_alone():
    # Operators before the annotation restart the app server in the reconcile that writes the
    # ConfigMap: there is no late restart to wait for.
    settled = deployment(3, 3, 1, 1, 1, "NewReplicaSetAvailable")
    del settled["metadata"]["annotations"]
    assert rollout.app_server_rolled(settled, "42").ready
    settled["metadata"]["annotations"] = {rollout.CONFIG_MAP_VERSION: ""}
    assert not rollout.app_server_rolled(settled, "42").ready, "present but not this version"


def pod(name, stamp, waiting="", last=None):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"metadata": {"name": name, "annotations": {rollout.FORCE_RELOAD: stamp}},
            "status": {"containerStatuses": [{"name": "c", "state": state, "restartCount": 3,
                                              **({"lastState": last} if last else {})}]}}  # fmt: skip


def test_only_the_new_pods_backing_off_fail_the_rollout():
    rolling = deployment(3, 3, 2, 1, 1)
    rolling["spec"]["template"] = {"metadata": {"annotations": {rollout.FORCE_RELOAD: "new"}}}
    oom = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    old_ones = [pod("old-a", "old", last=oom), pod("old-b", "old", waiting="CrashLoopBackOff")]
    assert rollout.pods_that_cannot_start(old_ones, rolling) == "", "old pods are not judged"
    pulling = [pod("new-a", "new", waiting="ErrImagePull")]
    assert rollout.pods_that_cannot_start(pulling, rolling) == "", "one failed pull may pass"
    failing = rollout.pods_that_cannot_start(
        [pod("new-a", "new", waiting="CrashLoopBackOff", last=oom)], rolling
    )
    assert failing.startswith("new-a CrashLoopBackOff after 3 restarts")
    assert "exit code 137 (OOMKilled)" in failing and "--previous" in failing
