"""Where the cluster-health MCP server reads the cluster from: the Kubernetes API or a snapshot.

Both give the same raw API objects (camelCase JSON, as ``oc get -o json`` prints), so every tool
runs the same code on a live cluster and on a snapshot file. A snapshot is a YAML or JSON
mapping of kind to object list: ``nodes``, ``namespaces``, ``pods``, ``events``,
``deployments``, ``clusteroperators``, ``nodemetrics``, ``podmetrics``, plus an optional
``cluster`` block (name, version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import yaml

from llama_rollout.errors import RolloutError

# kind in a snapshot -> (apiVersion, Kind, namespaced) on the API
KINDS: dict[str, tuple[str, str, bool]] = {
    "nodes": ("v1", "Node", False),
    "namespaces": ("v1", "Namespace", False),
    "pods": ("v1", "Pod", True),
    "events": ("v1", "Event", True),
    "deployments": ("apps/v1", "Deployment", True),
    "clusteroperators": ("config.openshift.io/v1", "ClusterOperator", False),
    "nodemetrics": ("metrics.k8s.io/v1beta1", "NodeMetrics", False),
    "podmetrics": ("metrics.k8s.io/v1beta1", "PodMetrics", True),
}


class ClusterUnavailable(RolloutError):
    """The cluster does not serve what a tool needs (no metrics API, not OpenShift)."""


class UnknownNamespace(RolloutError):
    """A tool was asked about a namespace that does not exist."""


class ClusterSource(Protocol):
    """Read access to the cluster's objects."""

    def info(self) -> dict[str, str]: ...

    def serves(self, kind: str) -> bool: ...

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]: ...


def require_namespace(source: ClusterSource, namespace: str | None) -> None:
    """Raise UnknownNamespace (naming the known ones) when ``namespace`` does not exist."""
    if not namespace:
        return
    names = sorted(n["metadata"]["name"] for n in source.list("namespaces"))
    if namespace not in names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise UnknownNamespace(f"namespace {namespace!r} does not exist (namespaces: {shown})")


class SnapshotCluster:
    """A cluster captured in a file, for the embedded stack and tests."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            data = yaml.safe_load(self.path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RolloutError(f"cannot read the cluster snapshot {self.path}: {exc}") from exc
        if not isinstance(data, dict):
            raise RolloutError(
                f"{self.path} is not a cluster snapshot (expected a mapping of kinds)"
            )
        unknown = set(data) - set(KINDS) - {"cluster"}
        if unknown:
            raise RolloutError(
                f"{self.path}: unknown kinds {sorted(unknown)}; known: {sorted(KINDS)}"
            )
        self.data = data
        if "namespaces" not in data:
            names = {o["metadata"].get("namespace") for k in data if k in KINDS for o in data[k]}
            self.data["namespaces"] = [
                {"metadata": {"name": n}} for n in sorted(n for n in names if n)
            ]

    def info(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.data.get("cluster") or {}).items()} | {
            "source": f"snapshot {self.path.name}"
        }

    def serves(self, kind: str) -> bool:
        return kind in self.data

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        items = self.data.get(kind) or []
        if namespace:
            items = [o for o in items if o["metadata"].get("namespace") == namespace]
        return items


class KubeCluster:
    """The live cluster, through the Kubernetes API (in-cluster service account or kubeconfig)."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    def info(self) -> dict[str, str]:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            version = client.VersionApi(self.kube.api).get_code()
        except (ApiException, HTTPError):  # the version is a nicety; the tools still answer
            return {"source": "kubernetes api"}
        return {"kubernetes_version": version.git_version, "source": "kubernetes api"}

    def serves(self, kind: str) -> bool:
        api_version, kind_name, _ = KINDS[kind]
        return self.kube.serves(api_version, kind_name)

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        api_version, kind_name, namespaced = KINDS[kind]
        return self.kube.list(api_version, kind_name, namespace if namespaced else None)
