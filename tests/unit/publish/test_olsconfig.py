"""The OLSConfig merge: every provider and field not ours survives; ours is replaced; twice is
once. Property tests over generated OLSConfigs, each result checked against the real CRD."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_rollout.errors import ConfigurationError
from llama_rollout.publish import olsconfig
from llama_rollout.publish.olsconfig import McpServer, McpShape, Provider, Publication
from tests.crd_schema import validate

NAMES = st.sampled_from(["openai", "gemini", "llamastack", "watsonx-prod", "azure", "local"])
MODEL = st.fixed_dictionaries(
    {"name": st.sampled_from(["gpt-4", "gemini-pro", "granite-3", "llama-3-2-3b"])},
    optional={
        "contextWindowSize": st.integers(1024, 200_000),
        "parameters": st.fixed_dictionaries(
            {}, optional={"maxTokensForResponse": st.integers(1, 4096)}
        ),
        "url": st.sampled_from(["https://a.example/v1", "http://b.example:8000/v1"]),
    },
)


@st.composite
def providers(draw):
    names = draw(st.lists(NAMES, unique=True, max_size=6))
    return [
        {
            "name": name,
            "type": draw(st.sampled_from(["openai", "rhoai_vllm", "rhelai_vllm", "fake_provider"])),
            "credentialsSecretRef": {"name": f"{name}-credentials"},
            "models": draw(st.lists(MODEL, min_size=1, max_size=3)),
            **draw(st.fixed_dictionaries({}, optional={
                "url": st.sampled_from(["https://api.example.com/v1", "http://vllm:8000/v1"]),
                "credentialKey": st.sampled_from(["apitoken", "token"]),
            })),
        }
        for name in names
    ]  # fmt: skip


@st.composite
def specs(draw):
    found = draw(providers())
    spec = {
        "llm": {"providers": found},
        "ols": {
            "defaultProvider": found[0]["name"] if found else "openai",
            "defaultModel": found[0]["models"][0]["name"] if found else "gpt-4",
            **draw(st.fixed_dictionaries({}, optional={
                "logLevel": st.sampled_from(["DEBUG", "INFO"]),
                "maxIterations": st.integers(1, 10),
                "queryFilters": st.just([{"name": "ip", "pattern": "[0-9.]+", "replaceWith": "x"}]),
                "additionalCAConfigMapRef": st.just({"name": "corporate-ca"}),
            })),
        },
    }  # fmt: skip
    if draw(st.booleans()):
        spec["featureGates"] = draw(st.lists(st.sampled_from(["MCPServer", "ToolFiltering"]),
                                             unique=True))  # fmt: skip
    if draw(st.booleans()):
        spec["mcpServers"] = draw(st.lists(st.fixed_dictionaries({
            "name": st.sampled_from(["cluster-health", "openshift", "docs"]),
            "url": st.sampled_from(["http://mcp:3000/mcp", "https://docs.example/mcp"]),
            "timeout": st.integers(1, 60)}), unique_by=lambda s: s["name"], max_size=3))  # fmt: skip
    return spec


@st.composite
def publications(draw):
    provider = Provider(
        name=draw(NAMES), url=draw(st.sampled_from(["http://llama-stack:8321/v1", "https://vllm/v1"])),
        model=draw(st.sampled_from(["vllm/llama-3-2-3b-instruct", "llama-3-2-3b-instruct"])),
        secret_name="p-credentials", context_window_size=draw(st.integers(2048, 131072)),
        max_tokens_for_response=draw(st.integers(1, 2047)),
    )  # fmt: skip
    server = draw(st.one_of(st.none(), st.just(McpServer("cluster-health", "http://mcp:3000/mcp"))))
    return Publication(provider, make_default=draw(st.booleans()), mcp_server=server)


def as_object(spec):
    return {"apiVersion": olsconfig.API_VERSION, "kind": olsconfig.KIND,
            "metadata": {"name": "cluster"}, "spec": spec}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(specs(), publications())
def test_the_merge_keeps_everything_not_ours_and_replaces_ours(spec, publication):
    original = copy.deepcopy(spec)
    merged = olsconfig.merged_spec(spec, publication, mcp_shape=McpShape.URL)
    assert spec == original, "the input is not changed"
    ours = publication.provider.name
    before = [p for p in spec["llm"]["providers"] if p["name"] != ours]
    after = [p for p in merged["llm"]["providers"] if p["name"] != ours]
    assert after == before, "every other provider survives, unchanged and in order"
    mine = [p for p in merged["llm"]["providers"] if p["name"] == ours]
    assert mine == [publication.provider.as_entry()]
    names = [p["name"] for p in spec["llm"]["providers"]]
    if ours in names:  # replaced where it stood
        assert merged["llm"]["providers"][names.index(ours)]["name"] == ours
    for key in set(spec) - {"llm", "ols", "featureGates", "mcpServers"}:
        assert merged[key] == spec[key]
    kept_ols = {
        k: v for k, v in spec["ols"].items() if k not in ("defaultProvider", "defaultModel")
    }
    assert {k: merged["ols"][k] for k in kept_ols} == kept_ols
    if publication.make_default:
        assert (merged["ols"]["defaultProvider"], merged["ols"]["defaultModel"]) == (
            ours,
            publication.provider.model,
        )
    else:
        assert merged["ols"] == spec["ols"]
    if publication.mcp_server is None:
        assert merged.get("featureGates") == spec.get("featureGates")
        assert merged.get("mcpServers") == spec.get("mcpServers")
    else:
        assert set(spec.get("featureGates", [])) | {"MCPServer"} == set(merged["featureGates"])
        others = [s for s in spec.get("mcpServers", []) if s["name"] != "cluster-health"]
        assert [s for s in merged["mcpServers"] if s["name"] != "cluster-health"] == others
    twice = olsconfig.merged_spec(merged, publication, mcp_shape=McpShape.URL)
    assert twice == merged, "merging again changes nothing"
    if len(merged["llm"]["providers"]) <= olsconfig.MAX_PROVIDERS:
        validate(as_object(merged))


@settings(max_examples=100, deadline=None)
@given(specs(), publications())
def test_the_patch_turns_the_spec_into_the_merged_one(spec, publication):
    merged = olsconfig.merged_spec(spec, publication, mcp_shape=McpShape.URL)
    patch = olsconfig.spec_patch(spec, merged)
    assert apply_merge_patch(spec, patch) == merged
    assert (patch == {}) == (merged == spec)


def apply_merge_patch(target, patch):
    """RFC 7386, written out here so that the test does not use the code it checks."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def provider(**changes):
    values = {"name": "llamastack", "url": "http://llama-stack:8321/v1", "model": "vllm/m",
              "secret_name": "llamastack-credentials", "context_window_size": 8192,
              "max_tokens_for_response": 2048} | changes  # fmt: skip
    return Provider(**values)


