"""Is a Llama Stack server up, of a supported version, and wired to vLLM and to MCP?

Each check names the link that is broken:

* the server itself: ``/v1/health``, and ``/v1/version`` against the supported range;
* Llama Stack -> vLLM: the model is listed by ``/v1/models`` (discovered from vLLM at start-up)
  and one chat completion through Llama Stack succeeds;
* the MCP server itself: an MCP client from this step lists its tools;
* Llama Stack -> MCP: one Responses API call with the MCP server as a tool returns an
  ``mcp_list_tools`` item with those tools.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from llama_rollout.bounds import LLAMA_STACK_CALL, LLAMA_STACK_PROBE, MCP, Bound, EndpointSilent
from llama_rollout.errors import RolloutError, first_line
from llama_rollout.json_http import request_json
from llama_rollout.kube.identity import service_account_token
from llama_rollout.mcp_server.access import Refusal, mcp_server, responses_tool
from llama_rollout.redaction import excerpt
from llama_rollout.stack.config import check_version
from llama_rollout.stack.request import StackReport

logger = logging.getLogger(__name__)


MCP_ACCESS_HINT = (
    "the server requires the token of the Secret it reads (manifests/mcp-server: "
    "cluster-health-mcp-token): give that Secret's name in mcp_token_secret"
)


class StackLinkError(RolloutError):
    """A link of the chain (Llama Stack, vLLM, MCP) is broken; the message says which."""


class StackRefused(StackLinkError):
    """Llama Stack, or the MCP server, refused this step's token (401) or its principal (403)."""

    status: int = 0


def _request(
    method: str, url: str, body: dict[str, Any] | None = None, bound: Bound = LLAMA_STACK_PROBE
) -> tuple[int, Any]:
    """One call as the pipeline's runner: with the step's service-account token, which
    Llama Stack checks (``stack.access``)."""
    status, reply = request_json(
        method,
        url,
        body,
        bound=bound,
        what="Llama Stack",
        token=service_account_token(),
        unreachable=StackLinkError,
    )
    if status in (401, 403):
        path = url.split("/v1/", 1)[-1]
        refused = StackRefused(
            f"Llama Stack refused this step's call to /v1/{path} ({status}: {excerpt(reply, 200)})",
            hint="the stack admits the pipeline's runner by its service-account token: a 401 "
            "means no token or one the API server does not know (is the token mounted?), a "
            "403 a principal its route or access policy does not name (deploy the stack from "
            "this run, which admits its runner)",
        )
        refused.status = status
        raise refused
    return status, reply


def check_server(url: str, model_id: str) -> str:
    """Health, version guard, and the model through Llama Stack; returns the server version."""
    status, health = _request("GET", f"{url}/v1/health")
    if status != 200 or not isinstance(health, dict) or health.get("status") != "OK":
        raise StackLinkError(f"Llama Stack at {url} is not healthy: {status} {health}")
    _, version = _request("GET", f"{url}/v1/version")
    version_text = version.get("version", "") if isinstance(version, dict) else str(version)
    check_version(version_text)
    ids = listed_models(url)
    if model_id not in ids:
        raise StackLinkError(
            f"Llama Stack -> vLLM: Llama Stack at {url} does not list {model_id} (it lists {ids or 'no models'})",
            hint="Llama Stack discovers models from vLLM at start-up: check the vLLM base URL in its "
            "config, that vLLM serves the model, and restart Llama Stack once vLLM is up",
        )
    status, reply = _request(
        "POST",
        f"{url}/v1/chat/completions",
        {"model": model_id, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 8},
        bound=LLAMA_STACK_CALL,
    )
    if status != 200:
        raise StackLinkError(
            f"Llama Stack -> vLLM: a chat completion through Llama Stack failed ({status}: {reply})",
            hint="check that vLLM answers at the URL in Llama Stack's config (and its token)",
        )
    return version_text


def listed_models(url: str) -> list[str]:
    """The model ids ``/v1/models`` lists ([] when the server does not answer).

    Raises:
        StackRefused: the server refused this step's token.
    """
    try:
        status, models = _request("GET", f"{url}/v1/models")
    except StackRefused:
        raise
    except StackLinkError:
        return []
    if status != 200 or not isinstance(models, dict):
        return []
    return [m.get("id") for m in models.get("data") or []]


