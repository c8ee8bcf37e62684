"""Lightspeed's prompt budget: what counts, how it is counted, and the fixes it names.

The tokenizer is a real ``tokenizers.Tokenizer`` (a byte-level BPE trained here on the tool
definitions it counts), so counts come from the library the step uses on a served model's
``tokenizer.json``; what Lightspeed does is read at lightspeed-service 47c96d8 (see
``llama_rollout.publish.budget``).
"""

from __future__ import annotations

import json
import math

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

from llama_rollout.errors import ConfigurationError
from llama_rollout.publish import budget
from llama_rollout.publish.budget import Budget, measure
from llama_rollout.publish.olsconfig import Provider

# Two tools shaped as an MCP server's tools/list gives them (outputSchema and annotations
# included: Lightspeed does not send them).
DEFINITIONS = [
    {
        "name": "unhealthy_pods",
        "description": "Pods that are crash-looping, failing to pull images or pending.",
        "inputSchema": {
            "type": "object",
            "title": "unhealthy_podsArguments",
            "properties": {
                "namespace": {"type": "string", "description": "Namespace to look in"},
                "limit": {"type": "integer", "maximum": 500, "minimum": 1, "default": 50},
            },
        },
        "outputSchema": {"type": "object", "title": "unhealthy_podsDictOutput"},
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "cluster_operator_status",
        "description": None,  # MCP allows none; langchain-mcp-adapters sends ""
        "inputSchema": {"type": "object"},  # no properties: Lightspeed's schema is {}
    },
]
LAPTOP = {"ols": {"introspectionEnabled": False, "byokRAGOnly": True}}


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """A byte-level BPE as Llama 3 and SmolLM2 ship, small enough to train in the test."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [budget.tool_definitions_text(DEFINITIONS)] * 4 + ["Which pods are failing?"]
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )  # fmt: skip
    # A template that adds a BOS token, as Llama's tokenizer.json does: not part of a count.
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bpe.token_to_id("<s>"))]
    )
    return bpe


def provider(context: int = 8192, response: int = 2048) -> Provider:
    return Provider(
        name="llamastack", url="http://stack:8321/v1", model="vllm/llama-3-2-3b-instruct",
        secret_name="llamastack-credentials", context_window_size=context,
        max_tokens_for_response=response,
    )  # fmt: skip


def test_tool_definitions_are_serialised_as_lightspeed_counts_them():
    text = budget.tool_definitions_text(DEFINITIONS)
    expected = [
        {"name": "unhealthy_pods",
         "description": "Pods that are crash-looping, failing to pull images or pending.",
         "schema": DEFINITIONS[0]["inputSchema"]["properties"]},
        {"name": "cluster_operator_status", "description": "", "schema": {}},
    ]  # fmt: skip
    assert text == json.dumps(expected)  # json.dumps defaults: ", " and ": ", ASCII escapes
    assert "outputSchema" not in text and "readOnlyHint" not in text and "title" not in text


def test_a_count_is_padded_by_a_tenth_rounded_up_without_special_tokens(tokenizer):
    text = budget.tool_definitions_text(DEFINITIONS)
    plain = len(tokenizer.encode(text, add_special_tokens=False).ids)
    assert len(tokenizer.encode(text).ids) == plain + 1  # the template's BOS
    assert budget.count_tokens(tokenizer, text) == math.ceil(plain * 1.1)
    assert budget.count_tokens(tokenizer, "") == 0
    assert budget.count_tokens(tokenizer, text + text) > budget.count_tokens(tokenizer, text)


def test_on_a_default_cluster_lightspeeds_own_tools_fill_an_8k_window(tokenizer):
    # Introspection and the documentation search are on unless the spec turns them off.
    found = measure(provider(), {}, DEFINITIONS, tokenizer, mcp_server="cluster-health")
    assert found.tool_reserve == 4096  # toolBudgetRatio 0.5 of 8192
    assert found.prompt_budget == 8192 - 2048 - 4096
    assert found.prompt == budget.PROMPT_TOKENS + budget.DOCS_GUIDANCE_TOKENS
    assert found.built_in_tools == budget.OPENSHIFT_MCP_TOOL_TOKENS + budget.DOCS_SEARCH_TOOL_TOKENS
    assert found.mcp_tools == budget.count_tokens(
        tokenizer, budget.tool_definitions_text(DEFINITIONS)
    )
    assert not found.fits
    with pytest.raises(ConfigurationError, match="413") as refused:
        found.raise_if_over()
    assert "\n" not in str(refused.value)
    assert "raise max_model_len to" in str(refused.value)


def test_on_a_laptop_only_the_prompt_and_the_registered_tools_count(tokenizer):
    found = measure(provider(), LAPTOP, DEFINITIONS, tokenizer, mcp_server="cluster-health")
    assert found.built_in_tools == 0
    assert found.prompt == budget.PROMPT_TOKENS
    assert found.tool_reserve == 4096  # an MCP server is configured: the reserve stays
    assert found.needed == budget.PROMPT_TOKENS + found.mcp_tools
    assert found.fits
    found.raise_if_over()


def test_no_mcp_server_and_no_documentation_search_keep_no_tool_reserve(tokenizer):
    found = measure(provider(), LAPTOP, [], tokenizer)
    assert (found.tool_reserve, found.mcp_tools, found.built_in_tools) == (0, 0, 0)
    assert found.prompt_budget == 8192 - 2048


def test_other_mcp_servers_keep_the_reserve_and_are_named(tokenizer, caplog):
    spec = {**LAPTOP, "featureGates": ["MCPServer"],
            "mcpServers": [{"name": "github", "url": "http://github-mcp:8080/mcp"}]}  # fmt: skip
    found = measure(provider(), spec, [], tokenizer)
    assert found.tool_reserve == 4096
    assert "github" in caplog.text


def test_tool_filtering_counts_every_tool_since_lightspeed_sends_all_when_retrieval_fails(
    tokenizer,
):
    spec = {"featureGates": ["ToolFiltering"], "ols": {"toolFilteringConfig": {"topK": 3}}}
    found = measure(provider(32768), spec, DEFINITIONS, tokenizer, mcp_server="cluster-health")
    unfiltered = measure(provider(32768), {}, DEFINITIONS, tokenizer, mcp_server="cluster-health")
    assert found.needed == unfiltered.needed
    assert found.built_in_tools == budget.OPENSHIFT_MCP_TOOL_TOKENS + budget.DOCS_SEARCH_TOOL_TOKENS


def remeasure(found: Budget, tokenizer: Tokenizer, spec: dict, **changes: int) -> Budget:
    return measure(
        provider(changes.get("context", found.context_window),
                 changes.get("response", found.max_response)),
        spec, DEFINITIONS, tokenizer, mcp_server="mcp",
    )  # fmt: skip


@pytest.mark.parametrize("spec", [{}, LAPTOP], ids=["cluster", "laptop"])
def test_each_fix_named_makes_the_question_fit(tokenizer, spec):
    fitting = measure(provider(4096, 64), spec, DEFINITIONS, tokenizer, mcp_server="cluster-health")
    # At least one token short: the response takes what the question needs, and one more.
    response = max(1024, 4096 - fitting.tool_reserve - fitting.needed + 1)
    small = measure(provider(4096, response), spec, DEFINITIONS, tokenizer, mcp_server="mcp")
    assert not small.fits
    hint = ", ".join(small.fixes())
    window = int(hint.split("raise max_model_len to ")[1].split()[0])
    assert remeasure(small, tokenizer, spec, context=window).fits
    assert not remeasure(small, tokenizer, spec, context=window - 1024).fits
    if "lightspeed_max_tokens" in hint:
        response = int(hint.split("lower lightspeed_max_tokens to ")[1].split()[0])
        assert remeasure(small, tokenizer, spec, response=response).fits
        assert not remeasure(small, tokenizer, spec, response=response + 1).fits
    if "lightspeed_mcp_server=false" in hint:
        assert measure(provider(4096, response), spec, [], tokenizer).fits
    else:
        assert not measure(provider(4096, response), spec, [], tokenizer).fits


def test_a_window_no_larger_than_response_and_reserve_says_lightspeed_would_not_start(tokenizer):
    found = measure(provider(2048, 1024), LAPTOP, DEFINITIONS, tokenizer, mcp_server="x")
    assert found.prompt_budget == 0
    with pytest.raises(ConfigurationError, match="refuses to start"):
        found.raise_if_over()
