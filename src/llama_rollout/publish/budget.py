"""Lightspeed's prompt budget, checked before a publication is written.

Every question Lightspeed sends must fit a budget it computes per model, read here at
lightspeed-service 47c96d8 and lightspeed-operator c0d4789:

* ``ols/app/models/config.py`` (``_compute_tool_budgets``): when any MCP server is configured
  or the documentation search (``solr_hybrid``) is on, ``int(contextWindowSize *
  toolBudgetRatio)`` tokens are kept for tool calls and their results; the operator writes a
  ratio of 0.5 when the model sets none (``internal/controller/appserver/assets.go``), and this
  pipeline sets none. A window not larger than the response plus that reserve stops Lightspeed
  at start.
* ``ols/utils/token_handler.py`` (``TokenBudgetTracker.prompt_budget``): the prompt budget is
  ``contextWindowSize - maxTokensForResponse - reserve``.
* ``ols/src/query_helpers/docs_summarizer.py`` (``generate_response``): the system prompt and
  the question, plus the definitions of every tool sent with them, serialised as
  ``json.dumps([{"name", "description", "schema": <inputSchema properties>}])``
  (``_serialized_tool_definitions_text``), must fit the prompt budget, or the question fails
  with ``PromptTooLongError``: HTTP 413. Lightspeed pads every count by 10%
  (``TOKEN_BUFFER_WEIGHT``, ``ols/constants.py``).

Lightspeed's own tools count too: the operator adds its OpenShift MCP server unless
``spec.ols.introspectionEnabled`` is false (``generateMCPServerConfigs``), and the
documentation search unless ``spec.ols.byokRAGOnly`` (``buildSolrHybridSettings``). The
``ToolFiltering`` gate sends at most ``topK`` MCP tools per question, but every tool when its
retrieval fails or its embedding model does not load (``ols/utils/mcp_utils.py``
``get_mcp_tools``, ``ols/utils/config.py`` ``tools_rag``), so the check counts every tool
whatever the gate. Their definitions and the system prompt are not within reach of the
pipeline, so they are margins below, measured from the upstream sources; the MCP server this
pipeline registers is listed and counted exactly.

Lightspeed counts with tiktoken's ``cl100k_base`` whatever the model (its file cannot be had
offline). Here tokens are counted with the served model's own tokenizer (``tokenizer.json``
beside the mirrored weights): Llama 3's vocabulary is cl100k's plus 28k more merges, so it
counts a few percent fewer tokens for English and JSON than Lightspeed does, which the margins
below cover; a smaller vocabulary (the demo's SmolLM2) counts more, on the safe side. The
margins were measured with such a 49k-token vocabulary.

Not counted: a custom system prompt (``spec.ols.querySystemPrompt``), BYOK RAG chunks and the
conversation history, which Lightspeed charges before the tools, so a follow-up question can
get a 413 where the first fits; and the longer instruction Lightspeed gives models whose name
says granite.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_rollout.bounds import MCP, S3_PROBE
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import ConfigurationError, StorageError, first_line
from llama_rollout.kube import Kube, api_client
from llama_rollout.publish import embedded
from llama_rollout.publish.olsconfig import (
    API_VERSION,
    KIND,
    MCP_FEATURE_GATE,
    NAME,
    Provider,
    Publication,
)
from llama_rollout.stack.health import mcp_tool_definitions
from llama_rollout.targets import Target
from llama_rollout.weights.connection import DataConnection, storage_error
from llama_rollout.weights.manifest import split_s3_uri

if TYPE_CHECKING:
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

TOKEN_BUFFER_WEIGHT = 1.1  # Lightspeed's padding of every count (ols/constants.py)
TOOL_BUDGET_RATIO = 0.5  # the operator's value for a model without toolBudgetRatio
TOKENIZER_FILE = "tokenizer.json"

# Margins, in tokens as Lightspeed counts them (padding included), measured at the commits
# above with a 49k-token byte-level BPE:
# - the Ask-mode system prompt with tool use (ols/src/prompts/prompts.py, 3,099 characters,
#   692 tokens, 762 padded), with the role framing and a one-line question;
PROMPT_TOKENS = 850
# - the documentation-search guidance added to it (824 characters, 189 tokens, 208 padded).
#   The troubleshooting mode's prompt (4,139 characters, 934 tokens, 1,028 padded) fits the
#   sum of the two, not the first alone: where the documentation search is off, that mode
#   may need 180 more;
DOCS_GUIDANCE_TOKENS = 210
# - the search_openshift_documentation tool (ols/src/rag_index/solr_support.py, 96 tokens);
DOCS_SEARCH_TOOL_TOKENS = 110
# - the OpenShift MCP server's toolsets the operator pins (core, config, helm, metrics;
#   internal/controller/ocpmcp/assets.go): core, config and helm are 23 tools, 16,765
#   characters and 4,541 tokens, 4,996 padded, as Lightspeed serialises them
#   (openshift/openshift-mcp-server 032d3e2, pkg/mcp/testdata); metrics (rhobs/obs-mcp,
#   pkg/toolsets/metrics) adds 9 tools, about 9,500 characters: about 2,830 tokens padded.
#   7,830 in all: the margin holds 170 for the tokenizers' difference.
OPENSHIFT_MCP_TOOL_TOKENS = 8_000


@dataclass(frozen=True)
class Budget:
    """What one question through the published model needs, against what Lightspeed allows."""

    model: str
    context_window: int
    max_response: int
    tool_reserve: int  # kept for tool calls and results
    prompt: int  # Lightspeed's system prompt and the question
    built_in_tools: int  # Lightspeed's own tools (OpenShift MCP server, documentation search)
    mcp_tools: int  # the tools of the MCP server this pipeline registers
    mcp_tool_count: int
    mcp_server: str = ""

    @property
    def prompt_budget(self) -> int:
        return self.context_window - self.max_response - self.tool_reserve

    @property
    def needed(self) -> int:
        return self.prompt + self.built_in_tools + self.mcp_tools

    @property
    def fits(self) -> bool:
        return self.needed <= self.prompt_budget

    def summary(self) -> str:
        """One line: the budget and what fills it."""
        mcp = (
            f", {self.mcp_tools} for the {self.mcp_tool_count} tools of MCP server "
            f"{self.mcp_server}"
            if self.mcp_server
            else ""
        )
        return (
            f"Lightspeed's prompt budget for model {self.model} is {self.prompt_budget} tokens "
            f"(contextWindowSize {self.context_window} - maxTokensForResponse "
            f"{self.max_response} - {self.tool_reserve} kept for tool results); a question "
            f"needs {self.needed}: {self.prompt} for its system prompt, {self.built_in_tools} "
            f"for Lightspeed's own tools{mcp}"
        )

    def fixes(self) -> list[str]:
        """Each change of a pipeline parameter that makes the question fit, in one phrase."""
        room = 1 - self.tool_reserve / self.context_window
        window = math.ceil((self.needed + self.max_response) / room / 1024) * 1024
        fixes = [f"raise max_model_len to {window} or more (contextWindowSize follows it)"]
        if (response := self.max_response - (self.needed - self.prompt_budget)) > 0:
            fixes.append(f"lower lightspeed_max_tokens to {response} or less")
        if self.mcp_tools and self.needed - self.mcp_tools <= self.prompt_budget:
            fixes.append("publish without the MCP server (lightspeed_mcp_server=false)")
        return fixes

    def raise_if_over(self) -> None:
        """A ConfigurationError naming the fixes, when a question would not fit."""
        if not self.fits:
            outcome = (
                "every question with 413"
                if self.prompt_budget > 0
                else "nothing: it "
                "refuses to start with a window no larger than the response and the reserve"
            )
            raise ConfigurationError(
                f"{self.summary()}, so Lightspeed would answer {outcome}",
                hint=", or ".join(self.fixes()),
            )


def tool_definitions_text(definitions: Sequence[dict[str, Any]]) -> str:
    """MCP tool definitions (as ``tools/list`` gives them) as Lightspeed serialises them to
    count them: langchain-mcp-adapters keeps the description (or "") and the input schema,
    whose ``properties`` LangChain's ``BaseTool.args`` returns; ``json.dumps`` defaults."""
    return json.dumps(
        [
            {
                "name": d["name"],
                "description": d.get("description") or "",
                "schema": (d.get("inputSchema") or {}).get("properties") or {},
            }
            for d in definitions
        ]
    )


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Tokens of ``text`` as Lightspeed counts them: padded by 10%, rounded up."""
    if not text:
        return 0
    return math.ceil(
        len(tokenizer.encode(text, add_special_tokens=False).ids) * TOKEN_BUFFER_WEIGHT
    )


def measure(
    provider: Provider,
    spec: dict[str, Any],
    definitions: Sequence[dict[str, Any]],
    tokenizer: Tokenizer | None,
    *,
    mcp_server: str = "",
) -> Budget:
    """The budget of a question once ``provider`` is published into ``spec``.

    Args:
        provider: the provider this publication writes (its window and response tokens).
        spec: OLSConfig ``cluster``'s spec as it is now (its ``ols`` switches, gates, servers).
        definitions: the tools of ``mcp_server``, as its ``tools/list`` gives them.
        tokenizer: the served model's tokenizer (needed when there are definitions).
        mcp_server: the MCP server this publication registers ("": none).

    Returns:
        The budget and what fills it.
    """
    ols = spec.get("ols") or {}
    gates = spec.get("featureGates") or []
    introspection = ols.get("introspectionEnabled") is not False
    docs_search = ols.get("byokRAGOnly") is not True
    others = [s for s in spec.get("mcpServers") or [] if s.get("name") != mcp_server]
    if others:
        logger.warning(
            "the tools of MCP servers %s also count against Lightspeed's prompt budget; "
            "this check does not list them",
            ", ".join(str(s.get("name")) for s in others),
        )
    has_mcp = introspection or bool(mcp_server) or (MCP_FEATURE_GATE in gates and bool(others))
    built_in = OPENSHIFT_MCP_TOOL_TOKENS if introspection else 0
    mcp_tokens = 0
    if definitions:
        assert tokenizer is not None, "tool definitions are counted with the model's tokenizer"
        mcp_tokens = count_tokens(tokenizer, tool_definitions_text(definitions))
    reserve = int(provider.context_window_size * TOOL_BUDGET_RATIO)
    return Budget(
        model=provider.model,
        context_window=provider.context_window_size,
        max_response=provider.max_tokens_for_response,
        tool_reserve=reserve if has_mcp or docs_search else 0,
        prompt=PROMPT_TOKENS + (DOCS_GUIDANCE_TOKENS if docs_search else 0),
        built_in_tools=built_in + (DOCS_SEARCH_TOOL_TOKENS if docs_search else 0),
        mcp_tools=mcp_tokens,
        mcp_tool_count=len(definitions),
        mcp_server=mcp_server,
    )


def load_tokenizer(connection: Any, model_uri: str) -> Tokenizer:
    """The served model's tokenizer, read from ``tokenizer.json`` beside its mirrored weights.

    Args:
        connection: the S3 data connection (a ``DataConnection``).
        model_uri: ``s3://BUCKET/PREFIX/`` of the mirrored model.

    Returns:
        The tokenizer.

    Raises:
        StorageError: the file is missing or cannot be read.
        ConfigurationError: the ``tokenizers`` library is not installed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ConfigurationError(
            "the prompt budget is counted with the model's tokenizer, and the tokenizers "
            "library is not installed",
            hint="pip install tokenizers",
        ) from exc
    bucket, prefix = split_s3_uri(model_uri)
    key = prefix.rstrip("/") + "/" + TOKENIZER_FILE
    client = connection.client(attempts=S3_PROBE.attempts, read_timeout=S3_PROBE.read, in_all=True)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise StorageError(
                f"{model_uri} has no {TOKENIZER_FILE}, which Lightspeed's prompt budget is "
                "counted with",
                hint="mirror a model that ships its tokenizer.json",
            ) from exc
        raise storage_error(exc, connection, f"s3://{bucket}/{key}", bucket=bucket) from exc
    except BotoCoreError as exc:
        raise StorageError(f"cannot read s3://{bucket}/{key}: {first_line(exc)}") from exc
    try:
        return Tokenizer.from_str(body.decode())
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
        raise StorageError(
            f"s3://{bucket}/{key} is not a tokenizer the tokenizers library reads "
            f"({first_line(exc)})",
            hint="mirror the model again",
        ) from exc


