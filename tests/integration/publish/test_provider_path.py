"""The path behind the smoke question: Lightspeed's app server asks the published provider from
its own pod in openshift-lightspeed, through an Edge (tests/network_policy.py).

Llama Stack (``lightspeed_endpoint=llama-stack``): the stack's NetworkPolicy is the Llama Stack
operator's (tests/operator_policies.py), written from the LlamaStackDistribution as the stack
step makes it, so whether Lightspeed may call the stack follows from the step's
``lightspeed_endpoint``, as on a cluster. vLLM (``lightspeed_endpoint=vllm``): the predictor's
project decides; with OpenShift's multitenant policies it admits its own pods only, and
Lightspeed's pod needs a policy of its own."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request

from llama_rollout.bounds import Bound
from llama_rollout.publish.lightspeed import PublishError
from llama_rollout.publish.openshift import publish as publish_on_openshift
from llama_rollout.stack.objects import stack_objects
from llama_rollout.stack.step import StackRequest
from tests.integration.publish.conftest import (
    LIGHTSPEED_NS,
    NS,
    REVISION_A,
    request_for,
)
from tests.network_policy import Edge, Pod, Port
from tests.operator_policies import LLAMA_STACK_PORT, llama_stack_pod_labels, llama_stack_policy
from tests.servers import serve_app

pytestmark = pytest.mark.integration
ANSWER = "The cluster is healthy."


@pytest.fixture
def stack() -> Iterator[tuple[str, list[dict]]]:
    """Llama Stack's OpenAI-compatible /v1 on loopback, recording each question and its bearer."""
    app, asked = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        asked.append({**await request.json(), "authorization": request.headers["authorization"]})
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}

    with serve_app(app) as url:
        yield url, asked


def stack_step(fake, endpoint: str) -> Pod:
    """What the stack step applies for ``endpoint`` and the operator's policy for it; the
    stack's pod."""
    request = StackRequest(
        serving_url=f"https://llama-3-2-3b-instruct-{REVISION_A[:7]}-predictor.{NS}.svc:8443/v1",
        serving_model="llama-3-2-3b-instruct", revision=REVISION_A,
        mcp_url=f"http://mcp.{NS}.svc:3000/mcp", lightspeed_endpoint=endpoint,
    )  # fmt: skip
    settings = request.settings(NS, f"system:serviceaccount:{NS}:pipeline-runner-dspa")
    assert settings.name == f"llama-stack-{REVISION_A[:7]}", "the stack the publish step names"
    (llsd,) = [o for o in stack_objects(settings, operator=True) if o["kind"] != "ConfigMap"]
    fake.put("llamastackdistributions", llsd)
    fake.put("networkpolicies", llama_stack_policy(llsd))  # the operator's reconcile
    return Pod(NS, llama_stack_pod_labels(settings.name))


@pytest.mark.parametrize("endpoint", ["llama-stack", "vllm"])
def test_lightspeed_reaches_the_stack_only_when_the_stack_step_admits_it(
    cluster, versions, tmp_path, stack, monkeypatch, endpoint
):
    fake, kube, lightspeed, url, operator = cluster
    stack_url, asked = stack
    stack_pod = stack_step(fake, endpoint)
    template = operator.deployment()["spec"]["template"]["metadata"]
    app_server = Pod(LIGHTSPEED_NS, dict(template["labels"]))
    request = request_for(REVISION_A, versions[0], url)  # publishes with endpoint=llama-stack
    # A refused provider never answers: a short bound on the step's question keeps the test short.
    bound = Bound(read=3)
    monkeypatch.setattr("llama_rollout.publish.question.LIGHTSPEED_QUERY", bound)
    with Edge(fake, app_server, stack_pod, Port(LLAMA_STACK_PORT), stack_url) as edge:
        lightspeed.upstreams[f"{request.llama_stack_url}/v1"] = f"{edge.url}/v1"
        if endpoint == "llama-stack":
            outcome = publish_on_openshift(request, tmp_path, kube=kube, token="runner")
            assert outcome.answer == ANSWER, "the answer is the stack's"
            assert [(a["model"], a["authorization"]) for a in asked] == [
                ("vllm/llama-3-2-3b-instruct", "Bearer model-client-token")
            ]
            assert edge.forwarded == 1 and edge.admitted
            return
        # A stack made for lightspeed_endpoint=vllm does not admit Lightspeed's pods.
        before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
        started = time.monotonic()
        with pytest.raises(PublishError, match="restored to its previous spec") as failed:
            publish_on_openshift(request, tmp_path, kube=kube, token="runner")
        assert time.monotonic() - started < 60
        assert f"did not answer within {bound.total:.0f}s" in str(failed.value)
        assert [a["provider"] for a in lightspeed.asked] == ["llamastack"], "Lightspeed was asked"
        assert asked == [] and not edge.admitted and edge.forwarded == 0, "the stack never was"
        assert fake.get("olsconfigs", "cluster")["spec"] == before


