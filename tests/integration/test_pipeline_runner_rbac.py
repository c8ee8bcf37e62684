"""manifests/pipeline-runner's Role is exactly what the cluster steps call.

Every cluster step runs as the pipeline's service account against the fake API, which
authenticates its token and authorizes each request as kube-apiserver's RBAC authorizer does
(tests/fake_rbac.py), with only that Role bound. No request may be refused, and every rule
of the Role must be used. Then each rule is taken out in turn, and some request must be
refused for it. The steps run in the pipeline's own namespace and in another one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from llama_rollout import kube, serving, stack
from llama_rollout.kube import Kube
from llama_rollout.kube.identity import who_am_i
from llama_rollout.stack.access import StackClients
from llama_rollout.stack.openshift import deploy_stack
from tests.fake_kube import FakeKube, running

pytestmark = pytest.mark.integration

ROLE = yaml.safe_load(
    (
        Path(__file__).resolve().parents[2] / "manifests" / "pipeline-runner" / "role.yaml"
    ).read_text()
)
PIPELINE_PROJECT = "pipelines"
RUNNER = f"system:serviceaccount:{PIPELINE_PROJECT}:pipeline-runner-dspa"
RBAC = "rbac.authorization.k8s.io"


def granted(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def role_without(triple: tuple[str, str, str]) -> dict:
    group, resource, verb = triple
    rules = []
    for rule in ROLE["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                verbs = [v for v in rule["verbs"] if (g, r, v) != (group, resource, verb)]
                if verbs:
                    rules.append({"apiGroups": [g], "resources": [r], "verbs": verbs})
    return {**ROLE, "rules": rules}


def eventually(change, reads: int = 3):
    """A controller that gets there on the ``reads``-th look: the step has to watch for it."""
    seen = {"n": 0}

    def hook(obj, fake):
        seen["n"] += 1
        if seen["n"] >= reads:
            change(obj, fake)

    return hook


def rolled_out(obj, fake):
    replicas = obj["spec"].get("replicas", 1)
    obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                     "updatedReplicas": replicas, "availableReplicas": replicas}  # fmt: skip


def ready_isvc(obj, fake):
    obj["status"] = {
        "observedGeneration": obj["metadata"]["generation"],
        "conditions": [{"type": "Ready", "status": "True"}],
        "modelStatus": {"states": {"activeModelState": "Loaded"}},
        "address": {"url": f"http://{obj['metadata']['name']}-predictor.svc"},
    }


def operator(namespace: str):
    def reconcile(obj, fake):
        obj["status"] = {
            "phase": "Ready",
            "serviceURL": f"http://llama-stack-service.{namespace}.svc:8321",
        }
        deployment = {"metadata": {"name": "llama-stack", "namespace": namespace, "generation": 1},
                      "spec": {"replicas": 1}}  # fmt: skip
        rolled_out(deployment, fake)
        fake.put("deployments", deployment)

    return reconcile


def as_runner(api: str) -> Kube:
    """A step's client: the pipeline runner's token."""
    configuration = client.Configuration(host=api, api_key={"authorization": "Bearer runner"})
    return Kube(client.ApiClient(configuration))


def run_every_cluster_step(fake: FakeKube, api: str, namespace: str) -> None:
    """The serving and Llama Stack steps' cluster calls, on both paths, as the runner."""
    cluster = as_runner(api)
    settings = serving.ServingSettings(
        name="llama", namespace=namespace, storage_key="models", storage_path="models/llama/abc"
    )
    # A predictor in a crash loop first: its pods and their last log line are read.
    crashing = {"metadata": {"name": "llama-predictor-0", "namespace": namespace,
                             "labels": {"serving.kserve.io/inferenceservice": "llama"}},
                "status": {"containerStatuses": [{"name": "kserve-container", "image": "vllm", "restartCount": 4,
                                                  "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}  # fmt: skip
    fake.put("pods", crashing)
    with contextlib.suppress(kube.NotReady):
        serving.deploy(cluster, settings, timeout=1, interval=0.01)
    del fake.objects[("pods", namespace, "llama-predictor-0", "")]
    fake.on_read("inferenceservices", "llama", eventually(ready_isvc), namespace=namespace)
    serving.deploy(cluster, settings, timeout=5, interval=0.01)

    stack_settings = stack.StackSettings(
        namespace=namespace,
        vllm_url="http://llama-predictor.svc/v1",
        # The step asks who it is (any authenticated user may): the stack admits that name.
        clients=StackClients(pipeline=who_am_i(cluster)),
    )
    fake.on_read(
        "llamastackdistributions",
        "llama-stack",
        eventually(operator(namespace)),
        namespace=namespace,
    )
    deploy_stack(cluster, stack_settings, timeout=5, interval=0.01)
    fake.without("llamastack.io")
    fake.read_hooks.clear()
    del fake.objects[("deployments", namespace, "llama-stack", "apps")]  # the operator's
    fake.on_read("deployments", "llama-stack", eventually(rolled_out), namespace=namespace)
    deploy_stack(
        as_runner(api), stack_settings, timeout=5, interval=0.01
    )  # a cluster without the operator


@contextlib.contextmanager
def cluster_with(role: dict, namespace: str):
    fake = FakeKube(rbac=True, tokens={"runner": RUNNER})
    for name in {PIPELINE_PROJECT, namespace}:
        fake.add_namespace(name)
    # As the cluster admin sets it up: the dashboard's data connection, the Role and the
    # `oc create rolebinding` of role.yaml.
    fake.put("secrets", {"metadata": {"name": "models", "namespace": namespace,
                                      "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"},
                                      "annotations": {"opendatahub.io/connection-type-protocol": "s3"}}})  # fmt: skip
    fake.put("roles", {**role, "metadata": {**role["metadata"], "namespace": namespace}})
    fake.put("rolebindings", {
        "metadata": {"name": "llama-rollout-pipeline", "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-runner-dspa", "namespace": PIPELINE_PROJECT}],
    })  # fmt: skip
    with running(fake) as api:
        yield fake, api


@pytest.mark.parametrize(
    "namespace", [PIPELINE_PROJECT, "team-a"], ids=["own-project", "another-project"]
)
def test_the_role_allows_every_request_and_every_rule_is_used(namespace):
    with cluster_with(ROLE, namespace) as (fake, api):
        run_every_cluster_step(fake, api, namespace)
    refused = [a for a in fake.audit if not a.allowed]
    assert refused == []
    assert {a.namespace for a in fake.audit} == {namespace}, "the steps touch no other namespace"
    assert {a.rule for a in fake.audit} == granted(ROLE)


@pytest.mark.parametrize(
    "triple", sorted(granted(ROLE)), ids=lambda t: f"{t[0] or 'core'}/{t[1]}/{t[2]}"
)
def test_each_rule_is_needed(triple):
    with (
        cluster_with(role_without(triple), "team-a") as (fake, api),
        contextlib.suppress(kube.KubeError),
    ):
        run_every_cluster_step(fake, api, "team-a")
    assert any(not a.allowed and a.rule == triple for a in fake.audit), f"nothing needed {triple}"
