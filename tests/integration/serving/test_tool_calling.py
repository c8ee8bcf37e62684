"""The tool-calling preflight against an OpenAI-compatible server that answers like vLLM does."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from llama_rollout.serving import tool_calling
from tests.servers import serve_app

pytestmark = pytest.mark.integration

NO_AUTO = {
    "error": {
        "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
        "type": "BadRequestError", "code": 400,
    }
}  # fmt: skip


def vllm_like(message: dict | None = None, status: int = 200, body: dict | None = None):
    seen: list[dict] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        seen.append(await request.json())
        if status != 200:
            return JSONResponse(body, status_code=status)
        return JSONResponse(
            {"choices": [{"index": 0, "message": {"role": "assistant", **message}}]}
        )

    return app, seen


def run_check(app) -> tool_calling.ToolCallCheck:
    with serve_app(app) as url:
        return tool_calling.check_tool_calling(f"{url}/v1", "llama")


def test_parsed_tool_calls_pass():
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    app, seen = vllm_like({"content": None, "tool_calls": [call]})
    result = run_check(app)
    assert result.ok and "called get_weather" in result.message
    request = seen[0]
    assert (
        request["tool_choice"] == "auto"
        and request["tools"][0]["function"]["name"] == "get_weather"
    )


@pytest.mark.parametrize(
    ("content", "fix"),
    [
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}', "llama3_json"),
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            "--tool-call-parser=hermes",
        ),
        ('[get_weather(city="Paris")]', "--tool-call-parser=pythonic"),
        ('<|python_tag|>{"name": "get_weather"}', "llama3_json"),
    ],
    ids=["json", "hermes", "pythonic", "python-tag"],
)
def test_call_left_in_content_names_the_parser_to_use(content, fix):
    app, _ = vllm_like({"content": content, "tool_calls": []})
    result = run_check(app)
    assert not result.ok
    assert "instead of tool_calls" in result.message and fix in result.message


def test_server_without_auto_tool_choice_names_the_flags():
    app, _ = vllm_like(status=400, body=NO_AUTO)
    result = run_check(app)
    assert not result.ok
    assert "--enable-auto-tool-choice" in result.message and "--tool-call-parser" in result.message


def test_prose_answer_is_not_a_pass():
    app, _ = vllm_like({"content": "It is sunny in Paris.", "tool_calls": []})
    result = run_check(app)
    assert not result.ok and "without calling the tool" in result.message


def test_strict_fails_and_lenient_warns(caplog):
    app, _ = vllm_like(status=400, body=NO_AUTO)
    with serve_app(app) as url:
        with pytest.raises(tool_calling.ToolCallingError, match="require_tool_calling=False"):
            tool_calling.preflight(f"{url}/v1", "llama", strict=True)
        result = tool_calling.preflight(f"{url}/v1", "llama", strict=False)
    assert not result.ok
    assert "not fatal on this target" in caplog.text


def test_unreachable_server():
    with pytest.raises(tool_calling.ToolCallingError, match="the model server is unreachable at"):
        tool_calling.check_tool_calling("http://127.0.0.1:9/v1", "llama")


def test_bearer_token_is_sent():
    app = FastAPI()
    headers: list[str] = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        headers.append(request.headers.get("authorization", ""))
        return JSONResponse({"choices": [{"message": {"content": "hi"}}]})

    with serve_app(app) as url:
        tool_calling.check_tool_calling(f"{url}/v1", "llama", api_key="s3cret")
    assert headers == ["Bearer s3cret"]
