"""The prompt budget in the publish step, against real servers: the model's tokenizer read from
S3 (moto), the cluster-health MCP server listed over streamable HTTP, the embedded OLSConfig
file, and the fake Kubernetes API for OpenShift. A publication whose questions Lightspeed
would answer with 413 is refused before anything is written; one that fits is published."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from llama_rollout.errors import ConfigurationError, StorageError
from llama_rollout.mcp_server import SnapshotCluster, bundled_snapshot
from llama_rollout.mcp_server.server import create_app
from llama_rollout.publish import budget, embedded, step
from llama_rollout.publish.request import PublishRequest
from llama_rollout.stack.health import mcp_tool_definitions
from llama_rollout.targets import Target
from tests.fake_kube import FakeKube, running, write_kubeconfig
from tests.servers import serve_app

pytestmark = pytest.mark.integration
MODEL_PREFIX = "models/smol/" + "c" * 40


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with serve_app(create_app(SnapshotCluster(bundled_snapshot()))) as url:
        yield f"{url}/mcp"


@pytest.fixture
def model_uri(s3_connection, mcp_url) -> str:
    """A mirrored model's tokenizer.json in S3: a byte-level BPE trained on English and on the
    tool definitions, as a served model's would have seen such text."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [budget.tool_definitions_text(mcp_tool_definitions(mcp_url))] * 2
    tokenizer.train_from_iterator(
        corpus,
        trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    s3_connection.client().put_object(
        Bucket="models", Key=f"{MODEL_PREFIX}/tokenizer.json", Body=tokenizer.to_str().encode()
    )
    return f"s3://models/{MODEL_PREFIX}/"


@pytest.fixture
def provider_url() -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible /v1 (what Llama Stack serves) that records each question."""
    app, asked = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> dict:
        asked.append(body)
        return {"choices": [{"message": {"role": "assistant", "content": "Hello!"}}]}

    with serve_app(app) as url:
        yield url, asked


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LLAMA_ROLLOUT_STATE_DIR", str(tmp_path / "state"))
    return embedded.olsconfig_file(tmp_path / "state")


def request(model_uri: str, mcp_url: str, stack_url: str, **changes) -> PublishRequest:
    return PublishRequest(**{
        "model_name": "smol", "serving_url": "http://vllm:8000/v1", "serving_model": "smol",
        "llama_stack_url": stack_url, "llama_stack_model_id": "vllm/smol", "mcp_url": mcp_url,
        "model_uri": model_uri, "data_connection": "test-models", **changes,
    })  # fmt: skip


def test_a_publication_over_the_budget_is_refused_before_anything_is_written(
    model_uri, mcp_url, provider_url, state, tmp_path
):
    url, asked = provider_url
    # 4096 - 1536 - 2048 kept for tool results leaves 512: less than Lightspeed's prompt alone.
    too_small = request(model_uri, mcp_url, url, max_model_len=4096, max_tokens=1536)
    with pytest.raises(ConfigurationError) as refused:
        step.publish(Target.LOCAL, too_small, tmp_path / "files")
    message = str(refused.value)
    assert "prompt budget for model vllm/smol is 512 tokens" in message
    assert "7 tools of MCP server cluster-health" in message
    assert "raise max_model_len to" in message and "\n" not in message
    assert not state.exists()  # the embedded OLSConfig was not written
    assert not (tmp_path / "files").exists()
    assert asked == []  # not even the readiness question was asked


def test_a_publication_within_the_budget_is_published(
    model_uri, mcp_url, provider_url, state, tmp_path, caplog
):
    url, asked = provider_url
    fits = request(model_uri, mcp_url, url, max_model_len=8192, max_tokens=1024)
    with caplog.at_level("INFO", logger="llama_rollout.publish.budget"):
        outcome = step.publish(Target.LOCAL, fits, tmp_path / "files")
    assert outcome.changed
    assert "prompt budget for model vllm/smol is 3072 tokens" in caplog.text
    assert "it fits" in caplog.text
    spec = yaml.safe_load(state.read_text())["spec"]
    assert spec["ols"]["defaultModel"] == "vllm/smol"
    assert [s["name"] for s in spec["mcpServers"]] == ["cluster-health"]
    assert len(asked) == 1


def test_the_same_request_without_the_tokenizer_names_the_missing_file(
    s3_connection, mcp_url, provider_url, state, tmp_path
):
    url, asked = provider_url
    missing = request("s3://models/models/none/", mcp_url, url, max_model_len=8192, max_tokens=1024)
    with pytest.raises(StorageError, match=r"s3://models/models/none/ has no tokenizer\.json"):
        step.publish(Target.LOCAL, missing, tmp_path / "files")
    assert not state.exists() and asked == []


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> Iterator[FakeKube]:
    """The fake API holding the seed's OLSConfig, reached through a kubeconfig as `oc login`
    leaves one."""
    fake = FakeKube()
    fake.put("olsconfigs", copy.deepcopy(embedded.SAMPLE))
    with running(fake) as api:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", api, "t")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield fake


def test_on_openshift_lightspeeds_own_tools_refuse_an_8k_window_before_any_write(
    cluster, model_uri, mcp_url, tmp_path
):
    # The seed's OLSConfig keeps introspection and the documentation search on (the defaults).
    default = request(model_uri, mcp_url, "http://stack:8321", max_model_len=8192)
    before = copy.deepcopy(cluster.get("olsconfigs", "cluster"))
    with pytest.raises(ConfigurationError, match="for Lightspeed's own tools") as refused:
        step.publish(Target.OPENSHIFT, default, tmp_path / "files")
    assert f"{budget.OPENSHIFT_MCP_TOOL_TOKENS + budget.DOCS_SEARCH_TOOL_TOKENS}" in str(
        refused.value
    )
    assert cluster.get("olsconfigs", "cluster") == before
    assert cluster.requests and all(r.startswith("GET ") for r in cluster.requests)


def test_on_openshift_a_lightspeed_without_its_own_tools_fits_the_same_window(
    cluster, model_uri, mcp_url
):
    olsconfig = cluster.get("olsconfigs", "cluster")
    olsconfig["spec"]["ols"].update(introspectionEnabled=False, byokRAGOnly=True)
    cluster.put("olsconfigs", olsconfig)
    default = request(model_uri, mcp_url, "http://stack:8321", max_model_len=8192)
    measured = budget.check_before_publishing(
        Target.OPENSHIFT, default.publication(), model_uri=model_uri, data_connection="test-models"
    )
    assert measured is not None and measured.fits
    assert (measured.prompt_budget, measured.built_in_tools) == (2048, 0)
    assert measured.mcp_tool_count == 7