def test_the_provider_entry_is_what_the_crd_asks_for():
    entry = provider().as_entry()
    assert entry == {
        "name": "llamastack", "type": "rhoai_vllm", "url": "http://llama-stack:8321/v1",
        "credentialsSecretRef": {"name": "llamastack-credentials"},
        "models": [{"name": "vllm/m", "contextWindowSize": 8192,
                    "parameters": {"maxTokensForResponse": 2048}}],
    }  # fmt: skip


def test_the_credential_key_cannot_be_set():
    # The operator reads the file apitoken for rhoai_vllm whatever credentialKey says.
    with pytest.raises(TypeError, match="credential_key"):
        provider(credential_key="token")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://x/v1"}, r"is not http\(s\)"),
        ({"context_window_size": 512}, "below the CRD's minimum 1024"),
        ({"max_tokens_for_response": 8192}, "must be positive and below the context window"),
        ({"max_tokens_for_response": 0}, "must be positive"),
    ],
)
def test_a_provider_lightspeed_would_refuse_is_refused_first(changes, message):
    with pytest.raises(ConfigurationError, match=message):
        provider(**changes)


def test_an_eleventh_provider_is_refused_with_the_names_to_reuse():
    spec = {"llm": {"providers": [{"name": f"p{i}", "type": "openai", "models": [{"name": "m"}],
                                   "credentialsSecretRef": {"name": "s"}} for i in range(10)]},
            "ols": {"defaultProvider": "p0", "defaultModel": "m"}}  # fmt: skip
    with pytest.raises(ConfigurationError, match="already has 10 providers") as refused:
        olsconfig.merged_spec(spec, Publication(provider()))
    assert "p9" in str(refused.value)
    replaced = olsconfig.merged_spec(spec, Publication(provider(name="p3")))
    assert [p["name"] for p in replaced["llm"]["providers"]] == [f"p{i}" for i in range(10)]


