"""Run the pipeline on the embedded stack with ``kfp.local``, the same DAG as on the cluster.

Before the DAG starts, the inputs are checked the way the steps will use them (source URI,
source revision, bucket and credentials, registry), so bad input fails in seconds with one
line instead of halfway through a run.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llama_rollout import journal, registry
from llama_rollout.assignments import split_assignments, typed_value
from llama_rollout.bounds import VLLM
from llama_rollout.embedded.run_lock import one_run_at_a_time
from llama_rollout.embedded.stack import DATA_CONNECTION_NAME, EmbeddedStack
from llama_rollout.errors import ConfigurationError, RolloutError, quoted
from llama_rollout.evals.dataset import load_dataset
from llama_rollout.evals.gate import Thresholds
from llama_rollout.evals.harness import check_tools
from llama_rollout.journal import N, Note, Step
from llama_rollout.json_http import request_json
from llama_rollout.local_conditions import named_output_conditions
from llama_rollout.mcp_server.access import TOKEN_SECRET, client_token
from llama_rollout.parameters import check_parameters
from llama_rollout.redaction import excerpt
from llama_rollout.registry.publications import live_details
from llama_rollout.serving.embedded import MAX_MODEL_LEN as LOCAL_MAX_MODEL_LEN
from llama_rollout.serving.embedded import PIN_TOOL_ARGUMENTS, pins_tool_arguments
from llama_rollout.stack.health import mcp_tool_definitions
from llama_rollout.step_log import one_line_per_step
from llama_rollout.weights import source
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.model_files import ResolvedSource

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "hf://HuggingFaceTB/SmolLM2-135M-Instruct"
# The bundled 135M model is too small to choose a tool: under tool_choice "auto" it answers
# in prose, and a report of zeros shows nothing of how a call is scored. Under "required" (which
# Llama Stack 0.7.3 applies to a turn's first inference only, then "auto") it calls a tool, and
# the embedded vLLM holds the arguments to the tool's schema (serving/embedded.py,
# PIN_TOOL_ARGUMENTS, given as an extra vLLM argument): measured on the built-in dataset, 59 of 60 cases ran, with tool selection
# 0.42, arguments 0.19 and task success 0.08. So a local run of the bundled model evaluates it
# under "required" unless eval_tool_choice is set, with that argument unless extra_vllm_args is
# set (and the vLLM is the checkout's own, which has it). Under the thresholds set for Llama 3.2 3B its
# gate would never pass and the demo would never reach the publish step: for it, and only when
# no threshold is set, the gate asks only that the whole dataset ran (error rate <= 10%).
# Every other model gets the pipeline's thresholds and tool choice.
BUNDLED_MODEL_TOOL_CHOICE = "required"
BUNDLED_MODEL_GATE = {
    "min_tool_selection_accuracy": 0.0,
    "min_argument_accuracy": 0.0,
    "min_irrelevance_accuracy": 0.0,
    "min_greeting_accuracy": 0.0,
    "min_answer_correctness": 0.0,
    "min_task_success": 0.0,
    "max_error_rate": 0.10,
    "max_calls_in_text_rate": 1.0,
}


# A local run's own defaults, where the pipeline's are a GPU's: the window vLLM serves on a CPU,
# and more requests at once, which vLLM on a CPU batches (benchmarks/evals.py: 8 at once
# answered 1.28 times as many cases per second as 4, on 2 cores). Any of them can be set.
LOCAL_RUN_DEFAULTS = {
    "max_model_len": LOCAL_MAX_MODEL_LEN,
    "eval_concurrency": 8,
    "lm_eval_concurrency": 8,
    # The notebooks call the stack as this workbench (embedded.workbench).
    "workbench_service_account": "workbench",
    # The embedded MCP server requires the token of its Secret (embedded.stack).
    "mcp_token_secret": TOKEN_SECRET,
}


@dataclass(frozen=True)
class LocalRun:
    """What a local run did: the run summary's record (its journal), flattened for ``--json``."""

    record: dict[str, Any]
    pipeline_root: str
    mcp_url: str = ""
    log_file: str = ""
    # The live version's details, by step, when the run found it live and skipped those steps.
    live: dict[Step, Note] = field(default_factory=dict)

    def note(self, kind: type[N]) -> N:
        """The step's note, else the live version's details, else an empty note."""
        noted = (self.record.get("notes") or {}).get(kind.step)
        found = kind.model_validate(noted) if noted else self.live.get(kind.step)
        return found if isinstance(found, kind) else kind()

    def as_dict(self) -> dict[str, Any]:
        resolved = self.note(journal.ResolveSourceNote)
        mirrored = self.note(journal.MirrorWeightsNote)
        registered = self.note(journal.RegisterModelNote)
        served = self.note(journal.DeployModelServerNote)
        stack = self.note(journal.DeployLlamaStackNote)
        evaluated = self.note(journal.EvaluateNote)
        published = self.note(journal.PublishNote)
        return {
            "outcome": self.record.get("outcome", ""),
            "headline": self.record.get("headline", ""),
            "steps": self.record.get("steps", []),
            "source": resolved.pinned_uri,
            "revision": resolved.revision,
            "model_name": resolved.model_name,
            "changed": resolved.changed,
            "reason": resolved.reason,
            "model_uri": mirrored.model_uri,
            "bytes_transferred": mirrored.bytes_transferred,
            "files": mirrored.files,
            "registered_model_id": registered.registered_model_id,
            "model_version_id": registered.model_version_id,
            "model_version_name": registered.model_version_name,
            "serving": {"url": served.serving_url, "model": served.serving_model},
            "llama_stack": {"url": stack.url, "version": stack.version, "model_id": stack.model_id},
            "mcp": {"url": self.mcp_url, "tools": list(stack.mcp_tools)},
            "evals": {
                "passed": evaluated.passed,
                "metrics": dict(evaluated.metrics),
                "missed": list(evaluated.missed),
                "report": evaluated.report_path,
                "report_uri": evaluated.report_uri,
            },
            "lightspeed": {
                "summary": published.summary,
                "changed": published.changed,
                "olsconfig": published.olsconfig_path,
            },
            "pipeline_root": self.pipeline_root,
            "log_file": self.log_file,
        }


