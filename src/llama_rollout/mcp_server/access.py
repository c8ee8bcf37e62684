"""The MCP server's own access: the bearer token its clients present, when it has one.

The server reads the token from ``MCP_SERVER_TOKEN`` (on a cluster, from the Secret
``cluster-health-mcp-token`` when it exists, manifests/mcp-server; on the embedded stack,
minted at ``local up``) and then answers a request without it with 401 and
``WWW-Authenticate: Bearer`` (RFC 6750). It is no OAuth resource server: it publishes no
RFC 9728 metadata, which the MCP authorization spec asks of one, since its clients hold a
static token and never discover an authorization server. The steps read the token from the
Secret that ``mcp_token_secret`` names (:func:`client_token`) and present it: in their own MCP client's header, and as the Responses
API's MCP tool ``authorization`` (Llama Stack 0.7.3 refuses an ``Authorization`` in the tool's
``headers``). Lightspeed reads it from a header Secret of its own (``publish.lightspeed``).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from llama_rollout import redaction
from llama_rollout.bounds import CONNECT, MCP
from llama_rollout.kube.client import Kube
from llama_rollout.kube.errors import KubeError
from llama_rollout.kube.secrets import secret_key

TOKEN_ENV = "MCP_SERVER_TOKEN"  # noqa: S105 - the name of a variable
TOKEN_SECRET = "cluster-health-mcp-token"  # noqa: S105 - manifests/mcp-server's Secret's name
TOKEN_KEY = "token"  # noqa: S105 - the Secret's key
REALM = "cluster-health-mcp-server"
LABEL = "cluster-health"  # the server's label in a Responses API call


def server_token() -> str | None:
    """The token the server requires, from its environment; None when it requires none."""
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    redaction.remember(token)
    return token


def responses_tool(mcp_url: str, token: str | None = None) -> dict[str, Any]:
    """The Responses API's ``tools`` entry that lets Llama Stack call the MCP server, with the
    server's bearer token in ``authorization`` (Llama Stack 0.7.3 refuses an Authorization in
    ``headers``, and neither stores nor returns this field)."""
    return {
        "type": "mcp",
        "server_label": LABEL,
        "server_url": mcp_url,
        "require_approval": "never",
        **({"authorization": token} if token else {}),
    }


def bearer_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass
class Refusal:
    """The status of the MCP server's refusal, seen on the wire: the MCP client reports a
    401 as an internal error (-32603) and drops the status."""

    status: int = 0


def mcp_server(
    url: str,
    token: str | None,
    *,
    read_timeout: float = MCP.read,
    refusal: Refusal | None = None,
) -> Any:
    """What an ``mcp.Client`` connects to: a streamable HTTP transport that presents
    ``token`` (when there is one) and notes a 401 or 403 in ``refusal``."""
    return _connect(url, token, read_timeout, refusal or Refusal())


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
        timeout=httpx2.Timeout(read_timeout, connect=CONNECT),
        event_hooks={"response": [note]},
    )
    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams


def client_token(namespace: str, secret: str, *, kube: Kube | None = None) -> str | None:
    """The token a step presents to the MCP server: the key ``token`` of Secret ``secret`` (in
    ``namespace``; read through the API on a cluster, so that a missing Secret is an error that
    says so, not a pod that never starts); None when ``secret`` is empty.

    Raises:
        KubeError: the Secret is missing, or has no key ``token``.
    """
    if not secret:
        return None
    token = secret_key(namespace, secret, TOKEN_KEY, kube=kube)
    if token is None:
        where = f"{namespace}/{secret}" if namespace else secret
        raise KubeError(
            f"no token in Secret {where} (key {TOKEN_KEY}) for the MCP server",
            hint=f"create it with the token the server reads (manifests/mcp-server: oc create "
            f'secret generic {secret} --from-literal={TOKEN_KEY}="$(openssl rand -hex 32)"), or '
            "set mcp_token_secret to empty for a server that requires none",
        )
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
            bearer = scheme.lower() == b"bearer" and bool(given.strip())
            if not bearer or not hmac.compare_digest(given.strip(), self.token):
                # RFC 6750 3.1: no error code when no bearer token came at all.
                await _refuse(send, presented=bearer)
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
