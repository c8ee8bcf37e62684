"""Run the pipeline on the embedded stack with ``kfp.local``, the same DAG as on the cluster.

Before the DAG starts, the inputs are checked the way the steps will use them (source URI,
source revision, bucket and credentials, registry), so bad input fails in seconds with one
line instead of halfway through a run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from llama_rollout import registry
from llama_rollout.bounds import VLLM
from llama_rollout.embedded.stack import DATA_CONNECTION_NAME, EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.weights import source
from llama_rollout.weights.connection import DataConnection

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "hf://HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class LocalRun:
    """What a local run produced, flattened for ``--json``."""

    outputs: dict[str, Any]
    pipeline_root: str
    mcp_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        flat = dict(self.outputs)
        nested = {
            "serving": {"url": flat.pop("serving_url", ""), "model": flat.pop("serving_model", "")},
            "llama_stack": {
                "url": flat.pop("llama_stack_url", ""),
                "version": flat.pop("llama_stack_version", ""),
                "model_id": flat.pop("llama_stack_model_id", ""),
            },
            "mcp": {"url": self.mcp_url, "tools": list(flat.pop("mcp_tools", []))},
        }
        return {**flat, **nested, "pipeline_root": self.pipeline_root}


def preflight(source_uri: str, env: dict[str, str]) -> source.ResolvedSource:
    """Check every input a step will use; raise the first problem as a RolloutError."""
    spec = source.parse_source_uri(source_uri)
    resolved = source.resolve(spec)
    connection = DataConnection.from_env(env)
    connection.check_bucket()
    registry.connect(registry.endpoint_for(env["MODEL_REGISTRY_URL"]))
    return resolved


def run_local(
    *, source_uri: str = DEFAULT_SOURCE, model_name: str = "", stack: EmbeddedStack | None = None
) -> LocalRun:
    """Start the embedded stack if needed and run the whole pipeline on it.

    Args:
        source_uri: the model source.
        model_name: the registered model name; empty to derive it from the source.
        stack: the embedded stack (default: the user's).

    Returns:
        The pipeline's outputs.
    """
    from kfp import local

    from pipelines.rollout import rollout_pipeline

    source.parse_source_uri(source_uri)  # a malformed URI fails before anything starts
    stack = stack or EmbeddedStack()
    if not stack.is_healthy():
        logger.info("starting the embedded stack")
    stack.up()
    env = stack.environment()
    os.environ.update(env)  # kfp.local runs each step as a child process of this one
    resolved = preflight(source_uri, env)
    pipeline_root = stack.root / "pipeline-root"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=False,
    )
    task = rollout_pipeline(
        source_uri=source_uri,
        model_name=model_name,
        data_connection=DATA_CONNECTION_NAME,
        registry_url=env["MODEL_REGISTRY_URL"],
        target="local",
        mcp_url=env["MCP_SERVER_URL"],
    )
    outputs = dict(task.outputs) if task is not None else {}
    if not outputs:
        raise RolloutError(
            f"the pipeline failed on the embedded stack for {resolved.pinned_uri}",
            hint="the failing step's log is above; logs of the servers are listed by "
            "`llama-rollout local status`",
        )
    return LocalRun(outputs, str(pipeline_root), env["MCP_SERVER_URL"])


def ask(base_url: str, model: str, question: str, *, max_tokens: int = 64) -> str:
    """One chat completion from an OpenAI-compatible server."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    status, answer = request_json(
        "POST", f"{base_url}/chat/completions", body, bound=VLLM, what="the model server"
    )
    try:
        return str(answer["choices"][0]["message"]["content"]).strip()
    except (TypeError, KeyError, IndexError):
        raise RolloutError(
            f"the model server at {base_url} answered {status}: {str(answer)[:200]}"
        ) from None