# What a local run sets itself: the embedded stack's own values, and the two flags.
LOCAL_RUN_SETS = {
    "source_uri": "--source",
    "model_name": "--model-name",
    "target": "run --local",
    "data_connection": "the embedded stack",
    "registry_url": "the embedded stack",
    "registry_name": "the embedded stack",
    "mcp_url": "the embedded stack",
}


def _pipeline_signature() -> inspect.Signature:
    from pipelines.rollout import rollout_pipeline

    return inspect.signature(rollout_pipeline.pipeline_func)


def pipeline_parameters(**values: Any) -> dict[str, Any]:
    """Every parameter of the pipeline: its defaults, with ``values`` in their place."""
    defaults = {name: p.default for name, p in _pipeline_signature().parameters.items()}
    if unknown := sorted(set(values) - set(defaults)):
        raise ConfigurationError(
            f"the pipeline has no parameter {', '.join(unknown)}",
            hint=f"its parameters are {', '.join(defaults)}",
        )
    return {**defaults, **values}


def parse_parameter_assignments(
    assignments: list[str], *, reserved: dict[str, str] | None = None
) -> dict[str, Any]:
    """``--set KEY=VALUE``: pipeline parameters, typed as the pipeline types them; the
    ``reserved`` ones (``LOCAL_RUN_SETS`` for a local run) are refused, naming their source."""
    signature = _pipeline_signature().parameters
    reserved = reserved or {}
    values: dict[str, Any] = {}
    for key, raw in split_assignments(assignments):
        if key in reserved:
            raise ConfigurationError(
                f"--set {key}: a local run takes {key} from {reserved[key]}",
                hint="leave it out" if " " in reserved[key] else f"use {reserved[key]}",
            )
        if key not in signature:
            settable = sorted(set(signature) - set(reserved))
            raise ConfigurationError(
                f"the pipeline has no parameter {quoted(key)}",
                hint=f"its parameters: {', '.join(settable)}",
            )
        values[key] = typed_value(key, raw, signature[key].annotation)
    return values


def run_record(task: Any, pipeline_root: Path) -> dict[str, Any]:
    """The exit handler's record of a kfp.local run: the pipeline's output when the run
    succeeded. A failed run returns no output at all, so then summarize-run's own output file,
    the newest in ``pipeline_root``; empty when the exit handler never ran."""
    outputs = dict(task.outputs) if task is not None else {}
    if len(outputs) == 1:
        return dict(next(iter(outputs.values())) or {})
    written = sorted(
        pipeline_root.glob("*/summarize-run/executor_output.json"),
        key=lambda path: path.stat().st_mtime,
    )
    if not written:
        return {}
    values = json.loads(written[-1].read_text()).get("parameterValues") or {}
    return dict(values.get("record") or {})


def preflight(parameters: dict[str, Any], env: dict[str, str]) -> ResolvedSource:
    """Check every input a step will use; raise the first problem as a RolloutError.

    The embedded MCP server is up before the first step: a dataset that expects a tool it
    lacks is refused now, not by the evaluate step after the mirror, the registry and vLLM.
    """
    spec = source.parse_source_uri(parameters["source_uri"])
    resolved = source.resolve(spec)
    connection = DataConnection.from_env(env)
    connection.check_bucket()
    registry.connect(registry.endpoint_for(env["MODEL_REGISTRY_URL"]))
    dataset = load_dataset(parameters["eval_dataset"]).dataset
    if parameters["eval_cases"]:
        dataset = dataset.subset(parameters["eval_cases"])
    mcp_url = env["MCP_SERVER_URL"]
    token = client_token(parameters["namespace"], parameters["mcp_token_secret"])
    check_tools(dataset, mcp_tool_definitions(mcp_url, token=token), mcp_url)
    return resolved


