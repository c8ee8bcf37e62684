"""OLSConfig ``cluster``: what the pipeline merges into it, computed without touching the cluster.

Everything here is a pure function of the spec as read: the merge keeps every provider,
model, MCP server and field that is not ours exactly as it was, and replaces only the entries
with our names. ``spec.llm.providers`` and ``spec.mcpServers`` are atomic lists for the API
server (no list-map keys in the CRD), so the result is written whole, with a resourceVersion
precondition, never as a partial server-side apply (which would drop the other providers).

The MCP server's shape depends on the operator that installed the CRD: 1.0.4-1.0.9 take
``{name, streamableHTTP: {url, timeout}}``, 1.0.10 and later ``{name, url, timeout}``.
:func:`mcp_shape_of` reads the served schema to pick one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from llama_rollout.errors import ConfigurationError

API_VERSION = "ols.openshift.io/v1alpha1"
KIND = "OLSConfig"
NAME = "cluster"  # the CRD's own rule: .metadata.name must be 'cluster'
NAMESPACE = "openshift-lightspeed"  # where the operator reads provider credentials
PROVIDER_TYPE = "rhoai_vllm"  # OpenAI-compatible self-hosted /v1 (LangChain ChatOpenAI)
# The operator mounts the provider's Secret as a directory and, for rhoai_vllm, the app server
# reads the file ``apitoken`` from it: ``credentialKey`` is honoured only for Google Vertex
# (lightspeed-operator internal/controller/appserver/assets.go), so there is no other key.
CREDENTIAL_KEY = "apitoken"
APP_SERVER = "lightspeed-app-server"  # the operator's Deployment of the app server, in NAMESPACE
MAX_PROVIDERS = 10  # the CRD's maxItems
MCP_FEATURE_GATE = "MCPServer"
MCP_HEADER_KEY = "header"  # the key of an MCP header's Secret: the operator mounts it as a file


def mcp_header(token: str) -> str:
    """The value of an MCP server's ``Authorization`` header as its Secret holds it: the app
    server sends the file's content whole (lightspeed-service ``ols/utils/checks.py``)."""
    return f"Bearer {token.strip()}"


class McpShape(StrEnum):
    """How the installed CRD spells an MCP server."""

    URL = "url"  # operator 1.0.10 and later
    STREAMABLE_HTTP = "streamableHTTP"  # operator 1.0.4 to 1.0.9


@dataclass(frozen=True)
class Provider:
    """The provider the pipeline publishes: one model behind an OpenAI-compatible ``/v1``."""

    name: str
    url: str
    model: str
    secret_name: str
    context_window_size: int
    max_tokens_for_response: int

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"the provider URL {self.url!r} is not http(s)", hint="give the endpoint's /v1 URL"
            )
        if self.context_window_size < 1024:
            raise ConfigurationError(
                f"contextWindowSize {self.context_window_size} is below the CRD's minimum 1024",
                hint="serve the model with max_model_len >= 1024",
            )
        if not 0 < self.max_tokens_for_response < self.context_window_size:
            raise ConfigurationError(
                f"maxTokensForResponse {self.max_tokens_for_response} must be positive and below "
                f"the context window ({self.context_window_size})",
                hint="lower lightspeed_max_tokens, or raise max_model_len",
            )

    def as_entry(self) -> dict[str, Any]:
        """The entry of ``spec.llm.providers``."""
        return {
            "name": self.name,
            "type": PROVIDER_TYPE,
            "url": self.url,
            "credentialsSecretRef": {"name": self.secret_name},
            "models": [
                {
                    "name": self.model,
                    "contextWindowSize": self.context_window_size,
                    "parameters": {"maxTokensForResponse": self.max_tokens_for_response},
                }
            ],
        }


@dataclass(frozen=True)
class McpServer:
    """An MCP server Lightspeed may call (streamable HTTP); with ``header_secret``, Lightspeed
    sends the server's token as ``Authorization``, read from that Secret in ``NAMESPACE``
    (its key ``header`` holds the whole value, ``Bearer <token>``)."""

    name: str
    url: str
    timeout: int = 30
    header_secret: str = ""

    def as_entry(self, shape: McpShape) -> dict[str, Any]:
        if shape is McpShape.STREAMABLE_HTTP:
            if self.header_secret:
                raise ConfigurationError(
                    "the installed OLSConfig CRD (Lightspeed operator 1.0.4-1.0.9) takes an MCP "
                    "server's headers as a map of strings whose meaning changed in 1.0.6 (the "
                    "header's value before, a Secret's name since): a token written there could "
                    "end up as plain text in the CR, readable by everyone who may read OLSConfig",
                    hint="upgrade the Lightspeed operator to 1.0.10 or later (headers[].valueFrom "
                    "a Secret), or publish without the MCP server (lightspeed_mcp_server=false)",
                )
            return {"name": self.name, "streamableHTTP": {"url": self.url, "timeout": self.timeout}}
        entry: dict[str, Any] = {"name": self.name, "url": self.url, "timeout": self.timeout}
        if self.header_secret:
            entry["headers"] = [
                {
                    "name": "Authorization",
                    "valueFrom": {"type": "secret", "secretRef": {"name": self.header_secret}},
                }
            ]
        return entry