def test_a_provider_lightspeed_cannot_reach_is_a_502_that_says_where_to_look(
    cluster, versions, tmp_path, stack, monkeypatch
):
    # Lightspeed's own connect timeout fires before the step's: it answers 502 "[Network]
    # Unable to reach the LLM backend" (ols/utils/errors_parsing.py), and the step names the
    # NetworkPolicy and the URL, then restores.
    fake, kube, lightspeed, url, operator = cluster
    stack_url, asked = stack
    stack_pod = stack_step(fake, "vllm")  # a stack that does not admit Lightspeed's pods
    template = operator.deployment()["spec"]["template"]["metadata"]
    app_server = Pod(LIGHTSPEED_NS, dict(template["labels"]))
    request = request_for(REVISION_A, versions[0], url)
    lightspeed.provider_connect_timeout = 1.0
    monkeypatch.setattr("llama_rollout.publish.question.LIGHTSPEED_QUERY", Bound(read=30))
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    with Edge(fake, app_server, stack_pod, Port(LLAMA_STACK_PORT), stack_url) as edge:
        lightspeed.upstreams[f"{request.llama_stack_url}/v1"] = f"{edge.url}/v1"
        with pytest.raises(PublishError, match="restored to its previous spec") as failed:
            publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    message = str(failed.value)
    assert "Lightspeed answered 502" in message and "Unable to reach the LLM backend" in message
    assert "NetworkPolicy admits Lightspeed's pods" in message
    assert asked == [] and edge.forwarded == 0
    assert fake.get("olsconfigs", "cluster")["spec"] == before


# OpenShift's multitenant isolation (the docs' "Configuring multitenant isolation with network
# policy"): a project's pods admit the project's own.
SAME_NAMESPACE = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "allow-same-namespace", "namespace": NS},
    "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
}  # fmt: skip
# What a cluster admin adds for lightspeed_endpoint=vllm: the predictors, from Lightspeed's pods.
FROM_LIGHTSPEED = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "predictors-from-lightspeed", "namespace": NS},
    "spec": {
        "podSelector": {"matchLabels": {"component": "predictor"}}, "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{"namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": LIGHTSPEED_NS}}}],
            "ports": [{"protocol": "TCP", "port": 8443}],
        }],
    },
}  # fmt: skip


@pytest.mark.parametrize("admitted", [True, False], ids=["from-lightspeed", "same-namespace-only"])
def test_lightspeed_reaches_vllm_only_when_the_serving_project_admits_it(
    cluster, versions, tmp_path, stack, monkeypatch, admitted
):
    fake, kube, lightspeed, url, operator = cluster
    vllm_url, asked = stack  # the same OpenAI-compatible /v1 as vLLM's
    fake.put("networkpolicies", copy.deepcopy(SAME_NAMESPACE))
    if admitted:
        fake.put("networkpolicies", copy.deepcopy(FROM_LIGHTSPEED))
    template = operator.deployment()["spec"]["template"]["metadata"]
    app_server = Pod(LIGHTSPEED_NS, dict(template["labels"]))
    request = request_for(REVISION_A, versions[0], url, endpoint="vllm")
    # KServe's labels on the predictor's pods (its raw Deployment's template).
    predictor = Pod(NS, {"serving.kserve.io/inferenceservice": request.serving_name,
                         "component": "predictor"})  # fmt: skip
    bound = Bound(read=3)
    monkeypatch.setattr("llama_rollout.publish.question.LIGHTSPEED_QUERY", bound)
    with Edge(fake, app_server, predictor, Port(8443, "https"), vllm_url) as edge:
        lightspeed.upstreams[request.serving_url] = f"{edge.url}/v1"
        if admitted:
            outcome = publish_on_openshift(request, tmp_path, kube=kube, token="runner")
            assert outcome.answer == ANSWER, "the answer is vLLM's"
            # vLLM has auth on (enable_auth's default): Lightspeed presents its model client's.
            assert [(a["model"], a["authorization"]) for a in asked] == [
                ("llama-3-2-3b-instruct", "Bearer model-client-token")
            ]
            assert edge.forwarded == 1 and edge.admitted
            return
        before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
        with pytest.raises(PublishError, match="restored to its previous spec") as failed:
            publish_on_openshift(request, tmp_path, kube=kube, token="runner")
        assert f"did not answer within {bound.total:.0f}s" in str(failed.value)
        assert [a["provider"] for a in lightspeed.asked] == ["llamastack"], "Lightspeed was asked"
        assert asked == [] and not edge.admitted and edge.forwarded == 0, "vLLM never was"
        assert fake.get("olsconfigs", "cluster")["spec"] == before
