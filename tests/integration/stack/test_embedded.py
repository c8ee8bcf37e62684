"""A real Llama Stack 0.7.3 process (from .venv-llama-stack): broken links are named, nothing half-started."""

from __future__ import annotations

import pytest

from llama_rollout import stack as stack_module
from llama_rollout.embedded.service_accounts import Identity
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.stack import embedded as llama_stack
from llama_rollout.stack import health as stack_health
from llama_rollout.stack.access import StackClients
from tests.servers import start_token_authority

pytestmark = pytest.mark.integration


CLIENTS = StackClients(pipeline="system:serviceaccount:ai:pipeline-runner-dspa")


@pytest.fixture
def local_stack(tmp_path, monkeypatch):
    """An embedded stack with its token authority, and this test as the pipeline's runner."""
    stack = EmbeddedStack(tmp_path / "state")
    start_token_authority(stack)
    runner = stack.tokens.issue(Identity.of_principal(CLIENTS.pipeline))
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(runner))
    yield stack
    stack.down()


def test_a_stack_without_its_token_authority_is_not_started(tmp_path):
    stack = EmbeddedStack(tmp_path / "state")
    with pytest.raises(RolloutError, match="runs no token authority"):
        llama_stack.ensure_stack(
            stack, vllm_url="http://127.0.0.1:9/v1", served_model="llama", revision="r1",
            clients=CLIENTS,
        )  # fmt: skip
    assert stack.record(llama_stack.SERVICE) is None


def test_not_an_mcp_server_is_named(hub, make_model):
    url = hub({"acme/tiny": make_model()})
    with pytest.raises(
        stack_health.StackLinkError, match=r"MCP server: .* is not a reachable MCP server"
    ):
        stack_health.list_mcp_tools(f"{url}/mcp", timeout=10)
    with pytest.raises(stack_health.StackLinkError, match="is not a reachable MCP server"):
        stack_health.list_mcp_tools("http://127.0.0.1:9/mcp", timeout=10)


def test_vllm_that_refuses_names_the_link_and_stops_the_stack(local_stack):
    with pytest.raises(
        stack_health.StackLinkError, match=r"Llama Stack -> vLLM: .* does not list vllm/llama"
    ):
        llama_stack.ensure_stack(
            local_stack, vllm_url="http://127.0.0.1:9/v1", served_model="llama", revision="r1",
            clients=CLIENTS,
        )  # fmt: skip
    record = local_stack.record(llama_stack.SERVICE)
    assert record is None
    assert not any(
        s.name == llama_stack.SERVICE and s.running for s in local_stack.status().values()
    )


def test_rejected_config_fails_with_the_servers_reason(local_stack, monkeypatch):
    real = stack_module.stack_config

    def broken(**kwargs):
        config = real(**kwargs)
        config["providers"]["inference"][0]["provider_type"] = "remote::no-such-provider"
        return config

    monkeypatch.setattr(llama_stack, "stack_config", broken)
    with pytest.raises(
        RolloutError, match=r"Llama Stack did not start: .*exited during start-up"
    ) as excinfo:
        llama_stack.ensure_stack(
            local_stack, vllm_url="http://127.0.0.1:9/v1", served_model="llama", revision="r1",
            clients=CLIENTS,
        )  # fmt: skip
    assert "Provider `remote::no-such-provider` is not available for API" in str(excinfo.value)
    assert local_stack.record(llama_stack.SERVICE) is None
