"""The cluster-health MCP server, called tool by tool through a real MCP client over HTTP."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llama_rollout.mcp_server import KubeCluster, SnapshotCluster, bundled_snapshot
from llama_rollout.mcp_server.cluster import KINDS
from llama_rollout.mcp_server.server import create_app
from tests.servers import serve_app

pytestmark = pytest.mark.integration
TOOLS = {
    "cluster_health_summary", "node_status", "unhealthy_pods", "warning_events",
    "deployment_status", "cluster_operator_status", "resource_usage",
}  # fmt: skip


async def _session(
    url: str, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[Any], list[Any]]:
    from mcp import Client

    async with Client(f"{url}/mcp") as client:
        tools = (await client.list_tools()).tools
        results = [await client.call_tool(name, args) for name, args in calls]
    return tools, results


def call_all(source, calls: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], list[Any]]:
    with serve_app(create_app(source)) as url:
        tools, results = asyncio.run(_session(url, calls))
    return {t.name: t for t in tools}, results


def payload(result) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result) -> str:
    assert result.is_error
    return result.content[0].text


CALLS = [
    ("cluster_health_summary", {}),
    ("node_status", {}),
    ("unhealthy_pods", {}),
    ("unhealthy_pods", {"namespace": "payments"}),
    ("warning_events", {"namespace": "payments", "limit": 5}),
    ("warning_events", {"object_name": "worker-1"}),
    ("deployment_status", {}),
    ("cluster_operator_status", {}),
    ("resource_usage", {"top": 3}),
    ("unhealthy_pods", {"namespace": "no-such-namespace"}),
]


def check_planted_problems(tools: dict[str, Any], results: list[Any]) -> None:
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 60, tool.name
        assert tool.input_schema["type"] == "object"
    assert tools["unhealthy_pods"].input_schema["properties"]["namespace"]
    (
        summary,
        nodes,
        pods,
        payments,
        events,
        node_events,
        deployments,
        operators,
        usage,
        unknown,
    ) = results

    summary = payload(summary)
    assert summary["healthy"] is False
    assert (
        summary["cluster"].get("version") == "4.18.12"
        or summary["cluster"]["kubernetes_version"] == "v1.31.6"
    )
    problems = "\n".join(summary["problems"])
    for planted in (
        "payments/payments-api",
        "checkout-frontend",
        "worker-1 has MemoryPressure",
        "image-registry",
    ):
        assert planted in problems, planted

    nodes = {n["name"]: n for n in payload(nodes)["nodes"]}
    assert (
        nodes["worker-1"]["pressure"] == ["MemoryPressure"] and nodes["worker-0"]["pressure"] == []
    )
    assert nodes["gpu-worker-0"]["allocatable"]["nvidia.com/gpu"] == "1"

    pods = {p["name"]: p for p in payload(pods)["pods"]}
    crash = pods["payments-api-5b8c9d7f6-qt4zl"]
    assert crash["reason"] == "CrashLoopBackOff" and crash["restarts"] == 14
    assert (
        "OOMKilled" in crash["last_termination"] and "OutOfMemoryError" in crash["last_termination"]
    )
    assert pods["checkout-frontend-84f7c6d9b-2lqxz"]["reason"] == "ImagePullBackOff"
    assert pods["llama-3-2-3b-predictor-5d6c7b8a9-zz4wq"]["reason"] == "Unschedulable"
    assert "prometheus-k8s-0" not in pods
    assert [p["name"] for p in payload(payments)["pods"]] == ["payments-api-5b8c9d7f6-qt4zl"]

    events = payload(events)["events"]
    assert len(events) == 2 and events[0]["reason"] == "BackOff"  # newest first, Normal left out
    assert {e["reason"] for e in payload(node_events)["events"]} == {
        "NodeHasInsufficientMemory",
        "EvictionThresholdMet",
    }

    unhealthy = {d["name"]: d for d in payload(deployments)["deployments"]}
    assert set(unhealthy) == {"payments-api", "checkout-frontend"}
    assert (
        unhealthy["checkout-frontend"]["available"],
        unhealthy["checkout-frontend"]["desired"],
    ) == (0, 3)
    assert (
        "ProgressDeadlineExceeded"
        in unhealthy["checkout-frontend"]["failing_conditions"]["Progressing"]
    )

    operators = payload(operators)["not_healthy"]
    assert [o["name"] for o in operators] == ["image-registry"] and operators[0]["degraded"]
    assert "StorageNotConfigured" in operators[0]["conditions"]["Degraded"]

    usage = payload(usage)
    worker1 = next(n for n in usage["nodes"] if n["node"] == "worker-1")
    assert worker1["memory_percent"] == pytest.approx(95.3, abs=0.1)
    assert usage["top_pods_by_memory"][0]["pod"] == "openshift-monitoring/prometheus-k8s-0"
    assert len(usage["top_pods_by_memory"]) == 3

    assert "namespace 'no-such-namespace' does not exist" in error_text(unknown)


def test_every_tool_on_the_bundled_snapshot():
    tools, results = call_all(SnapshotCluster(bundled_snapshot()), CALLS)
    check_planted_problems(tools, results)


@pytest.fixture
def snapshot_on_fake_api(fake):
    """The bundled snapshot's objects, served by the fake Kubernetes API."""
    data = yaml.safe_load(Path(bundled_snapshot()).read_text())
    fake.objects.clear()
    for kind, (api_version, _, _) in KINDS.items():
        plural = {"nodemetrics": "nodes", "podmetrics": "pods"}.get(kind, kind)
        for obj in data.get(kind, []):
            fake.put(plural, copy.deepcopy({"apiVersion": api_version, **obj}))
    return fake