def current_spec(target: Target) -> dict[str, Any]:
    """OLSConfig ``cluster``'s spec as it is now on ``target`` (empty when there is none)."""
    if target is Target.LOCAL:
        spec = embedded.read(embedded.olsconfig_file(EmbeddedStack().root)).get("spec") or {}
        # A laptop has no OpenShift for Lightspeed's MCP server to read, nor its documentation
        # service: unless the file says otherwise, neither is counted.
        ols = {"introspectionEnabled": False, "byokRAGOnly": True, **(spec.get("ols") or {})}
        return {**spec, "ols": ols}

    return (Kube(api_client()).get(API_VERSION, KIND, NAME) or {}).get("spec") or {}


def check_before_publishing(
    target: Target,
    publication: Publication,
    *,
    model_uri: str,
    data_connection: str = "",
    mcp_token: str | None = None,
) -> Budget | None:
    """Refuse, with the fix, a publication whose questions Lightspeed would answer with 413.

    Args:
        target: where OLSConfig is read (the embedded file, or the cluster).
        publication: what the step is about to merge into it.
        model_uri: ``s3://BUCKET/PREFIX/`` of the mirrored model, whose tokenizer counts.
        data_connection: the data connection's name (its keys are in the environment).
        mcp_token: the MCP server's token, when it requires one.

    Returns:
        The budget measured; None when the step was given no model to count with.

    Raises:
        ConfigurationError: a question would not fit.
    """
    if not model_uri:
        logger.warning("Lightspeed's prompt budget not checked: the publish step has no model_uri")
        return None

    server = publication.mcp_server
    definitions = (
        mcp_tool_definitions(server.url, token=mcp_token, timeout=MCP.read) if server else []
    )
    tokenizer = (
        load_tokenizer(DataConnection.from_env(name=data_connection or None), model_uri)
        if definitions
        else None
    )
    budget = measure(
        publication.provider,
        current_spec(target),
        definitions,
        tokenizer,
        mcp_server=server.name if server else "",
    )
    budget.raise_if_over()
    logger.info("%s: it fits", budget.summary())
    return budget
