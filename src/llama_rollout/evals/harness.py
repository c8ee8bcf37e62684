"""Running a dataset through Llama Stack's Responses API, with the MCP server as a tool.

Each case is one conversation: its first turn starts a response, and each later turn continues
it through ``previous_response_id``. Llama Stack calls the MCP server itself; the response's
output items are the trajectory (``mcp_list_tools``: what was offered, ``mcp_call``: each call
with its arguments, output and error, ``message``: the text). Cases run with bounded
concurrency and a timeout each, ``trials`` times. A transport error (a dropped connection, a
5xx, a timeout of one request) is retried; an answer is never retried, however wrong.

The client is the ``openai`` SDK, async, pointed at Llama Stack's ``/v1`` (Llama Stack 0.7 is
OpenAI-compatible), with its own retries turned off so that this module's are the only ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.bounds import CONNECT, LLAMA_STACK_CALL
from llama_rollout.errors import RolloutError, first_line
from llama_rollout.evals.dataset import Case, Dataset, check_against_tools
from llama_rollout.mcp_server.access import responses_tool
from llama_rollout.step_parameters import parameter

logger = logging.getLogger(__name__)


class HarnessSettings(BaseModel):
    """How the cases run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_choice: Literal["auto", "required", "none"] = parameter(
        "auto",
        pipeline="eval_tool_choice",
        description="the Responses API's ``tool_choice``: auto, required or none.",
    )
    max_infer_iters: int = parameter(
        4,
        ge=1,
        le=20,
        pipeline="eval_max_infer_iters",
        description="Llama Stack's inference rounds per turn.",
    )
    max_tool_calls: int = parameter(
        4, ge=1, le=50, pipeline="eval_max_tool_calls", description="tool calls per turn."
    )
    # A rambling answer would run to the server's own limit (Llama Stack passes no cap of its
    # own to vLLM): cap it per turn.
    max_output_tokens: int = parameter(
        256,
        ge=16,
        le=1_048_576,
        pipeline="eval_max_output_tokens",
        description="the answer's token limit per turn.",
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    concurrency: int = parameter(
        4, ge=1, le=64, pipeline="eval_concurrency", description="cases at once."
    )
    case_timeout: float = Field(default=300.0, gt=0)
    trials: int = parameter(
        1,
        ge=1,
        le=20,
        pipeline="eval_trials",
        description="how many times each case runs (pass^k is over them).",
    )
    attempts: int = Field(default=3, ge=1, le=10)  # per request, transport errors only
    backoff: float = Field(default=1.0, ge=0)


@dataclass
class ToolCall:
    name: str
    arguments: str  # JSON text, as the model wrote it
    output: str = ""
    error: str | None = None


@dataclass
class TurnResult:
    input: str
    response_id: str = ""
    tools_offered: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 1


@dataclass
class CaseResult:
    """One trial of one case: its trajectory, or the error that stopped it."""

    case_id: str
    trial: int
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None  # transport errors after retries, or the case timeout

    @property
    def latency_s(self) -> float:
        return sum(t.latency_s for t in self.turns)

    @property
    def tokens(self) -> int:
        return sum(t.input_tokens + t.output_tokens for t in self.turns)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class HarnessError(RolloutError):
    """The evaluation cannot run as asked (the tools differ, the stack is down)."""


def check_tools(dataset: Dataset, tools: Sequence[dict[str, Any]], mcp_url: str) -> None:
    """Before any case runs: the server must offer every tool the dataset expects, able to take
    the expected arguments; otherwise every score would measure the wrong server."""
    offered = {t["name"] for t in tools}
    if missing := sorted(dataset.tools - offered):
        raise HarnessError(
            f"the MCP server at {mcp_url} does not offer {', '.join(missing)}, which dataset "
            f"{dataset.name} expects (it offers {', '.join(sorted(offered)) or 'no tools'})",
            hint="point mcp_url at the server the dataset was written for, or use a dataset "
            "for this server",
        )
    check_against_tools(dataset, tools)


async def run_dataset(
    client: Any,
    model: str,
    mcp_url: str,
    dataset: Dataset,
    settings: HarnessSettings,
    *,
    mcp_token: str | None = None,
) -> list[CaseResult]:
    """Run every case ``settings.trials`` times, at most ``settings.concurrency`` at once;
    Llama Stack presents ``mcp_token`` to the MCP server, when it requires one."""
    gate = asyncio.Semaphore(settings.concurrency)
    tool = responses_tool(mcp_url, mcp_token)
    done = 0
    total = len(dataset.cases) * settings.trials

    async def one(case: Case, trial: int) -> CaseResult:
        nonlocal done
        async with gate:
            result = CaseResult(case.id, trial)
            try:
                await asyncio.wait_for(
                    _run_case(client, model, tool, case, settings, result), settings.case_timeout
                )
            except TimeoutError:
                result.error = f"the case did not finish within {settings.case_timeout:.0f}s"
            except TransportFailure as exc:
                result.error = str(exc)
            done += 1
            if done % max(1, total // 10) == 0 or done == total:
                logger.info("evaluated %d/%d case trials", done, total)
            return result

    return list(
        await asyncio.gather(
            *(one(case, trial) for trial in range(settings.trials) for case in dataset.cases)
        )
    )


class TransportFailure(Exception):
    """Llama Stack could not be reached or failed every attempt: not the model's answer."""


async def _run_case(
    client: Any,
    model: str,
    tool: dict[str, Any],
    case: Case,
    settings: HarnessSettings,
    result: CaseResult,
) -> None:
    previous = None
    for turn in case.turns:
        request = {
            "model": model,
            "input": turn.input,
            "tools": [tool],
            "tool_choice": settings.tool_choice,
            "max_tool_calls": settings.max_tool_calls,
            "max_output_tokens": settings.max_output_tokens,
            "temperature": settings.temperature,
            "extra_body": {"max_infer_iters": settings.max_infer_iters},
            **({"previous_response_id": previous} if previous else {}),
        }
        started = time.monotonic()
        response, attempts = await _create(client, request, settings)
        record = read_response(turn.input, _as_dict(response))
        record.latency_s, record.attempts = time.monotonic() - started, attempts
        result.turns.append(record)
        previous = record.response_id


async def _create(
    client: Any, request: dict[str, Any], settings: HarnessSettings
) -> tuple[Any, int]:
    import openai

    for attempt in range(1, settings.attempts + 1):
        try:
            # The client's read timeout bounds each wait for a byte; this, the whole answer.
            async with asyncio.timeout(LLAMA_STACK_CALL.total):
                return await client.responses.create(**request), attempt
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.InternalServerError,
            TimeoutError,
        ) as exc:
            if attempt == settings.attempts:
                reason = (
                    f"no whole answer within {LLAMA_STACK_CALL.total:.0f}s"
                    if isinstance(exc, TimeoutError)
                    else first_line(exc)
                )
                raise TransportFailure(
                    f"Llama Stack failed {attempt} attempts ({type(exc).__name__}: {reason})"
                ) from exc
            await asyncio.sleep(settings.backoff * attempt)
        except openai.APIStatusError as exc:  # a 4xx: the request, not the network
            raise TransportFailure(
                f"Llama Stack refused the request ({exc.status_code}: {first_line(exc)})"
            ) from exc
    raise AssertionError("unreachable")


def read_response(user_input: str, response: dict[str, Any]) -> TurnResult:
    """A turn's trajectory from a Responses API response's output items."""
    record = TurnResult(input=user_input, response_id=str(response.get("id", "")))
    texts = []
    for item in response.get("output") or []:
        kind = item.get("type")
        if kind == "mcp_list_tools":
            record.tools_offered = sorted(t.get("name", "") for t in item.get("tools") or [])
        elif kind == "mcp_call":
            arguments = item.get("arguments")
            record.calls.append(
                ToolCall(
                    name=str(item.get("name", "")),
                    arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
                    output=str(item.get("output") or ""),
                    error=item.get("error") or None,
                )
            )
        elif kind == "message":
            for part in item.get("content") or []:
                if part.get("type") in ("output_text", "text") and part.get("text"):
                    texts.append(part["text"])
    record.text = "\n".join(texts)
    usage = response.get("usage") or {}
    record.input_tokens = int(usage.get("input_tokens") or 0)
    record.output_tokens = int(usage.get("output_tokens") or 0)
    return record


def _as_dict(response: Any) -> dict[str, Any]:
    return response.model_dump() if hasattr(response, "model_dump") else dict(response)


def openai_client(base_url: str, api_key: str = "none") -> Any:
    """The async ``openai`` client for Llama Stack's ``/v1``, bounded, without its own retries."""
    import httpx2
    import openai

    timeout = httpx2.Timeout(LLAMA_STACK_CALL.read, connect=CONNECT)
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
