"""The cluster-health MCP server: read-only tools over streamable HTTP at ``/mcp``, port 3000.

Run: ``python -m llama_rollout.mcp_server [--snapshot FILE] [--host H] [--port 3000]``.
Without ``--snapshot`` it reads the cluster through the Kubernetes API (in-cluster service
account, or the kubeconfig). Every failure a tool can foresee (unknown namespace, forbidden,
no metrics API) comes back as an MCP tool error with a sentence the model can relay.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from llama_rollout.errors import RolloutError
from llama_rollout.kube import Kube, api_client
from llama_rollout.mcp_server import health
from llama_rollout.mcp_server.access import TOKEN_ENV, RequireToken, server_token
from llama_rollout.mcp_server.cluster import ClusterSource, KubeCluster, SnapshotCluster

logger = logging.getLogger(__name__)

NAME = "cluster-health"
PORT = 3000

Namespace = Annotated[
    str | None, Field(description="Namespace to look in; omit for all namespaces")
]


def create_server(source: ClusterSource) -> Any:
    """An MCPServer with the cluster-health tools over ``source``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations

    server = MCPServer(
        NAME,
        instructions="Read-only health of an OpenShift/Kubernetes cluster: nodes, pods, events, "
        "deployments, cluster operators and resource usage. Start with cluster_health_summary.",
    )
    read_only = ToolAnnotations(
        readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
    )

    def tool(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return fn(*args, **kwargs)
            except RolloutError as exc:
                raise ToolError(str(exc)) from exc

        server.add_tool(wrapper, annotations=read_only, structured_output=True)
        return wrapper

    @tool
    def cluster_health_summary() -> dict[str, Any]:
        """Overall cluster health in one call: node readiness, unhealthy pods, deployments with
        missing replicas, degraded cluster operators, recent warning events, and a list of the
        problems found. Call this first for any question about the cluster's state."""
        return health.cluster_health_summary(source)

    @tool
    def node_status(
        name: Annotated[
            str | None, Field(description="One node's name; omit for all nodes")
        ] = None,
    ) -> dict[str, Any]:
        """Readiness of nodes and their pressure conditions (MemoryPressure, DiskPressure,
        PIDPressure, NetworkUnavailable), cordoning, roles, kubelet version and allocatable
        CPU/memory/GPU."""
        return health.node_status(source, name)

    @tool
    def unhealthy_pods(
        namespace: Namespace = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Maximum pods to return")] = 50,
    ) -> dict[str, Any]:
        """Pods that are crash-looping, failing to pull images, pending/unschedulable, failed,
        not ready or restarting often, most restarts first, with the reason, restart count, node
        and the last termination message."""
        return health.unhealthy_pods(source, namespace, limit)

    @tool
    def warning_events(
        namespace: Namespace = None,
        object_name: Annotated[
            str | None,
            Field(description="Only events about the object with this name (pod, node, ...)"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Maximum events to return")] = 20,
    ) -> dict[str, Any]:
        """Recent Warning events (BackOff, FailedScheduling, Unhealthy probes, OOM kills, ...),
        newest first, with the object, reason, message and count."""
        return health.warning_events(source, namespace, object_name, limit)

    @tool
    def deployment_status(
        namespace: Namespace = None,
        name: Annotated[
            str | None, Field(description="One Deployment's name; omit for all unhealthy ones")
        ] = None,
    ) -> dict[str, Any]:
        """Deployments whose available replicas are below the desired count or whose rollout
        failed, with desired/ready/available/updated replicas and the failing conditions."""
        return health.deployment_status(source, namespace, name)

    @tool
    def cluster_operator_status() -> dict[str, Any]:
        """OpenShift ClusterOperators that are degraded, unavailable or progressing, with the
        reason and message of each condition (OpenShift only)."""
        return health.cluster_operator_status(source)

    @tool
    def resource_usage(
        namespace: Namespace = None,
        top: Annotated[
            int, Field(ge=1, le=100, description="How many of the busiest pods to list")
        ] = 10,
    ) -> dict[str, Any]:
        """CPU and memory in use on each node (and percent of allocatable) and the pods using the
        most memory, from the metrics API (metrics.k8s.io)."""
        return health.resource_usage(source, namespace, top)

    return server


def create_app(source: ClusterSource, *, host: str = "127.0.0.1", token: str | None = None) -> Any:
    """The Starlette app serving MCP at ``/mcp`` (streamable HTTP); with ``token``, only to
    the clients that present it (``access``).

    ``host`` matters: bound to 127.0.0.1 the server rejects other Host headers (DNS-rebinding
    protection); in a pod it binds 0.0.0.0 and accepts the Service's name.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    server = create_server(source)
    security = None
    if host not in ("127.0.0.1", "localhost", "::1"):
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(host=host, transport_security=security)
    return RequireToken(app, token) if token else app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="cluster-health MCP server (read-only)")
    parser.add_argument(
        "--snapshot", help="serve a cluster snapshot file instead of the Kubernetes API"
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then KUBECONFIG)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.snapshot:
        source: ClusterSource = SnapshotCluster(args.snapshot)
    else:
        source = KubeCluster(Kube(api_client(args.kubeconfig)))
    token = server_token()
    logger.info(
        "serving %s on http://%s:%d/mcp (%s)",
        json.dumps(source.info()),
        args.host,
        args.port,
        f"clients present the token in {TOKEN_ENV}" if token else "no token required",
    )
    app = create_app(source, host=args.host, token=token)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