def test_every_tool_on_the_kubernetes_api(snapshot_on_fake_api, cluster):
    tools, results = call_all(KubeCluster(cluster), CALLS)
    check_planted_problems(tools, results)


def test_forbidden_and_missing_apis_are_tool_errors(snapshot_on_fake_api, cluster):
    snapshot_on_fake_api.forbidden.add(("list", "events"))
    snapshot_on_fake_api.without("metrics.k8s.io")
    snapshot_on_fake_api.without("config.openshift.io")
    _, (events, usage, operators) = call_all(
        KubeCluster(cluster),
        [("warning_events", {}), ("resource_usage", {}), ("cluster_operator_status", {})],
    )
    assert "lacks permission to list events" in error_text(events)
    assert "metrics API (metrics.k8s.io) is not available" in error_text(usage)
    assert "not OpenShift" in error_text(operators)


def test_with_a_token_the_server_admits_only_the_clients_that_present_it():
    import requests

    from llama_rollout.stack.health import StackRefused, list_mcp_tools

    source = SnapshotCluster(bundled_snapshot())
    with serve_app(create_app(source, token="s3cret-mcp-token")) as url:
        assert set(list_mcp_tools(f"{url}/mcp", token="s3cret-mcp-token", timeout=30)) == TOOLS
        for given, said in (("another-token", "its token"), (None, "no token")):
            with pytest.raises(StackRefused, match=rf"refused this step \(401, {said}\)") as caught:
                list_mcp_tools(f"{url}/mcp", token=given, timeout=30)
            assert "mcp_token_secret" in caught.value.hint
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        none = requests.post(f"{url}/mcp", json=body, timeout=10)
        assert none.status_code == 401
        assert none.headers["WWW-Authenticate"] == 'Bearer realm="cluster-health-mcp-server"'
        wrong = requests.post(f"{url}/mcp", json=body, headers={"Authorization": "Bearer x"},
                              timeout=10)  # fmt: skip
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert "s3cret" not in none.text + wrong.text


def test_a_step_reads_the_token_from_the_secret_on_either_target(
    tmp_path, monkeypatch, fake, cluster
):
    import base64

    from llama_rollout.embedded.secrets import ensure_token
    from llama_rollout.kube import KubeError
    from llama_rollout.kube.secrets import SECRETS_DIR_ENV
    from llama_rollout.mcp_server.access import TOKEN_SECRET, client_token
    from llama_rollout.redaction import redact

    # The embedded stack: minted once, kept, the owner's alone; read from the folder.
    folder = tmp_path / "secrets"
    token = ensure_token(folder, TOKEN_SECRET)
    assert ensure_token(folder, TOKEN_SECRET) == token
    assert (folder / TOKEN_SECRET / "token").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(SECRETS_DIR_ENV, str(folder))
    assert client_token("ai", TOKEN_SECRET) == token
    assert client_token("ai", "") is None, "no Secret named: no token required"
    with pytest.raises(KubeError, match=r"no token in Secret ai/another") as caught:
        client_token("ai", "another")
    assert "oc create secret generic another" in caught.value.hint
    # A cluster: read through the API, and redacted from then on.
    monkeypatch.delenv(SECRETS_DIR_ENV)
    encoded = base64.b64encode(b"api-held-mcp-token\n").decode()
    fake.put("secrets", {"metadata": {"name": TOKEN_SECRET, "namespace": "ai"},
                         "data": {"token": encoded}})  # fmt: skip
    assert client_token("ai", TOKEN_SECRET, kube=cluster) == "api-held-mcp-token"
    assert "api-held-mcp-token" not in redact("the server said api-held-mcp-token")
    fake.put("secrets", {"metadata": {"name": TOKEN_SECRET, "namespace": "ai"}, "data": {}})
    with pytest.raises(KubeError, match=r"no token in Secret ai/cluster-health-mcp-token"):
        client_token("ai", TOKEN_SECRET, kube=cluster)
