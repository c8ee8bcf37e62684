"""The cluster the publish tests run against: the fake API with RBAC from
manifests/lightspeed-publisher and manifests/pipeline-runner, the Lightspeed operator's
stand-in (tests/lightspeed_operator.py) and the app server's (tests/lightspeed_server.py), and
versions A and B of one model in the real Model Registry server.

The publish step's in-cluster connections go as a pipeline pod's would on a cluster, through
Edges (tests/network_policy.py) that the NetworkPolicies in the fake decide: to the app
server's pod (the Lightspeed operator's own policy, written by its stand-in, and the one
manifests/lightspeed-publisher ships), and to the Model Registry through its Route (the step's
pod to the router's, the router's to the registry's, whose namespace admits only the routers).
The app server's own calls to its provider go through Edges from its pod too
(tests/lightspeed_server.py's ``upstreams``, test_provider_path.py), and the step's listing of
the MCP server's tools, which the budget check makes before these, in test_mcp_path.py."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from llama_rollout import registry
from llama_rollout.kube import Kube
from llama_rollout.publish import embedded
from llama_rollout.publish.request import PublishRequest
from llama_rollout.registry.endpoint import RegistryReference
from tests.fake_kube import FakeKube, running
from tests.lightspeed_operator import LightspeedOperator
from tests.lightspeed_server import running_lightspeed
from tests.network_policy import Edge, Pod, Port
from tests.operator_policies import (
    INGRESS_NAMESPACE,
    LIGHTSPEED_PORT,
    REGISTRIES_NAMESPACE,
    REGISTRY_LABELS,
    ROUTER_LABELS,
    STEP_LABELS,
    routers_only_policy,
)
from tests.operator_policies import REGISTRY_PORT as REGISTRY_PORT_NUMBER

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests" / "lightspeed-publisher"
RUNNER_ROLE = ROOT / "manifests" / "pipeline-runner" / "role.yaml"
NS = "self-healing-platform"
LIGHTSPEED_NS = "openshift-lightspeed"
RUNNER = f"system:serviceaccount:{NS}:pipeline-runner-dspa"
PLURALS = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
           "Role": "roles", "RoleBinding": "rolebindings", "ServiceAccount": "serviceaccounts",
           "Secret": "secrets", "NetworkPolicy": "networkpolicies"}  # fmt: skip
REVISION_A, REVISION_B = "a" * 40, "b" * 40
# The publish step's pod: Kubeflow Pipelines labels every pod of a v2 run so (kubeflow/pipelines
# backend/src/v2/compiler/argocompiler/argo.go, commit 7b70c7b); the step adds none of its own.
STEP = Pod(NS, STEP_LABELS)
ROUTER = Pod(INGRESS_NAMESPACE, ROUTER_LABELS)
REGISTRY = Pod(REGISTRIES_NAMESPACE, REGISTRY_LABELS)
REGISTRY_PORT = Port(REGISTRY_PORT_NUMBER, "https")


def manifests() -> list[dict]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"]
            for doc in yaml.safe_load_all((MANIFESTS / name).read_text())]  # fmt: skip


def install(fake: FakeKube, obj: dict) -> None:
    obj = copy.deepcopy(obj)
    if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
        obj["metadata"].setdefault("namespace", NS)
    if obj["kind"] == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
        obj["data"] = {"token": base64.b64encode(b"model-client-token").decode()}  # the controller
    fake.put(PLURALS[obj["kind"]], obj)


def without(obj: dict, triple: tuple[str, str, str] | None) -> dict:
    """A Role or ClusterRole with one (group, resource, verb) taken out."""
    if triple is None or obj["kind"] not in ("Role", "ClusterRole"):
        return obj
    rules = []
    for rule in obj["rules"]:
        if "resources" not in rule:
            rules.append(rule)
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                verbs = [v for v in rule["verbs"] if (group, resource, v) != triple]
                if verbs:
                    rules.append(
                        {**rule, "apiGroups": [group], "resources": [resource], "verbs": verbs}
                    )
    return {**obj, "rules": rules}


def granted_by_manifests() -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for obj in manifests() if obj["kind"] in ("Role", "ClusterRole")
        and obj["metadata"]["name"] != "lightspeed-model-client"  # Lightspeed's, not the step's
        for rule in obj["rules"] if "resources" in rule
        for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]
    }  # fmt: skip


@pytest.fixture
def cluster(tmp_path, request):
    """(fake API, Kube as the pipeline's service account, Lightspeed, its URL, operator)."""
    fake = FakeKube(rbac=True, tokens={"runner": RUNNER})
    for name in (NS, LIGHTSPEED_NS):
        fake.add_namespace(name)
    for obj in manifests():
        install(fake, without(obj, getattr(request, "param", None)))
    role = yaml.safe_load(RUNNER_ROLE.read_text())
    install(fake, role)
    install(fake, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "llama-rollout-pipeline"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": role["metadata"]["name"]},
                   "subjects": [{"kind": "ServiceAccount", "name": "pipeline-runner-dspa",
                                 "namespace": NS}]})  # fmt: skip
    fake.put("olsconfigs", copy.deepcopy(embedded.SAMPLE))
    with running_lightspeed(fake) as (lightspeed, upstream), running(fake) as api:
        operator = LightspeedOperator(fake, lightspeed)
        operator.install()
        # The app server's pod as the operator's Deployment labels it, on its container port.
        template = operator.deployment()["spec"]["template"]["metadata"]
        app_server = Pod(LIGHTSPEED_NS, dict(template["labels"]))
        with Edge(fake, STEP, app_server, Port(LIGHTSPEED_PORT, "https"), upstream) as edge:
            configuration = client.Configuration(
                host=api, api_key={"authorization": "Bearer runner"}
            )
            yield fake, Kube(client.ApiClient(configuration)), lightspeed, edge.url, operator