def schema_with(fields):
    return {
        "properties": {"spec": {"properties": {"mcpServers": {"items": {"properties": fields}}}}}
    }


def test_the_mcp_server_takes_the_shape_of_the_installed_crd():
    from tests.fake_kube import crd_schemas

    installed = crd_schemas()[("ols.openshift.io", "v1alpha1", "OLSConfig")]
    assert olsconfig.mcp_shape_of(installed) is McpShape.URL  # operator 1.1.3
    assert olsconfig.mcp_shape_of(schema_with({"name": {}, "streamableHTTP": {}})) is (
        McpShape.STREAMABLE_HTTP
    )  # 1.0.4 to 1.0.9
    assert olsconfig.mcp_shape_of({"properties": {"spec": {"properties": {}}}}) is None
    with pytest.raises(ConfigurationError, match="does not know"):
        olsconfig.mcp_shape_of(schema_with({"name": {}, "transport": {}}))
    server = McpServer("cluster-health", "http://mcp:3000/mcp")
    assert server.as_entry(McpShape.STREAMABLE_HTTP) == {
        "name": "cluster-health",
        "streamableHTTP": {"url": "http://mcp:3000/mcp", "timeout": 30},
    }
    with pytest.raises(ConfigurationError, match=r"has no spec\.mcpServers"):
        olsconfig.merged_spec({}, Publication(provider(), mcp_server=server), mcp_shape=None)


def test_no_field_the_seed_invented_is_written():
    merged = olsconfig.merged_spec({}, Publication(provider(), make_default=True,
                                                   mcp_server=McpServer("c", "http://m/mcp")),
                                   mcp_shape=McpShape.URL)  # fmt: skip
    text = str(merged)
    assert "routingStrategy" not in text and "fallback" not in text
    validate(as_object(merged))


def test_a_merge_that_differs_from_the_stored_spec_only_by_the_crd_s_defaults_is_no_change():
    # The API server fills in the CRD's defaults (a model's toolBudgetRatio: 0.5) when it
    # stores the spec: a second publication of the same values must compare equal to it.
    from tests.fake_kube import crd_schemas

    schema = crd_schemas()[("ols.openshift.io", "v1alpha1", "OLSConfig")]["properties"]["spec"]
    first = olsconfig.merged_spec({"llm": {"providers": []}}, Publication(provider()))
    stored = olsconfig.with_defaults(first, schema)
    model = stored["llm"]["providers"][0]["models"][0]
    assert model["parameters"]["toolBudgetRatio"] == 0.5, "the CRD's default was filled in"
    again = olsconfig.merged_spec(stored, Publication(provider()))
    assert again != stored, "as merged, the default is missing"
    assert olsconfig.with_defaults(again, schema) == olsconfig.with_defaults(stored, schema)
    moved = olsconfig.merged_spec(stored, Publication(provider(url="http://elsewhere:8321/v1")))
    assert olsconfig.with_defaults(moved, schema) != olsconfig.with_defaults(stored, schema)
