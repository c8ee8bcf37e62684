"""The NetworkPolicies the operators write, as their code writes them, and their pods' labels.

- Lightspeed: ``GenerateAppServerNetworkPolicy`` in openshift/lightspeed-operator
  ``internal/controller/appserver/assets.go`` (commit c0d47898), with the constants of
  ``internal/controller/utils/constants.go`` and the labels of ``GenerateAppServerSelectorLabels``
  (``internal/controller/utils/utils.go``), which are also the app server pods' labels
  (``internal/controller/appserver/deployment.go``).
- Llama Stack: the ODH fork opendatahub-io/llama-stack-k8s-operator (commit 76895fce),
  ``controllers/manifests/base/networkpolicy.yaml`` as ``pkg/deploy/plugins/
  networkpolicy_transformer.go`` fills it in for one LlamaStackDistribution, named by
  ``controllers/llamastackdistribution_controller.go`` (``<name>-network-policy``), port from
  ``pkg/deploy/utils.go`` ``GetServicePort``; on by default (``pkg/featureflags``
  ``NetworkPolicyDefaultValue = true``). Its pods' labels are ``controllers/manifests/base/
  deployment.yaml``'s.
- The Model Registry behind its Route: the default router's pods (the ingress operator's
  deployment label), the registry's, and a registries' namespace closed but to the routers (the
  label OpenShift puts on the ingress namespace), so that a step reaches it only through the
  Route. And the pipeline steps' label, which Kubeflow Pipelines puts on every v2 pod
  (kubeflow/pipelines backend/src/v2/compiler/argocompiler/argo.go, commit 7b70c7b).
"""

from __future__ import annotations

from typing import Any

LIGHTSPEED_NAMESPACE = "openshift-lightspeed"
LIGHTSPEED_PORT = 8443  # OLSAppServerContainerPort
APP_SERVER_LABELS = {
    "app.kubernetes.io/component": "application-server",
    "app.kubernetes.io/managed-by": "lightspeed-operator",
    "app.kubernetes.io/name": "lightspeed-service-api",
    "app.kubernetes.io/part-of": "openshift-lightspeed",
}
# The operator's namespace when GetOperatorNamespace finds none (pkg/deploy/kustomizer.go).
LLAMA_STACK_OPERATOR_NAMESPACE = "llama-stack-k8s-operator-system"
LLAMA_STACK_PORT = 8321  # DefaultServerPort


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def lightspeed_app_server_policy(namespace: str = LIGHTSPEED_NAMESPACE) -> dict[str, Any]:
    """The operator's ``lightspeed-app-server`` policy: 8443 from Prometheus in
    openshift-monitoring, the console, and namespaces labelled as the routers' policy group."""
    prometheus = {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": ["prometheus"]},
        {"key": "prometheus", "operator": "In", "values": ["k8s"]},
    ]}  # fmt: skip
    peers = [
        {"podSelector": prometheus,
         "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-monitoring"}}},
        {"podSelector": {"matchLabels": {"app": "console"}},
         "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-console"}}},
        {"namespaceSelector": {"matchLabels": {"network.openshift.io/policy-group": "ingress"}}},
    ]  # fmt: skip
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "lightspeed-app-server",
            "namespace": namespace,
            "labels": dict(APP_SERVER_LABELS),
        },
        "spec": {
            "podSelector": {"matchLabels": dict(APP_SERVER_LABELS)},
            "ingress": [{"from": [peer], "ports": _tcp(LIGHTSPEED_PORT)} for peer in peers],
            "egress": [],
            "policyTypes": ["Ingress"],
        },
    }


def llama_stack_pod_labels(name: str) -> dict[str, str]:
    """The operator's Llama Stack pods (its Deployment template)."""
    return {"app": "llama-stack", "app.kubernetes.io/instance": name}


def llama_stack_policy(
    llsd: dict[str, Any], operator_namespace: str = LLAMA_STACK_OPERATOR_NAMESPACE
) -> dict[str, Any]:
    """The operator's policy for one LlamaStackDistribution.

    The peers, in the transformer's order: pods labelled ``app.kubernetes.io/part-of:
    llama-stack`` with an empty namespaceSelector (its comment says "same namespace"; an empty
    selector is every namespace), the operator's namespace, each ``allowedFrom`` namespace and
    each namespace with an ``allowedFrom`` label key, and the routers when ``spec.network`` is
    set; ``allowedFrom.namespaces: ["*"]`` is every namespace instead.
    """
    name, spec = llsd["metadata"]["name"], llsd.get("spec") or {}
    network = spec.get("network")
    allowed = (network or {}).get("allowedFrom") or {}
    namespaces = allowed.get("namespaces") or []
    if "*" in namespaces:
        peers: list[dict[str, Any]] = [{"namespaceSelector": {}}]
    else:
        by_name = lambda ns: {"matchLabels": {"kubernetes.io/metadata.name": ns}}  # noqa: E731
        peers = [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "llama-stack"}},
             "namespaceSelector": {}},
            {"namespaceSelector": by_name(operator_namespace)},
            *({"namespaceSelector": by_name(ns)} for ns in namespaces),
            *({"namespaceSelector": {"matchExpressions": [{"key": key, "operator": "Exists"}]}}
              for key in allowed.get("labels") or []),
        ]  # fmt: skip
        if network is not None:
            ingress = {"matchLabels": {"network.openshift.io/policy-group": "ingress"}}
            peers.append({"namespaceSelector": ingress})
    port = ((spec.get("server") or {}).get("containerSpec") or {}).get("port") or LLAMA_STACK_PORT
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{name}-network-policy",
            "namespace": llsd["metadata"]["namespace"],
            "labels": {
                "app.kubernetes.io/managed-by": "llama-stack-operator",
                "app.kubernetes.io/part-of": "llama-stack",
            },
        },
        "spec": {
            "podSelector": {"matchLabels": llama_stack_pod_labels(name)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": _tcp(port)}],
        },
    }


STEP_LABELS = {"pipelines.kubeflow.org/v2_component": "true"}
INGRESS_NAMESPACE, REGISTRIES_NAMESPACE = "openshift-ingress", "rhoai-model-registries"
ROUTER_LABELS = {"ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"}
REGISTRY_LABELS = {"app": "registry", "component": "model-registry"}
REGISTRY_PORT = 8443


def routers_only_policy() -> dict[str, Any]:
    """The registries' namespace closed but to the routers, on the registry's port."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "registry-from-routers", "namespace": REGISTRIES_NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
            "from": [{"namespaceSelector": {
                "matchLabels": {"network.openshift.io/policy-group": "ingress"}}}],
            "ports": [{"protocol": "TCP", "port": REGISTRY_PORT}],
        }]},
    }  # fmt: skip
