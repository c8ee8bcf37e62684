"""Tool-calling preflight: one real chat request that proves vLLM parses tool calls.

vLLM only returns ``tool_calls`` when three things agree: ``--enable-auto-tool-choice``, a
``--tool-call-parser`` for the model's call format, and a chat template that renders the tools.
When they do not, the failure is quiet: the call comes back as text in ``content`` (parser or
template mismatch, e.g. JSON calls read by the ``pythonic`` parser), or the request is refused
with a 400 about auto tool choice. This check sends one request with a trivial tool and
``tool_choice: auto`` and names the mismatch and the flags that fix it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from llama_rollout.bounds import VLLM
from llama_rollout.errors import RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.redaction import excerpt

logger = logging.getLogger(__name__)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
}
PROMPT = "What is the weather in Paris right now? Use the get_weather tool."

# What a tool call looks like when it is left in the text, by convention; the wrapped forms
# first, since they also contain the bare JSON.
_CALL_IN_TEXT = {
    "hermes": re.compile(r"<tool_call>"),
    "llama": re.compile(r"<\|python_tag\|>"),
    "pythonic": re.compile(r"\[?\s*get_weather\s*\(\s*city\s*="),
    "json": re.compile(r'\{\s*"(name|function)"\s*:\s*"get_weather"'),
}


class ToolCallingError(RolloutError):
    """vLLM does not return parsed tool calls."""


@dataclass(frozen=True)
class ToolCallCheck:
    ok: bool
    message: str
    tool_calls: tuple[dict[str, Any], ...] = ()


def check_tool_calling(
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    ca_certs: str | None = None,
) -> ToolCallCheck:
    """Send one chat request with a tool and ``tool_choice: auto``; judge the reply.

    Args:
        base_url: the OpenAI-compatible base URL, ending in ``/v1``.
        model: the served model name.
        api_key: bearer token when the endpoint has auth on.
        ca_certs: a CA bundle for an HTTPS endpoint.

    Returns:
        ``ok`` with the parsed calls, or not ok with a message naming the fix.
    """
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "temperature": 0,
        "max_tokens": 128,
    }
    status, answer = request_json(
        "POST",
        f"{base_url.rstrip('/')}/chat/completions",
        body,
        bound=VLLM,
        what="the model server",
        token=api_key,
        ca_certs=ca_certs,
        unreachable=ToolCallingError,
    )
    text = answer if isinstance(answer, str) else json.dumps(answer)
    if status == 400 and "auto" in text and "tool" in text:
        return ToolCallCheck(
            False,
            "the server refuses tool_choice 'auto': start vLLM with --enable-auto-tool-choice "
            "--tool-call-parser <parser for the model> (llama3_json for Llama 3.x JSON calls)",
        )
    if status >= 400:
        return ToolCallCheck(
            False, f"the server answered {status} to a tool request: {excerpt(text, 300)}"
        )
    try:
        message = answer["choices"][0]["message"]
    except (TypeError, KeyError, IndexError):
        return ToolCallCheck(
            False, f"the server's answer is not a chat completion: {excerpt(text, 200)}"
        )
    calls = tuple(message.get("tool_calls") or ())
    if calls:
        names = ", ".join(c.get("function", {}).get("name", "?") for c in calls)
        return ToolCallCheck(True, f"tool calling works: the model called {names}", calls)
    content = message.get("content") or ""
    for style, pattern in _CALL_IN_TEXT.items():
        if pattern.search(content):
            return ToolCallCheck(False, _left_in_content(style, content))
    return ToolCallCheck(
        False,
        "the model answered without calling the tool (content: "
        f"{excerpt(content, 120)!r}); if it should call tools, check that --chat-template renders the "
        "tools for this model",
    )


def _left_in_content(style: str, content: str) -> str:
    fix = {
        "json": "--tool-call-parser=llama3_json (Llama 3.x) or hermes (<tool_call> JSON)",
        "hermes": "--tool-call-parser=hermes",
        "llama": "--tool-call-parser=llama3_json with the Llama 3.2 JSON chat template",
        "pythonic": "--tool-call-parser=pythonic (Llama 3.2 pythonic template) ",
    }[style]
    return (
        f"the model wrote a {style}-style tool call in content instead of tool_calls "
        f"({excerpt(content, 120)!r}): the --tool-call-parser does not match the model's call format; "
        f"use {fix.strip()} and a --chat-template of the same convention"
    )


def preflight(
    base_url: str,
    model: str,
    *,
    strict: bool,
    api_key: str | None = None,
    ca_certs: str | None = None,
) -> ToolCallCheck:
    """Run the check; fail when ``strict`` (the cluster), log a warning otherwise (the laptop)."""
    result = check_tool_calling(base_url, model, api_key=api_key, ca_certs=ca_certs)
    if result.ok:
        logger.info("tool-calling preflight: %s", result.message)
    elif strict:
        raise ToolCallingError(
            f"tool-calling preflight failed: {result.message}",
            hint="fix the serving flags, or relax the check with the pipeline parameter "
            "require_tool_calling=False",
        )
    else:
        logger.warning("tool-calling preflight: %s (not fatal on this target)", result.message)
    return result
