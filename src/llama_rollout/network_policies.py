"""The NetworkPolicies the stages write: ingress only, for the pods of one server.

A policy admits its peers on its ports and nothing else reaches the pods it selects (policies
add up: another policy that selects them may admit more). A rule with no peers would admit
every source, so a policy with no peer has no rule at all.
"""

from __future__ import annotations

from typing import Any

NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label every namespace has, its name


def namespace_peer(namespace: str, pods: dict[str, str] | None = None) -> dict[str, Any]:
    """The pods of ``namespace`` (those with the labels ``pods``, or all of them)."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: namespace}}}
    if pods is not None:
        peer["podSelector"] = {"matchLabels": dict(pods)}
    return peer


def pods_peer(pods: dict[str, str]) -> dict[str, Any]:
    """The pods with the labels ``pods`` in the policy's own namespace."""
    return {"podSelector": {"matchLabels": dict(pods)}}


def ingress_policy(
    name: str,
    namespace: str,
    *,
    labels: dict[str, str],
    selects: dict[str, str],
    peers: list[dict[str, Any]],
    ports: list[int],
) -> dict[str, Any]:
    """A NetworkPolicy ``name`` that admits ``peers`` to the pods labelled ``selects``."""
    rules = [{"from": peers, "ports": [{"protocol": "TCP", "port": p} for p in ports]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "podSelector": {"matchLabels": dict(selects)},
            "policyTypes": ["Ingress"],
            "ingress": rules if peers else [],
        },
    }
