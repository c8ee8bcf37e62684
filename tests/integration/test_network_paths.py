"""Every in-cluster path of a run, through the fake cluster's NetworkPolicies.

The cluster holds the operators' policies as their code writes them (tests/operator_policies.py:
Lightspeed's app server; Llama Stack's per LlamaStackDistribution, written by a fake operator
from the CR the stack step applied) and the project's: the serving step's policy for vLLM,
manifests/mcp-server's and manifests/lightspeed-publisher's as shipped, and the fallback
Deployment's own. Each connection goes through an Edge (tests/network_policy.py) that knows its
source pod; a refused one never opens, so the client's connect timeout fires, as on a cluster.

A policy admits namespaces and labels, not identities: a pod of an admitted namespace reaches
Llama Stack, and its token is what the stack then refuses (tests/integration/stack/test_auth.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from llama_rollout.serving.objects import network_policy as serving_policy
from llama_rollout.serving.request import ServingRequest
from llama_rollout.stack.openshift import deploy_stack
from llama_rollout.stack.step import StackRequest
from tests.fake_kube import FakeKube
from tests.network_policy import Edge, Pod, Port
from tests.operator_policies import (
    APP_SERVER_LABELS,
    INGRESS_NAMESPACE,
    LIGHTSPEED_NAMESPACE,
    LIGHTSPEED_PORT,
    LLAMA_STACK_OPERATOR_NAMESPACE,
    REGISTRIES_NAMESPACE,
    REGISTRY_LABELS,
    ROUTER_LABELS,
    STEP_LABELS,
    lightspeed_app_server_policy,
    llama_stack_pod_labels,
    llama_stack_policy,
)
from tests.servers import serve_app

pytestmark = pytest.mark.integration

# The pipeline server's project as the shipped manifests name it; the versions are served there.
PIPELINE = "self-healing-platform"
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
PUBLISHER_POLICY = yaml.safe_load(
    (MANIFESTS / "lightspeed-publisher/networkpolicy.yaml").read_text()
)
MCP_POLICY = {
    **yaml.safe_load((MANIFESTS / "mcp-server/networkpolicy.yaml").read_text()),
    "metadata": {"name": "cluster-health-mcp-server", "namespace": PIPELINE},  # kustomize's
}
# A pipeline step: Kubeflow Pipelines' label on every v2 pod, and no label of the stack's.
STEP = Pod(PIPELINE, STEP_LABELS)
# A pod of the pipeline's namespace that is not a step: the stack's policy admits the
# namespace, the model's and the MCP server's do not.
NOTEBOOK = Pod(PIPELINE, {"app": "notebook", "notebook-name": "explore"})
LIGHTSPEED = Pod(LIGHTSPEED_NAMESPACE, APP_SERVER_LABELS)
VLLM = Pod(
    PIPELINE, {"serving.kserve.io/inferenceservice": "llama-abcdef0", "component": "predictor"}
)
MCP = Pod(PIPELINE, {"app.kubernetes.io/name": "cluster-health-mcp-server"})  # manifests/mcp-server
ROUTER = Pod(INGRESS_NAMESPACE, ROUTER_LABELS)
REGISTRY = Pod(REGISTRIES_NAMESPACE, REGISTRY_LABELS)
STRANGER = Pod("team-b", {"app": "notebook"})
# vLLM with auth on (the default): its auth proxy's port; vLLM's own, 8080, is closed.
STACK_PORT, VLLM_PORT, MCP_PORT = Port(8321), Port(8443, "https"), Port(3000)
VLLM_OWN_PORT = Port(8080)
LIGHTSPEED_APP_PORT = Port(LIGHTSPEED_PORT, "https")
NAMESPACES = {
    PIPELINE: {}, LIGHTSPEED_NAMESPACE: {}, "openshift-ingress": {"network.openshift.io/policy-group": "ingress"},
    "openshift-monitoring": {}, "openshift-console": {}, "rhoai-model-registries": {}, "team-b": {},
    LLAMA_STACK_OPERATOR_NAMESPACE: {},
}  # fmt: skip


@pytest.fixture
def fake() -> FakeKube:
    """A cluster with Lightspeed installed, the publisher's and the MCP server's manifests
    applied, and the model served for Lightspeed through Llama Stack."""
    fake = FakeKube()
    for name, labels in NAMESPACES.items():
        fake.add_namespace(name, labels)
    fake.put("networkpolicies", lightspeed_app_server_policy())
    fake.put("networkpolicies", yaml.safe_load(yaml.safe_dump(PUBLISHER_POLICY)))
    fake.put("networkpolicies", yaml.safe_load(yaml.safe_dump(MCP_POLICY)))
    serve(fake, "llama-stack")
    return fake


def serve(fake: FakeKube, endpoint: str) -> dict:
    """The serving step's NetworkPolicy for a request with ``endpoint``, as it applies it."""
    request = ServingRequest(
        model_name="llama", model_uri="s3://models/llama/", storage_path="llama", revision="abcdef0123",
        registered_model_id="", model_version_id="", data_connection="models",
        lightspeed_endpoint=endpoint,
    )  # fmt: skip
    policy = serving_policy(request.settings(PIPELINE, PIPELINE))
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "serving.kserve.io/inferenceservice": VLLM.labels["serving.kserve.io/inferenceservice"]
    }
    fake.put("networkpolicies", policy)
    return policy


