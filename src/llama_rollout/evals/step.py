"""The evaluation stage's step: run a dataset through Llama Stack with the MCP server, score it,
apply the gate, and write the results and the report.

The same on both targets: Llama Stack and the MCP server are URLs. Everything that can be
checked before a case runs is checked first, cheapest first (the dataset, then the MCP
server's tools, then Llama Stack), and a stack that fails every case is an error: an
evaluation never reports a silent score of 0 for a stack that did not answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from llama_rollout.evals.dataset import load_dataset
from llama_rollout.evals.gate import GateResult, apply_gate
from llama_rollout.evals.harness import (
    CaseResult,
    HarnessError,
    check_tools,
    openai_client,
    run_dataset,
)
from llama_rollout.evals.metrics import CaseScore, coverage, score_case, summarise
from llama_rollout.evals.quality import (
    QualityResult,
    check_endpoint,
    check_tasks,
    run_quality,
)
from llama_rollout.evals.report import html_report, markdown_summary
from llama_rollout.evals.request import Evaluation, EvaluationRequest
from llama_rollout.evals.storage import upload_results
from llama_rollout.kube.identity import service_account_token
from llama_rollout.kube.trust import cluster_ca_bundle
from llama_rollout.mcp_server.access import client_token
from llama_rollout.registry.scores import record_scores, score_properties
from llama_rollout.registry.versions import connect
from llama_rollout.stack.health import check_server, mcp_tool_definitions
from llama_rollout.weights.connection import DataConnection

logger = logging.getLogger(__name__)
TITLE = "Tool use through Llama Stack"


def run_evaluation(request: EvaluationRequest, output_dir: Path) -> Evaluation:
    """Evaluate the model behind Llama Stack; write ``results.jsonl``, ``report.html`` and
    ``summary.md`` to ``output_dir``.

    Raises:
        DatasetError: the dataset is missing, malformed, or expects tools the server lacks.
        StackLinkError: the MCP server or Llama Stack cannot be reached.
        HarnessError: no case could run.
    """
    loaded = load_dataset(request.dataset)
    dataset = loaded.dataset.subset(request.cases) if request.cases else loaded.dataset
    check_tasks(request.quality)
    mcp_token = client_token(request.namespace, request.mcp_token_secret)
    tools = mcp_tool_definitions(request.mcp_url, token=mcp_token)
    check_tools(dataset, tools, request.mcp_url)
    check_server(request.llama_stack_url, request.model_id)
    # vLLM with token auth takes the step's service-account token.
    serving_token = (service_account_token() or None) if request.serving_auth else None
    # KServe's auth proxy has a service-CA certificate; lm-eval may also reach the hub.
    serving_ca = cluster_ca_bundle() if request.serving_url.startswith("https://") else None
    if request.quality.tasks:
        check_endpoint(
            request.serving_url, request.serving_model, api_key=serving_token, ca_certs=serving_ca
        )
    settings = request.harness
    logger.info(
        "evaluating %s on %d cases of %s x %d trials (tool_choice %s, concurrency %d)",
        request.model_id,
        len(dataset.cases),
        dataset.name,
        settings.trials,
        settings.tool_choice,
        settings.concurrency,
    )
    # Llama Stack admits the pipeline's runner by its token (stack.access).
    client = openai_client(
        f"{request.llama_stack_url.rstrip('/')}/v1", api_key=service_account_token() or "none"
    )
    results = asyncio.run(
        run_dataset(
            client, request.model_id, request.mcp_url, dataset, settings, mcp_token=mcp_token
        )
    )
    if all(r.error for r in results):
        raise HarnessError(
            f"no case of {dataset.name} ran: {results[0].error}",
            hint=f"check Llama Stack at {request.llama_stack_url}; the scores would say nothing",
        )
    scores = [score_case(dataset, r, tools) for r in results]
    metrics = summarise(scores, settings.trials) | coverage(
        len(dataset.cases), len(loaded.dataset.cases)
    )
    quality = QualityResult({})
    if request.quality.tasks:
        quality = run_quality(
            request.serving_url,
            request.serving_model,
            request.quality,
            api_key=serving_token,
            ca_certs=serving_ca,
        )
        metrics |= quality.metrics
    gate = apply_gate(metrics, request.thresholds)
    run = RunRecord(results, scores, quality, dataset.name, request.model_id, request.caller)
    files = _write(output_dir, run, metrics, gate)
    logger.info("gate %s%s", "passed" if gate.passed else "did not pass: ", "; ".join(gate.missed))
    return Evaluation(gate.passed, metrics, gate.missed, dataset.name, loaded.sha256, files)


def evaluate(request: EvaluationRequest, output_dir: Path) -> Evaluation:
    """Evaluate, then record the files beside the model and the scores on its version."""
    evaluation = run_evaluation(request, output_dir)
    recording = request.recording
    if recording.model_uri:
        connection = DataConnection.from_env(name=recording.data_connection)
        run_id = recording.run_id or "latest"
        uris = upload_results(connection, recording.model_uri, run_id, evaluation.files)
        evaluation = replace(evaluation, uris=uris)
        logger.info("evaluation files are in %s", uris["report"].rsplit("/", 1)[0] + "/")
    if recording.model_version_name:
        endpoint = recording.registry.endpoint()
        properties = score_properties(
            evaluation.metrics,
            dataset=evaluation.dataset,
            dataset_sha256=evaluation.dataset_sha256,
            passed=evaluation.passed,
            report_uri=evaluation.uris.get("report", ""),
        )
        record_scores(
            connect(endpoint), recording.model_name, recording.model_version_name, properties
        )
        logger.info(
            "scores recorded on %s version %s", recording.model_name, recording.model_version_name
        )
    return evaluation


@dataclass(frozen=True)
class RunRecord:
    """What one evaluation ran and found, for its files."""

    results: list[CaseResult]
    scores: list[CaseScore]
    quality: QualityResult
    dataset: str
    model: str
    caller: str = ""


def _write(
    output_dir: Path, run: RunRecord, metrics: dict[str, float], gate: GateResult
) -> dict[str, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "results": output_dir / "results.jsonl",
        "report": output_dir / "report.html",
        "summary": output_dir / "summary.md",
    }
    with files["results"].open("w") as out:
        for result, score in zip(run.results, run.scores, strict=True):
            record = {**result.as_json(), "score": {**score.__dict__, "success": score.success}}
            out.write(json.dumps(record, sort_keys=True) + "\n")
    if run.quality.samples:
        files["quality"] = output_dir / "quality.jsonl"
        files["quality"].write_text(
            "".join(json.dumps(s, sort_keys=True) + "\n" for s in run.quality.samples)
        )
    files["report"].write_text(
        html_report(
            TITLE,
            metrics,
            gate,
            run.scores,
            run.results,
            dataset=run.dataset,
            model=run.model,
            caller=run.caller,
            quality=run.quality.samples,
        )
    )
    files["summary"].write_text(
        markdown_summary(
            TITLE, metrics, gate, dataset=run.dataset, model=run.model, caller=run.caller
        )
    )
    return files
