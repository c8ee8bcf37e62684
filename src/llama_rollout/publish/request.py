"""The publish stage's request: the step's parameters, declared once, and what they publish.

Each field is a parameter of the ``publish`` component, and (unless an earlier step gives it)
of the pipeline, under the pipeline's name where it differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llama_rollout.errors import invalid_settings
from llama_rollout.model_access import EnableAuth
from llama_rollout.publish.olsconfig import McpServer, Provider, Publication
from llama_rollout.registry.endpoint import RegistryReference
from llama_rollout.serving.request import MaxModelLen
from llama_rollout.serving.settings import MAX_MODEL_LEN
from llama_rollout.stack.request import (
    LightspeedEndpoint,
    LightspeedServiceAccount,
    McpTokenSecret,
    McpUrl,
)
from llama_rollout.step_parameters import DAY, parameter
from llama_rollout.targets import DeployNamespace
from llama_rollout.weights.connection import DataConnectionName

MCP_SERVER_NAME = "cluster-health"
# Lightspeed's copy of the MCP server's token, in openshift-lightspeed, as its header.
MCP_HEADER_SECRET = f"{MCP_SERVER_NAME}-mcp-header"
# The provider Secret's apitoken when the endpoint takes no token (the CRD requires one).
NO_AUTH_CREDENTIAL = "no-auth-required"


# A DNS label: it names the provider's Secret (``<provider>-credentials``) too. The resolve
# step takes it as well: the live version must be published as this provider.
LightspeedProvider = Annotated[
    str,
    parameter(
        "llamastack",
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        pipeline="lightspeed_provider",
        description="the provider's name in OLSConfig; the entry with this name is replaced, "
        "every other one kept.",
    ),
]


class PublishRequest(BaseModel):
    """The publish step's parameters, as the pipeline passes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the earlier steps.
    model_name: str = parameter(description="the RegisteredModel, and the served model's name.")
    model_version_name: str = parameter("", description="the ModelVersion being published.")
    serving_url: str = parameter(description="vLLM's OpenAI-compatible base URL.")
    serving_model: str = parameter(description="the served model name.")
    serving_name: str = parameter("", description="the InferenceService serving this version.")
    stack_name: str = parameter("", description="the Llama Stack in front of it.")
    llama_stack_url: str = parameter(description="Llama Stack's base URL.")
    llama_stack_model_id: str = parameter(description="the model's Llama Stack id.")
    model_uri: str = parameter(
        "",
        description="the mirror (``s3://BUCKET/PREFIX/``): its tokenizer counts the prompt budget.",
    )
    run_id: str = parameter("", description="the pipeline run, recorded with the publication.")
    # The pipeline's.
    endpoint: LightspeedEndpoint
    serving_auth: EnableAuth
    token_secret: str = parameter(
        "lightspeed-model-client-token",
        pipeline="lightspeed_token_secret",
        description="the token Secret of lightspeed_service_account, which Lightspeed calls "
        "Llama Stack with (and vLLM, when lightspeed_endpoint is vllm and enable_auth is on).",
    )
    service_account: LightspeedServiceAccount
    provider: LightspeedProvider
    make_default: bool = parameter(
        True,
        pipeline="lightspeed_default",
        description="make the provider and model Lightspeed's default.",
    )
    mcp_url: McpUrl
    mcp_token_secret: McpTokenSecret
    register_mcp: bool = parameter(
        True,
        pipeline="lightspeed_mcp_server",
        description="register the MCP server with Lightspeed (MCPServer gate).",
    )
    max_model_len: MaxModelLen
    max_tokens: int = parameter(
        2048,
        ge=1,
        le=MAX_MODEL_LEN,  # a response fits in the largest context window
        pipeline="lightspeed_max_tokens",
        description="the model's maxTokensForResponse.",
    )
    create_missing: bool = parameter(
        False,
        pipeline="lightspeed_create",
        description="create OLSConfig cluster when there is none, instead of failing; needs "
        "``oc apply -k manifests/lightspeed-creator`` (create, and delete should that "
        "publication fail), checked before anything is written.",
    )
    timeout_seconds: int = parameter(
        600,
        ge=30,
        le=DAY,
        pipeline="lightspeed_timeout_seconds",
        description="how long to wait for Lightspeed to roll the change.",
    )
    lightspeed_url: str = parameter(
        "", description="Lightspeed's API for the check question; empty for its Service."
    )
    keep_versions: int = parameter(
        0,
        ge=0,
        le=10_000,
        description="replaced versions kept serving after a switch (0 removes them).",
    )
    namespace: DeployNamespace
    data_connection: DataConnectionName
    registry: RegistryReference = Field(default_factory=RegistryReference)

    @property
    def requires_token(self) -> bool:
        """Whether Lightspeed needs a token: Llama Stack always checks one, vLLM with auth on."""
        return self.endpoint == "llama-stack" or self.serving_auth

    def publication(self) -> Publication:
        """What to merge into OLSConfig; bad values raise one ConfigurationError."""
        url, model = (
            (self.serving_url, self.serving_model)
            if self.endpoint == "vllm"
            else (f"{self.llama_stack_url.rstrip('/')}/v1", self.llama_stack_model_id)
        )
        try:
            provider = Provider(
                name=self.provider,
                url=url,
                model=model,
                secret_name=f"{self.provider}-credentials",
                context_window_size=self.max_model_len,
                max_tokens_for_response=self.max_tokens,
            )
        except ValidationError as exc:
            raise invalid_settings("publish settings", exc) from exc
        server = (
            McpServer(
                MCP_SERVER_NAME,
                self.mcp_url,
                header_secret=MCP_HEADER_SECRET if self.mcp_token_secret else "",
            )
            if self.register_mcp and self.mcp_url
            else None
        )
        return Publication(provider, make_default=self.make_default, mcp_server=server)


@dataclass(frozen=True)
class Outcome:
    """What the step published, and the files that show it."""

    summary: str
    changed: bool
    files: dict[str, Path]
    retired: tuple[str, ...] = ()
    answer: str = ""