def who(name: str, seen: list[str]):
    """A server that says who it is, and notes each request it gets."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def answer(request):
        seen.append(name)
        return PlainTextResponse(name)

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


@pytest.fixture
def servers() -> Iterator[tuple[dict[str, str], list[str]]]:
    """One loopback server per destination (name -> URL), and the names of those that answered."""
    seen: list[str] = []
    with contextlib.ExitStack() as stack:
        yield (
            {
                n: stack.enter_context(serve_app(who(n, seen)))
                for n in ("stack", "lightspeed", "vllm", "mcp", "registry")
            },
            seen,
        )


def operator(fake: FakeKube):
    """The Llama Stack operator's reconcile: its NetworkPolicy from the CR as it is now, its
    Deployment rolled out, the CR Ready."""

    def reconcile(llsd, fake):
        fake.put("networkpolicies", llama_stack_policy(llsd))
        name, namespace = llsd["metadata"]["name"], llsd["metadata"]["namespace"]
        fake.put(
            "deployments",
            {
                "metadata": {"name": name, "namespace": namespace, "generation": 1},
                "spec": {"replicas": 1},
                "status": rolled_out(1),
            },
        )
        llsd["status"] = {"phase": "Ready", "version": {"llamaStackServerVersion": "0.7.3"}}

    return reconcile


def rolled_out(generation: int) -> dict:
    return {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
    }


def deploy(
    cluster, fake: FakeKube, *, operator_installed: bool, endpoint: str = "llama-stack"
) -> Pod:
    """Run the stack step's deployment for a request with ``endpoint``; the stack's pod."""
    request = StackRequest(
        serving_url=f"https://llama-abcdef0-predictor.{PIPELINE}.svc.cluster.local:8443/v1",
        serving_model="llama", revision="abcdef0123", mcp_url="http://mcp:3000/mcp",
        lightspeed_endpoint=endpoint,
    )  # fmt: skip
    settings = request.settings(PIPELINE, f"system:serviceaccount:{PIPELINE}:pipeline-runner-dspa")
    fake.put("secrets", {"metadata": {"name": settings.vllm_token_secret, "namespace": PIPELINE},
                         "type": "kubernetes.io/service-account-token", "data": {"token": "dA=="}})  # fmt: skip
    if operator_installed:
        fake.on_read("llamastackdistributions", settings.name, operator(fake), namespace=PIPELINE)
    else:
        fake.without("llamastack.io")
        fake.on_read(
            "deployments", settings.name,
            lambda d, _: d.update(status=rolled_out(d["metadata"]["generation"])), namespace=PIPELINE,
        )  # fmt: skip
    deploy_stack(cluster, settings, timeout=30, interval=0.05)
    if operator_installed:
        return Pod(PIPELINE, llama_stack_pod_labels(settings.name))
    deployment = fake.get("deployments", settings.name, PIPELINE)
    return Pod(PIPELINE, deployment["spec"]["template"]["metadata"]["labels"])


def answered(fake, source: Pod, destination: Pod, port: Port, url: str, name: str) -> None:
    with Edge(fake, source, destination, port, url) as edge:
        assert requests.get(f"{edge.url}/v1/health", timeout=(30, 60)).text == name


def refused(fake, source: Pod, destination: Pod, port: Port, url: str, seen: list[str]) -> None:
    """The connection never opens (no answer, no reset): the client's connect timeout fires,
    and the server never sees it."""
    before = list(seen)
    with Edge(fake, source, destination, port, url) as edge:
        with pytest.raises(requests.ConnectTimeout):
            requests.get(f"{edge.url}/v1/query", timeout=(0.5, 5))
        assert not edge.admitted and edge.forwarded == 0
    assert seen == before


@pytest.mark.parametrize("operator_installed", [True, False], ids=["operator", "fallback"])
def test_every_path_of_a_run_is_open_with_the_projects_policies(
    cluster, fake, servers, operator_installed
):
    urls, seen = servers
    stack = deploy(cluster, fake, operator_installed=operator_installed)
    answered(fake, STEP, stack, STACK_PORT, urls["stack"], "stack")  # stack check, evaluation
    answered(fake, LIGHTSPEED, stack, STACK_PORT, urls["stack"], "stack")  # the published provider
    answered(fake, stack, VLLM, VLLM_PORT, urls["vllm"], "vllm")
    answered(fake, stack, MCP, MCP_PORT, urls["mcp"], "mcp")
    answered(fake, LIGHTSPEED, MCP, MCP_PORT, urls["mcp"], "mcp")  # lightspeed_mcp_server
    answered(fake, STEP, VLLM, VLLM_PORT, urls["vllm"], "vllm")  # tool-call check, lm-eval
    answered(fake, STEP, MCP, MCP_PORT, urls["mcp"], "mcp")  # the stack check, the evaluation
    answered(
        fake, STEP, LIGHTSPEED, LIGHTSPEED_APP_PORT, urls["lightspeed"], "lightspeed"
    )  # smoke question
    # The registry through its Route: the step to the router, the router to the registry.
    with Edge(fake, ROUTER, REGISTRY, Port(8443), urls["registry"]) as route:
        answered(fake, STEP, ROUTER, Port(443), route.url, "registry")
    # The policies are enforced: a pod of another project reaches none of them; one of the
    # pipeline's project reaches the stack (where its token is refused), and nothing else.
    for destination, port, name in (
        (stack, STACK_PORT, "stack"), (LIGHTSPEED, LIGHTSPEED_APP_PORT, "lightspeed"),
        (VLLM, VLLM_PORT, "vllm"), (MCP, MCP_PORT, "mcp"),
    ):  # fmt: skip
        refused(fake, STRANGER, destination, port, urls[name], seen)
    answered(fake, NOTEBOOK, stack, STACK_PORT, urls["stack"], "stack")
    refused(fake, NOTEBOOK, VLLM, VLLM_PORT, urls["vllm"], seen)
    refused(fake, NOTEBOOK, MCP, MCP_PORT, urls["mcp"], seen)
    # Lightspeed reaches vLLM only when it is published to call vLLM straight.
    refused(fake, LIGHTSPEED, VLLM, VLLM_PORT, urls["vllm"], seen)
    serve(fake, "vllm")
    answered(fake, LIGHTSPEED, VLLM, VLLM_PORT, urls["vllm"], "vllm")  # lightspeed_endpoint=vllm
    # vLLM's own port, behind the auth proxy, is open to no one: the proxy's check is not passed by.
    for client in (stack, STEP, LIGHTSPEED):
        refused(fake, client, VLLM, VLLM_OWN_PORT, urls["vllm"], seen)


@pytest.mark.parametrize(
    ("policy", "client", "server", "port", "name"),
    [
        (("networkpolicies", PIPELINE, "llama-abcdef0-clients"), STRANGER, VLLM, VLLM_PORT, "vllm"),
        (("networkpolicies", PIPELINE, "cluster-health-mcp-server"), STRANGER, MCP, MCP_PORT, "mcp"),
    ],
    ids=["vllm", "mcp-server"],
)  # fmt: skip
def test_each_policy_that_closes_a_server_is_what_keeps_strangers_out(
    fake, servers, policy, client, server, port, name
):
    urls, seen = servers
    refused(fake, client, server, port, urls[name], seen)
    refused(fake, NOTEBOOK, server, port, urls[name], seen)
    del fake.objects[(*policy, "networking.k8s.io")]
    answered(fake, client, server, port, urls[name], name)
    answered(fake, NOTEBOOK, server, port, urls[name], name)


def test_without_the_publisher_policy_the_smoke_question_times_out(fake, servers):
    urls, seen = servers
    # The namespace of the shipped policy is the one to edit: a pipeline elsewhere is refused.
    elsewhere = Pod("team-b", STEP.labels)
    refused(fake, elsewhere, LIGHTSPEED, LIGHTSPEED_APP_PORT, urls["lightspeed"], seen)
    # A pod of the pipeline's project that is not a pipeline step is refused too.
    refused(
        fake,
        Pod(PIPELINE, {"app": "notebook"}),
        LIGHTSPEED,
        LIGHTSPEED_APP_PORT,
        urls["lightspeed"],
        seen,
    )
    answered(fake, STEP, LIGHTSPEED, LIGHTSPEED_APP_PORT, urls["lightspeed"], "lightspeed")
    del fake.objects[
        (
            "networkpolicies",
            LIGHTSPEED_NAMESPACE,
            PUBLISHER_POLICY["metadata"]["name"],
            "networking.k8s.io",
        )
    ]
    refused(fake, STEP, LIGHTSPEED, LIGHTSPEED_APP_PORT, urls["lightspeed"], seen)


@pytest.mark.parametrize("operator_installed", [True, False], ids=["operator", "fallback"])
def test_lightspeed_is_refused_by_a_stack_that_does_not_admit_it(
    cluster, fake, servers, operator_installed
):
    urls, seen = servers
    # lightspeed_endpoint=vllm: no allowedFrom entry (operator), no peer for it (fallback).
    stack = deploy(cluster, fake, operator_installed=operator_installed, endpoint="vllm")
    refused(fake, LIGHTSPEED, stack, STACK_PORT, urls["stack"], seen)
    answered(fake, STEP, stack, STACK_PORT, urls["stack"], "stack")


@pytest.mark.parametrize(
    ("removed", "client"), [(LIGHTSPEED_NAMESPACE, LIGHTSPEED), (PIPELINE, STEP)],
    ids=["lightspeed", "pipeline"],
)  # fmt: skip
def test_removing_an_allowed_from_entry_refuses_its_clients(
    cluster, fake, servers, removed, client
):
    urls, seen = servers
    stack = deploy(cluster, fake, operator_installed=True)
    answered(fake, client, stack, STACK_PORT, urls["stack"], "stack")
    llsd = fake.get("llamastackdistributions", "llama-stack-abcdef0", PIPELINE)
    allowed = llsd["spec"]["network"]["allowedFrom"]["namespaces"]
    assert allowed == [LIGHTSPEED_NAMESPACE, PIPELINE]
    allowed.remove(removed)
    fake.read_hooks[("llamastackdistributions", PIPELINE, "llama-stack-abcdef0")](
        llsd, fake
    )  # reconciled
    refused(fake, client, stack, STACK_PORT, urls["stack"], seen)


def test_the_fallback_policy_is_what_keeps_strangers_out(cluster, fake, servers):
    urls, seen = servers
    stack = deploy(cluster, fake, operator_installed=False)
    refused(fake, STRANGER, stack, STACK_PORT, urls["stack"], seen)
    del fake.objects[
        ("networkpolicies", PIPELINE, "llama-stack-abcdef0-network-policy", "networking.k8s.io")
    ]
    answered(fake, STRANGER, stack, STACK_PORT, urls["stack"], "stack")
