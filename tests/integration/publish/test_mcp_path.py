"""The publish step's own call to the MCP server: before it writes anything, the prompt-budget
check lists the tools of the server it registers (``budget.check_before_publishing``). It goes
from the step's pod to the MCP server's through an Edge (tests/network_policy.py), so the MCP
project's NetworkPolicies decide it as on a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from llama_rollout.bounds import Bound, EndpointSilent
from llama_rollout.errors import StorageError
from llama_rollout.mcp_server import SnapshotCluster, bundled_snapshot
from llama_rollout.mcp_server.server import create_app
from llama_rollout.publish import budget
from llama_rollout.publish.request import PublishRequest
from llama_rollout.targets import Target
from tests.fake_kube import FakeKube
from tests.integration.publish.conftest import NS, STEP
from tests.network_policy import Edge, Pod, Port
from tests.servers import serve_app

pytestmark = pytest.mark.integration
MCP = Pod(NS, {"app.kubernetes.io/name": "cluster-health-mcp-server"})  # manifests/mcp-server
MCP_PORT = 3000


def to_the_mcp_server(name: str, **peer: dict) -> dict:
    """A policy on the MCP server's pods admitting ``peer`` on its port."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": dict(MCP.labels)}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": MCP_PORT}]}]},
    }  # fmt: skip


# The MCP server open to Llama Stack's pods only, then to the pipeline's steps too.
FROM_THE_STACK = to_the_mcp_server(
    "mcp-from-llama-stack", podSelector={"matchLabels": {"app": "llama-stack"}}
)
FROM_THE_STEPS = to_the_mcp_server(
    "mcp-from-pipeline-steps", podSelector={"matchLabels": dict(STEP.labels)}
)  # fmt: skip


class Counting:
    """The MCP server's app, counting the requests that reach it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.requests = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@pytest.fixture
def mcp_server() -> Iterator[tuple[str, Counting]]:
    app = Counting(create_app(SnapshotCluster(bundled_snapshot())))
    with serve_app(app) as url:
        yield url, app


def test_the_budget_check_lists_the_mcp_tools_only_where_the_mcp_project_admits_the_step(
    mcp_server, s3_connection, monkeypatch
):
    url, server = mcp_server
    fake = FakeKube()
    fake.add_namespace(NS)
    fake.put("networkpolicies", FROM_THE_STACK)
    # The step's bound on listing is 20 s of silence; a short one keeps the test short.
    monkeypatch.setattr(budget, "MCP", Bound(read=2))
    with Edge(fake, STEP, MCP, Port(MCP_PORT), url) as edge:
        request = PublishRequest(
            model_name="smol", serving_url="http://vllm:8000/v1", serving_model="smol",
            llama_stack_url="http://stack:8321", llama_stack_model_id="vllm/smol",
            mcp_url=f"{edge.url}/mcp", model_uri="s3://models/models/none/",
            data_connection="test-models",
        )  # fmt: skip
        with pytest.raises(EndpointSilent, match=r"the MCP server at .* did not answer within 2s"):
            budget.check_before_publishing(
                Target.OPENSHIFT, request.publication(), model_uri=request.model_uri,
                data_connection=request.data_connection,
            )  # fmt: skip
        assert server.requests == 0 and not edge.admitted and edge.forwarded == 0
        # Admitted, the tools are listed and the check goes on to the model's tokenizer
        # (none here: what it says proves it got past the MCP server).
        fake.put("networkpolicies", FROM_THE_STEPS)
        with pytest.raises(StorageError, match=r"has no tokenizer\.json"):
            budget.check_before_publishing(
                Target.OPENSHIFT, request.publication(), model_uri=request.model_uri,
                data_connection=request.data_connection,
            )  # fmt: skip
        assert server.requests > 0 and edge.admitted and edge.forwarded > 0