def mcp_tool_definitions(
    mcp_url: str, *, token: str | None = None, timeout: float = MCP.read
) -> list[dict[str, Any]]:
    """The tools an MCP server offers (name, description, inputSchema), asked directly with an
    MCP client (presenting ``token``, when the server requires one)."""
    from mcp import Client

    refusal = Refusal()

    async def definitions() -> list[dict[str, Any]]:
        async with Client(
            mcp_server(mcp_url, token, read_timeout=timeout, refusal=refusal)
        ) as client:
            tools = (await client.list_tools()).tools
            return [t.model_dump(by_alias=True, exclude_none=True) for t in tools]

    try:
        return sorted(
            asyncio.run(asyncio.wait_for(definitions(), timeout)), key=lambda t: t["name"]
        )
    except TimeoutError as exc:
        raise EndpointSilent("the MCP server", mcp_url, timeout) from exc
    except Exception as exc:  # the MCP client raises transport, protocol and timeout errors alike
        if refusal.status:
            raise StackRefused(
                f"MCP server: {mcp_url} refused this step ({refusal.status}, "
                f"{'its token' if token else 'no token'})",
                hint=MCP_ACCESS_HINT,
            ) from exc
        raise StackLinkError(
            f"MCP server: {mcp_url} is not a reachable MCP server ({type(exc).__name__}: {first_line(exc)})",
            hint="give the streamable HTTP endpoint of an MCP server, e.g. "
            "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
        ) from exc


def list_mcp_tools(
    mcp_url: str, *, token: str | None = None, timeout: float = MCP.read
) -> list[str]:
    """The names of the tools an MCP server offers (to a client presenting ``token``)."""
    return [t["name"] for t in mcp_tool_definitions(mcp_url, token=token, timeout=timeout)]


def check_mcp_through_stack(
    url: str, model_id: str, mcp_url: str, mcp_token: str | None = None
) -> list[str]:
    """One Responses API call with the MCP server as a tool; returns the tools Llama Stack saw.
    Llama Stack presents ``mcp_token`` as the MCP server's bearer token: the Responses API
    takes it in the tool's ``authorization`` (Llama Stack 0.7.3 refuses an Authorization in
    its ``headers``), and neither stores nor returns it."""
    try:
        status, reply = _request(
            "POST",
            f"{url}/v1/responses",
            {
                "model": model_id,
                "input": "Which cluster health tools can you use?",
                "tools": [responses_tool(mcp_url, mcp_token)],
                "tool_choice": "none",
                "max_output_tokens": 32,
            },
            bound=LLAMA_STACK_CALL,
        )
    except StackRefused as refused:
        if refused.status != 401:
            raise
        # Llama Stack answers 401 too when the MCP server refuses its call (its
        # AuthenticationRequiredError): whether the stack takes this step's token, ask it.
        _request("GET", f"{url}/v1/models")
        raise StackLinkError(
            f"Llama Stack -> MCP: the MCP server at {mcp_url} refused Llama Stack's call "
            f"({'with' if mcp_token else 'without'} a token)",
            hint=MCP_ACCESS_HINT,
        ) from refused
    if status != 200:
        raise StackLinkError(
            f"Llama Stack -> MCP: the Responses API call with the MCP server {mcp_url} failed ({status}: {reply})",
            hint="the MCP server answers this step but not Llama Stack: check that Llama Stack can reach "
            "that URL (service name, network policy) and that it is the /mcp endpoint",
        )
    listings = [item for item in reply.get("output", []) if item.get("type") == "mcp_list_tools"]
    if not listings:
        raise StackLinkError(
            f"Llama Stack -> MCP: the response has no mcp_list_tools item: {excerpt(reply, 300)}"
        )
    return sorted(t["name"] for t in listings[0].get("tools", []))


def verify_chain(
    url: str, model_id: str, mcp_url: str, mcp_token: str | None = None
) -> StackReport:
    """Every check, in order; the first broken link raises StackLinkError. ``mcp_token`` is
    the MCP server's, when it requires one."""
    version = check_server(url, model_id)
    direct = list_mcp_tools(mcp_url, token=mcp_token)
    seen = check_mcp_through_stack(url, model_id, mcp_url, mcp_token)
    if set(seen) != set(direct):
        raise StackLinkError(
            f"Llama Stack -> MCP: Llama Stack saw tools {seen}, the MCP server offers {direct}",
            hint="Llama Stack may be talking to another MCP server; check the URL",
        )
    logger.info(
        "Llama Stack %s at %s serves %s with %d MCP tools", version, url, model_id, len(seen)
    )
    return StackReport(url, version, model_id, mcp_url, seen)
