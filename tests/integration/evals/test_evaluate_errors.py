"""An evaluation that cannot measure anything says so: the MCP server down, Llama Stack down or
failing every case, an empty or malformed dataset, a server without the dataset's tools. Never
a silent score of 0."""

from __future__ import annotations

import pytest
import yaml

from llama_rollout.errors import RolloutError
from llama_rollout.evals.dataset import DatasetError
from llama_rollout.evals.harness import HarnessError, HarnessSettings
from llama_rollout.evals.step import EvaluationRequest, evaluate
from llama_rollout.mcp_server import bundled_snapshot
from llama_rollout.mcp_server.cluster import SnapshotCluster
from llama_rollout.mcp_server.server import create_app
from llama_rollout.stack.health import StackLinkError
from tests.servers import SilentServer, serve_app

pytestmark = pytest.mark.integration
CLOSED = "http://127.0.0.1:9"
MODEL = "vllm/smollm2-135m-instruct"


@pytest.fixture(scope="module")
def mcp_url():
    with serve_app(create_app(SnapshotCluster(bundled_snapshot()))) as url:
        yield f"{url}/mcp"


def llama_stack_that_fails_every_response():
    """Answers what the preflight asks, as Llama Stack 0.7.3 does, then 500 to every Responses
    API call: a stack whose provider broke after start-up."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    app.get("/v1/health")(lambda: {"status": "OK"})
    app.get("/v1/version")(lambda: {"version": "0.7.3"})
    app.get("/v1/models")(lambda: {"data": [{"id": MODEL, "object": "model"}]})

    @app.post("/v1/chat/completions")
    def chat() -> dict:
        return {"choices": [{"message": {"role": "assistant", "content": "OK"}}]}

    @app.post("/v1/responses")
    def responses() -> JSONResponse:
        return JSONResponse({"error": {"message": "provider vllm failed"}}, status_code=500)

    return app


def request(tmp_path, **values):
    defaults = {"llama_stack_url": CLOSED, "model_id": MODEL, "mcp_url": CLOSED,
                "harness": HarnessSettings(attempts=2, backoff=0)}  # fmt: skip
    return EvaluationRequest(**{**defaults, **values})


def test_the_mcp_server_down_is_named_before_llama_stack_is_asked(tmp_path):
    with SilentServer() as stack:
        with pytest.raises(
            StackLinkError, match=r"MCP server: http://127.0.0.1:9 is not a reachable"
        ):
            evaluate(request(tmp_path, llama_stack_url=stack.url), tmp_path)
        assert stack.accepted == [], "Llama Stack was asked before the MCP server was checked"
    assert not (tmp_path / "results.jsonl").exists()


def test_llama_stack_down_is_named(tmp_path, mcp_url):
    with pytest.raises(RolloutError, match=r"127.0.0.1:9"):
        evaluate(request(tmp_path, mcp_url=mcp_url), tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_a_stack_that_fails_every_case_is_an_error_not_a_zero(tmp_path, mcp_url):
    with (
        serve_app(llama_stack_that_fails_every_response()) as stack,
        pytest.raises(HarnessError, match=r"no case of cluster-health ran: Llama Stack failed 2"),
    ):
        evaluate(
            request(tmp_path, llama_stack_url=stack, mcp_url=mcp_url, cases=("hello", "joke")),
            tmp_path,
        )
    assert not (tmp_path / "summary.md").exists()


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"name": "empty", "cases": []}, r"cases: Tuple should have at least 1 item"),
        ({"name": "bad", "cases": [{"id": "c1", "turns": [{"input": "hi", "expected_calls": "x"}]}]},
         r"case c1, turn 1: expected_calls"),
        ({"name": "other", "cases": [{"id": "restart", "turns": [
            {"input": "Restart payments-api", "expected_calls": [{"restart_pod": {}}]}]}]},
         r"does not offer restart_pod, which dataset other expects"),
    ],
)  # fmt: skip
def test_a_dataset_that_cannot_run_is_refused_before_any_case(document, says, tmp_path, mcp_url):
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(document))
    with SilentServer() as stack:
        with pytest.raises((DatasetError, HarnessError), match=says):
            evaluate(request(tmp_path, llama_stack_url=stack.url, mcp_url=mcp_url,
                             dataset=str(path)), tmp_path / "out")  # fmt: skip
        assert stack.accepted == []


def test_an_mcp_server_that_requires_a_token_gets_it_from_the_step_and_through_the_stack(
    tmp_path, monkeypatch
):
    from fastapi import Request

    from llama_rollout.embedded.secrets import ensure_token
    from llama_rollout.kube.errors import KubeError
    from llama_rollout.kube.secrets import SECRETS_DIR_ENV
    from llama_rollout.mcp_server.access import TOKEN_SECRET

    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path / "secrets"))
    token = ensure_token(tmp_path / "secrets", TOKEN_SECRET)
    stack = llama_stack_that_fails_every_response()
    tools_sent: list = []

    @stack.middleware("http")
    async def note_the_tools(request: Request, call_next):
        if request.url.path == "/v1/responses":
            tools_sent.append((await request.json())["tools"])
        return await call_next(request)

    guarded = create_app(SnapshotCluster(bundled_snapshot()), token=token)
    with serve_app(guarded) as mcp, serve_app(stack) as stack_url:
        asked = request(tmp_path, llama_stack_url=stack_url, mcp_url=f"{mcp}/mcp", cases=("hello",))
        # No Secret named: the server's 401 is named, before Llama Stack is asked.
        with pytest.raises(StackLinkError, match=r"refused this step \(401, no token\)"):
            evaluate(asked, tmp_path / "none")
        with pytest.raises(KubeError, match=r"no token in Secret .*/another"):
            evaluate(asked.model_copy(update={"mcp_token_secret": "another"}), tmp_path / "x")
        assert tools_sent == []
        with pytest.raises(HarnessError, match="no case of cluster-health ran"):
            evaluate(asked.model_copy(update={"mcp_token_secret": TOKEN_SECRET}), tmp_path / "ok")
    assert tools_sent and all(
        tools == [{"type": "mcp", "server_label": "cluster-health", "server_url": f"{mcp}/mcp",
                   "require_approval": "never", "authorization": token}]
        for tools in tools_sent
    )  # fmt: skip