@dataclass(frozen=True)
class Publication:
    """Everything one run writes into the spec."""

    provider: Provider
    make_default: bool = False
    mcp_server: McpServer | None = None


def merged_spec(
    spec: dict[str, Any], publication: Publication, *, mcp_shape: McpShape | None = None
) -> dict[str, Any]:
    """``spec`` with the publication merged in; ``spec`` itself is not changed.

    The provider with the same name is replaced where it stood, or appended; with
    ``make_default``, ``spec.ols`` names it; with an MCP server, the ``MCPServer`` gate is on
    and the server with the same name is replaced or appended.

    Raises:
        ConfigurationError: the spec has no room for another provider, or the CRD has no
            MCP servers while one is asked for.
    """
    merged = copy.deepcopy(spec)
    provider = publication.provider
    providers = merged.setdefault("llm", {}).setdefault("providers", [])
    names = [p.get("name") for p in providers]
    if provider.name not in names and len(providers) >= MAX_PROVIDERS:
        raise ConfigurationError(
            f"OLSConfig cluster already has {len(providers)} providers, the CRD's maximum",
            hint=f"remove one, or publish under an existing provider's name ({', '.join(map(str, names))})",
        )
    _put_named(providers, provider.as_entry())
    if publication.make_default:
        ols = merged.setdefault("ols", {})
        ols["defaultProvider"] = provider.name
        ols["defaultModel"] = provider.model
    if publication.mcp_server is not None:
        if mcp_shape is None:
            raise no_mcp_servers()
        gates = merged.setdefault("featureGates", [])
        if MCP_FEATURE_GATE not in gates:
            gates.append(MCP_FEATURE_GATE)
        _put_named(merged.setdefault("mcpServers", []), publication.mcp_server.as_entry(mcp_shape))
    return merged


def no_mcp_servers() -> ConfigurationError:
    return ConfigurationError(
        "the installed OLSConfig CRD has no spec.mcpServers",
        hint="upgrade the Lightspeed operator to 1.0.4 or later, or publish without "
        "the MCP server (lightspeed_mcp_server=false)",
    )


def _put_named(entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    for index, existing in enumerate(entries):
        if existing.get("name") == entry["name"]:
            entries[index] = entry
            return
    entries.append(entry)


def provider_named(spec: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The entry of ``spec.llm.providers`` called ``name``."""
    providers = (spec.get("llm") or {}).get("providers") or []
    return next((p for p in providers if p.get("name") == name), None)


def mcp_shape_of(schema: dict[str, Any] | None) -> McpShape | None:
    """The MCP server shape the served OLSConfig schema declares (None: no MCP servers).

    Raises:
        ConfigurationError: the schema declares MCP servers in a shape this code does not
            know (an operator newer than this release).
    """
    spec = ((schema or {}).get("properties") or {}).get("spec") or {}
    servers = (spec.get("properties") or {}).get("mcpServers")
    if servers is None:
        return None
    fields = set((servers.get("items") or {}).get("properties") or {})
    if "url" in fields:
        return McpShape.URL
    if "streamableHTTP" in fields:
        return McpShape.STREAMABLE_HTTP
    raise ConfigurationError(
        f"the installed OLSConfig CRD declares MCP servers with fields {sorted(fields)}, "
        "which this release does not know",
        hint="publish without the MCP server (lightspeed_mcp_server=false), or upgrade llama-rollout",
    )


def with_defaults(value: Any, schema: dict[str, Any] | None) -> Any:
    """``value`` with its structural schema's defaults filled in, as the API server stores it
    (the CRD defaults, e.g., a model's ``toolBudgetRatio`` to 0.5): a spec read back and the
    same spec as written compare equal once both are defaulted."""
    schema = schema or {}
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        filled = {
            key: with_defaults(
                item, properties.get(key, extra if isinstance(extra, dict) else None)
            )
            for key, item in value.items()
        }
        for key, sub in properties.items():
            if key not in filled and "default" in sub:
                filled[key] = with_defaults(copy.deepcopy(sub["default"]), sub)
        return filled
    if isinstance(value, list):
        return [with_defaults(item, schema.get("items")) for item in value]
    return value


def spec_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) from ``before`` to ``after``: the artifact a reviewer
    reads to see what a run changes, lists whole as the API server treats them."""
    patch: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if key not in after:
            patch[key] = None
        elif key not in before:
            patch[key] = after[key]
        elif isinstance(before[key], dict) and isinstance(after[key], dict):
            if inner := spec_patch(before[key], after[key]):
                patch[key] = inner
        elif before[key] != after[key]:
            patch[key] = after[key]
    return patch


def summary_line(publication: Publication) -> str:
    """One line for logs and the run summary."""
    provider = publication.provider
    extra = " (default)" if publication.make_default else ""
    mcp = f", MCP server {publication.mcp_server.name}" if publication.mcp_server else ""
    return f"provider {provider.name}: model {provider.model} at {provider.url}{extra}{mcp}"
