"""The operators' NetworkPolicies admit whom their code admits (the cases of
llama-stack-k8s-operator's pkg/deploy/plugins/networkpolicy_transformer_test.go, and of
GenerateAppServerNetworkPolicy's three rules), evaluated as Kubernetes does."""

from __future__ import annotations

import pytest

from tests.network_policy import Pod, Port, admits
from tests.operator_policies import (
    APP_SERVER_LABELS,
    LLAMA_STACK_OPERATOR_NAMESPACE,
    lightspeed_app_server_policy,
    llama_stack_pod_labels,
    llama_stack_policy,
)

NAMESPACES = {
    ns: {"kubernetes.io/metadata.name": ns}
    for ns in ("ai", "team-b", "openshift-monitoring", "openshift-console", "openshift-lightspeed",
               LLAMA_STACK_OPERATOR_NAMESPACE)
}  # fmt: skip
NAMESPACES["openshift-ingress"] = {"kubernetes.io/metadata.name": "openshift-ingress",
                                   "network.openshift.io/policy-group": "ingress"}  # fmt: skip
NAMESPACES["team-c"] = {"kubernetes.io/metadata.name": "team-c", "myproject/lls-allowed": ""}
SOURCES = {
    "caller elsewhere": Pod("team-b", {"app.kubernetes.io/part-of": "llama-stack"}),
    "stranger here": Pod("ai", {"app": "notebook"}),
    "stranger elsewhere": Pod("team-b", {"app": "notebook"}),
    "operator namespace": Pod(LLAMA_STACK_OPERATOR_NAMESPACE, {"app": "anything"}),
    "lightspeed": Pod("openshift-lightspeed", APP_SERVER_LABELS),
    "router": Pod("openshift-ingress", {"app": "router"}),
    "labelled namespace": Pod("team-c", {"app": "notebook"}),
}
STACK = Pod("ai", llama_stack_pod_labels("llama"))


def llsd(network: dict | None = None, port: int | None = None) -> dict:
    spec: dict = {"server": {"containerSpec": {"port": port}} if port else {}}
    if network is not None:
        spec["network"] = network
    return {"metadata": {"name": "llama", "namespace": "ai"}, "spec": spec}


CASES = {
    "no network spec": (llsd(), {"caller elsewhere", "operator namespace"}),
    "explicit namespaces": (
        llsd({"allowedFrom": {"namespaces": ["openshift-lightspeed"]}}),
        {"caller elsewhere", "operator namespace", "lightspeed", "router"},
    ),
    "namespace label keys": (
        llsd({"allowedFrom": {"labels": ["myproject/lls-allowed"]}}),
        {"caller elsewhere", "operator namespace", "labelled namespace", "router"},
    ),
    "every namespace": (llsd({"allowedFrom": {"namespaces": ["*"]}}), set(SOURCES)),
    "a network spec alone admits the routers": (
        llsd({"exposeRoute": False}),
        {"caller elsewhere", "operator namespace", "router"},
    ),
}


@pytest.mark.parametrize(("cr", "admitted"), CASES.values(), ids=CASES.keys())
def test_the_llama_stack_operator_policy(cr, admitted):
    policy = llama_stack_policy(cr)
    assert policy["metadata"]["name"] == "llama-network-policy"
    allowed = {
        n for n, pod in SOURCES.items() if admits([policy], NAMESPACES, pod, STACK, Port(8321))
    }
    assert allowed == admitted
    assert not any(admits([policy], NAMESPACES, pod, STACK, Port(8080)) for pod in SOURCES.values())


def test_the_llama_stack_operator_policy_follows_the_container_port():
    policy = llama_stack_policy(llsd(port=9000))
    caller = SOURCES["caller elsewhere"]
    assert admits([policy], NAMESPACES, caller, STACK, Port(9000))
    assert not admits([policy], NAMESPACES, caller, STACK, Port(8321))


LIGHTSPEED_SOURCES = {
    "prometheus": (Pod("openshift-monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}), True),
    "another prometheus": (Pod("openshift-monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "user"}), False),
    "prometheus elsewhere": (Pod("team-b", {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}), False),
    "console": (Pod("openshift-console", {"app": "console"}), True),
    "console elsewhere": (Pod("team-b", {"app": "console"}), False),
    "router": (Pod("openshift-ingress", {"app": "router"}), True),
    "pipeline step": (Pod("ai", {"pipelines.kubeflow.org/v2_component": "true"}), False),
    "lightspeed itself": (Pod("openshift-lightspeed", APP_SERVER_LABELS), False),
}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "allowed"), LIGHTSPEED_SOURCES.values(), ids=LIGHTSPEED_SOURCES.keys()
)
def test_the_lightspeed_operator_policy(source, allowed):
    policy = lightspeed_app_server_policy()
    app_server = Pod("openshift-lightspeed", APP_SERVER_LABELS)
    assert admits([policy], NAMESPACES, source, app_server, Port(8443)) is allowed
    assert not admits([policy], NAMESPACES, source, app_server, Port(8080))
    # Other pods of the namespace are not the app server's business.
    assert admits(
        [policy], NAMESPACES, source, Pod("openshift-lightspeed", {"app": "postgres"}), Port(8080)
    )
