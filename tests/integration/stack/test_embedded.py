"""A real Llama Stack 0.7.3 process (from .venv-llama-stack): broken links are named, nothing half-started."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from llama_rollout import stack as stack_module
from llama_rollout.embedded.service_accounts import Identity
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.stack import embedded as llama_stack
from llama_rollout.stack import health as stack_health
from llama_rollout.stack.access import StackClients
from tests.otlp_receiver import otlp_receiver
from tests.servers import serve_app, start_token_authority

pytestmark = pytest.mark.integration


SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 2, 3  # OTLP's Span.SpanKind
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


def vllm_that_answers(model: str) -> object:
    """vLLM's two routes that a chat completion through Llama Stack takes: the model list and
    a non-streamed completion, answered as vLLM's OpenAI server shapes them."""
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/v1/models")(lambda: {"object": "list", "data": [{"id": model, "object": "model"}]})

    @app.post("/v1/chat/completions")
    def chat() -> dict:
        return {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "OK"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }  # fmt: skip

    return app


def test_the_stack_exports_a_trace_of_each_model_call_to_the_collector_given(local_stack):
    with (
        serve_app(vllm_that_answers("llama")) as vllm,
        otlp_receiver(("/v1/traces", "/v1/metrics")) as (collector, received),
    ):
        url = llama_stack.ensure_stack(
            local_stack, vllm_url=f"{vllm}/v1", served_model="llama", revision="r1",
            clients=CLIENTS, otlp_endpoint=collector,
        )  # fmt: skip
        token = Path(os.environ["KF_PIPELINES_SA_TOKEN_PATH"]).read_text()
        answer = requests.post(
            f"{url}/v1/chat/completions",
            json={"model": "vllm/llama", "messages": [{"role": "user", "content": "Say OK"}]},
            headers={"Authorization": f"Bearer {token}"}, timeout=60,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 60  # the SDK sends its batch every 5 s

        def served() -> list:
            return [s for s in received.spans if s.name == "POST /v1/chat/completions"]

        while time.monotonic() < deadline and not served():
            time.sleep(0.5)
    assert served(), f"no span of the chat completion among {[s.name for s in received.spans]}"
    server = served()[0]
    assert server.service == llama_stack.SERVICE
    assert server.kind == SPAN_KIND_SERVER
    assert (
        server.attributes.get(
            "http.response.status_code", server.attributes.get("http.status_code")
        )
        == 200
    )
    to_vllm = [
        s for s in received.spans
        if s.kind == SPAN_KIND_CLIENT and s.trace_id == server.trace_id
        and "/v1/chat/completions" in str(s.attributes.get("url.full", s.attributes.get("http.url")))
    ]  # fmt: skip
    assert to_vllm, "the call to vLLM is in the chat completion's trace"
    assert not [s for s in received.spans if "/v1/health" in s.name], "health probes are left out"