@pytest.fixture
def versions(registry_url, cluster):
    """Versions A and B of one model in the registry (their S3 copies are not needed here):
    (the URL the step reaches the registry at, through the router; a client of the test's)."""
    fake = cluster[0]
    fake.add_namespace(INGRESS_NAMESPACE, {"network.openshift.io/policy-group": "ingress"})
    fake.add_namespace(REGISTRIES_NAMESPACE)
    fake.put("networkpolicies", routers_only_policy())
    connected = registry.connect(registry.endpoint_for(registry_url))
    for revision in (REVISION_A, REVISION_B):
        registry.register_version(
            connected, model_name="llama-3-2-3b-instruct",
            model_uri=f"s3://models/models/llama-3-2-3b-instruct/{revision}/",
            storage_key="models", storage_path=f"models/llama-3-2-3b-instruct/{revision}",
            provenance=registry.Provenance(f"hf://meta-llama/Llama-3.2-3B-Instruct@{revision}",
                                           revision, "0" * 64),
        )  # fmt: skip
    with (
        Edge(fake, ROUTER, REGISTRY, REGISTRY_PORT, registry_url) as route,
        Edge(fake, STEP, ROUTER, Port(443, "https"), route.url) as step_to_router,
    ):
        yield step_to_router.url, connected


def request_for(revision: str, registry_url: str, lightspeed_url: str, **changes) -> PublishRequest:
    short = revision[:7]
    values = dict(
        model_name="llama-3-2-3b-instruct", model_version_name=revision[:12],
        serving_url=f"https://llama-3-2-3b-instruct-{short}-predictor.{NS}.svc:8443/v1",
        serving_model="llama-3-2-3b-instruct", serving_name=f"llama-3-2-3b-instruct-{short}",
        stack_name=f"llama-stack-{short}",
        llama_stack_url=f"http://llama-stack-{short}-service.{NS}.svc:8321",
        llama_stack_model_id="vllm/llama-3-2-3b-instruct", mcp_url=f"http://mcp.{NS}.svc:3000/mcp",
        namespace=NS, run_id=f"run-{short}", registry=RegistryReference(url=registry_url),
        lightspeed_url=lightspeed_url, timeout_seconds=30,
    )  # fmt: skip
    return PublishRequest(**{**values, **changes})


def short_timeout(request: PublishRequest, seconds: int = 2) -> PublishRequest:
    """Below the parameter's own minimum, for a test that waits out the deadline."""
    return PublishRequest.model_construct(**{**request.model_dump(), "timeout_seconds": seconds})


def serve_version(fake: FakeKube, revision: str) -> None:
    """What the serving and Llama Stack steps leave for a version (their steps are tested
    elsewhere): its InferenceService, runtime and the fallback stack's objects."""
    short = revision[:7]
    isvc = f"llama-3-2-3b-instruct-{short}"
    fake.put("inferenceservices", {"metadata": {"name": isvc, "namespace": NS},
                                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    fake.put("servingruntimes", {"metadata": {"name": isvc, "namespace": NS}})
    stack = f"llama-stack-{short}"
    fake.put("llamastackdistributions", {"metadata": {"name": stack, "namespace": NS}})
    fake.put("configmaps", {"metadata": {"name": f"{stack}-config", "namespace": NS}})
    # The fallback's objects too (a cluster without the operator): a removal takes them all.
    fake.put("deployments", {"metadata": {"name": stack, "namespace": NS}})
    fake.put("services", {"metadata": {"name": f"{stack}-service", "namespace": NS}})
    fake.put("persistentvolumeclaims", {"metadata": {"name": f"{stack}-pvc", "namespace": NS}})
    fake.put("networkpolicies", {"metadata": {"name": f"{stack}-network-policy", "namespace": NS}})


def providers(fake: FakeKube) -> list[dict]:
    return fake.get("olsconfigs", "cluster")["spec"]["llm"]["providers"]
