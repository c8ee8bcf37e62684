"""The MCP server's own access: the bearer token its clients present, when it has one.

The server reads the token from ``MCP_SERVER_TOKEN`` (on a cluster, from the Secret that
``mcp_token_secret`` names, when it exists; on the embedded stack, minted with the others) and
then answers a request to ``/mcp`` without it with 401 and ``WWW-Authenticate: Bearer``
(RFC 6750), as the MCP authorization spec has a resource server do. Its clients read the same
variable: the steps pass it as the Responses API's MCP tool ``authorization`` (Llama Stack
0.7.3 refuses an ``Authorization`` in the tool's ``headers``), or in their own MCP client's
header.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from llama_rollout import redaction
from llama_rollout.kube import Kube, KubeError

TOKEN_ENV = "MCP_SERVER_TOKEN"  # noqa: S105 - the name of a variable
REALM = "cluster-health-mcp-server"


def mcp_token() -> str | None:
    """The MCP server's token, for the server and for its clients; None when it has none."""
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    redaction.remember(token)
    return token


def bearer_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass
class Refusal:
    """The status of the MCP server's refusal, seen on the wire: the MCP client reports a
    401 as an internal error (-32603) and drops the status."""

    status: int = 0


def mcp_server(url: str, token: str | None, *, read_timeout: float, refusal: Refusal) -> Any:
    """What an ``mcp.Client`` connects to: a streamable HTTP transport that presents
    ``token`` (when there is one) and notes a 401 or 403 in ``refusal``."""
    return _connect(url, token, read_timeout, refusal)


@asynccontextmanager
async def _connect(
    url: str, token: str | None, read_timeout: float, refusal: Refusal
) -> AsyncIterator[Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def note(response: Any) -> None:
        if response.status_code in (401, 403):
            refusal.status = response.status_code

    http = httpx2.AsyncClient(
        headers=bearer_headers(token),
        timeout=httpx2.Timeout(30.0, read=read_timeout),
        event_hooks={"response": [note]},
    )
    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams


def token_from_secret(kube: Kube, namespace: str, name: str) -> str:
    """The ``token`` of Secret ``namespace/name``: what a step on a cluster presents to an MCP
    server that requires one (read through the API, so that a missing Secret is an error that
    says so, not a pod that never starts).

    Raises:
        KubeError: the Secret is missing, or has no key ``token``.
    """
    secret = kube.get("v1", "Secret", name, namespace)
    value = ((secret or {}).get("data") or {}).get("token")
    if not value:
        raise KubeError(
            f"no Secret {namespace}/{name} with a key token for the MCP server"
            if secret is None
            else f"Secret {namespace}/{name} has no key token for the MCP server",
            hint=f"create it with the token the server reads (manifests/mcp-server: "
            f"oc create secret generic {name} -n {namespace} --from-literal=token=...), or set "
            "mcp_token_secret to empty for a server that requires none",
        )
    token = base64.b64decode(value).decode().strip()
    redaction.remember(token)
    return token


class RequireToken:
    """An ASGI wrapper that lets through only the requests that carry ``token``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, given = header.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                await _refuse(send, presented=bool(header))
                return
        await self.app(scope, receive, send)


async def _refuse(send: Any, *, presented: bool) -> None:
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if presented else "")
    body = {
        "error": "invalid_token" if presented else "unauthorized",
        "error_description": "the bearer token is not this server's"
        if presented
        else "this server requires a bearer token",
    }
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
