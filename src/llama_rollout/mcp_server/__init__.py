"""The reference cluster-health MCP server that Llama Stack connects the model to."""

from llama_rollout.mcp_server.cluster import ClusterSource, KubeCluster, SnapshotCluster

__all__ = ["ClusterSource", "KubeCluster", "SnapshotCluster", "bundled_snapshot"]


def bundled_snapshot() -> str:
    """Path of the shipped demo snapshot: a realistic cluster with a few planted problems."""
    from importlib import resources

    return str(resources.files("llama_rollout.mcp_server") / "snapshots" / "demo-cluster.yaml")