def bundled_model_gate(source_uri: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The demo's gate for the bundled model, unless the user set any threshold."""
    if source_uri != DEFAULT_SOURCE or set(parameters) & set(Thresholds.model_fields):
        return parameters
    logger.info(
        "the bundled 135M model cannot choose tools: its gate only asks that the whole dataset "
        "ran (error rate <= %.0f%%); set any threshold to gate it as the pipeline gates Llama "
        "3.2 3B",
        BUNDLED_MODEL_GATE["max_error_rate"] * 100,
    )
    return parameters | BUNDLED_MODEL_GATE


def bundled_model_tool_choice(source_uri: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The demo's tool choice for the bundled model, unless the user set one."""
    if source_uri != DEFAULT_SOURCE or "eval_tool_choice" in parameters:
        return parameters
    logger.info(
        "the bundled 135M model answers in prose under tool_choice auto: it is evaluated under "
        "%s, so that its calls are scored; set eval_tool_choice to change that",
        BUNDLED_MODEL_TOOL_CHOICE,
    )
    chosen = parameters | {"eval_tool_choice": BUNDLED_MODEL_TOOL_CHOICE}
    if "extra_vllm_args" not in parameters and pins_tool_arguments():
        chosen["extra_vllm_args"] = [PIN_TOOL_ARGUMENTS]
    return chosen


def run_local(
    *,
    source_uri: str = DEFAULT_SOURCE,
    model_name: str = "",
    parameters: dict[str, Any] | None = None,
    stack: EmbeddedStack | None = None,
) -> LocalRun:
    """Start the embedded stack if needed and run the whole pipeline on it.

    Args:
        source_uri: the model source.
        model_name: the registered model name; empty to derive it from the source.
        parameters: other pipeline parameters (``parse_parameter_assignments``).
        stack: the embedded stack (default: the user's).

    Returns:
        The pipeline's outputs.
    """
    parameters = bundled_model_gate(source_uri, dict(parameters or {}))
    parameters = bundled_model_tool_choice(source_uri, parameters)
    parameters = LOCAL_RUN_DEFAULTS | parameters
    parameters = pipeline_parameters(
        **parameters,
        source_uri=source_uri,
        model_name=model_name,
        data_connection=DATA_CONNECTION_NAME,
        target="local",
    )
    check_parameters(parameters)  # bad input fails before anything starts
    stack = stack or EmbeddedStack()
    with one_run_at_a_time(stack.root):
        return _run_on(stack, parameters)


def _run_on(stack: EmbeddedStack, parameters: dict[str, Any]) -> LocalRun:
    from kfp import local

    from pipelines.rollout import rollout_pipeline

    if not stack.is_healthy():
        logger.info("starting the embedded stack")
    stack.up()
    env = stack.environment()
    os.environ.update(env)  # kfp.local runs each step as a child process of this one
    resolved = preflight(parameters, env)
    pipeline_root = stack.root / "pipeline-root"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=False,
    )
    log_file = stack.root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    print(f"running the pipeline on the embedded stack; full logs: {log_file}", file=sys.stderr)
    with one_line_per_step(log_file), named_output_conditions():
        task = rollout_pipeline(
            **{
                **parameters,
                "registry_url": env["MODEL_REGISTRY_URL"],
                "mcp_url": env["MCP_SERVER_URL"],
            }
        )
    record = run_record(task, pipeline_root)
    if not record:
        raise RolloutError(
            f"the pipeline failed on the embedded stack for {resolved.pinned_uri}",
            hint=f"the failing step's log is in {log_file}; logs of the servers are listed by "
            "`llama-rollout local status`",
        )
    run = LocalRun(record, str(pipeline_root), env["MCP_SERVER_URL"], str(log_file))
    if record.get("outcome") == "unchanged":
        model = run.note(journal.ResolveSourceNote).model_name
        live = live_details(
            registry.connect(registry.endpoint_for(env["MODEL_REGISTRY_URL"])), model
        )
        run = replace(run, live=live)
    if report := run.note(journal.EvaluateNote).report_path:
        # A KFP artifact's file has no extension; a browser wants one to show it as a page.
        page = Path(report).with_name("report.html")
        shutil.copyfile(report, page)
        record["notes"][Step.EVALUATE]["report_path"] = str(page)
    if record.get("outcome") == "failed":
        raise RolloutError(
            record.get("headline", "the run failed"),
            hint=f"the failing step's log is in {log_file}",
        )
    return run


def ask(
    base_url: str, model: str, question: str, *, token: str | None = None, max_tokens: int = 64
) -> str:
    """One chat completion from an OpenAI-compatible server (with ``token``, when it has
    auth on)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    status, answer = request_json(
        "POST",
        f"{base_url}/chat/completions",
        body,
        bound=VLLM,
        what="the model server",
        token=token,
    )
    try:
        return str(answer["choices"][0]["message"]["content"]).strip()
    except (TypeError, KeyError, IndexError):
        raise RolloutError(
            f"the model server at {base_url} answered {status}: {excerpt(answer, 200)}"
        ) from None
