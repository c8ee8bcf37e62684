"""Step 6: evaluate MCP tool use through Llama Stack, and apply the quality gate."""

from typing import NamedTuple

from kfp.dsl import HTML, Markdown, Metrics, Output

from components import step_component


@step_component("llama_rollout.evals.request:EvaluationRequest")
def evaluate(
    llama_stack_url: str,
    model_id: str,
    scores: Output[Metrics],
    summary: Output[Markdown],
    report: Output[HTML],
    serving_url: str = "",
    serving_model: str = "",
    caller: str = "",
    s3_prefix: str = "models",
    mcp_url: str = "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
    mcp_token_secret: str = "",
    namespace: str = "self-healing-platform",
    dataset: str = "cluster-health",
    cases: list = [],  # noqa: B006 - a KFP parameter default, never mutated
    tool_choice: str = "auto",
    max_infer_iters: int = 4,
    max_tool_calls: int = 4,
    max_output_tokens: int = 256,
    concurrency: int = 4,
    trials: int = 1,
    min_tool_selection_accuracy: float = 0.75,
    min_argument_accuracy: float = 0.60,
    min_irrelevance_accuracy: float = 0.60,
    min_greeting_accuracy: float = 0.75,
    min_answer_correctness: float = 0.50,
    min_task_success: float = 0.45,
    max_error_rate: float = 0.05,
    max_calls_in_text_rate: float = 0.0,
    min_case_coverage: float = 1.0,
    lm_eval_tasks: list = ["openshift_troubleshooting"],  # noqa: B006 - never mutated
    lm_eval_concurrency: int = 4,
    lm_eval_limit: int = 0,
    serving_auth: bool = True,
    model_uri: str = "",
    run_id: str = "",
    data_connection: str = "llama-rollout-models",
    model_name: str = "",
    model_version_name: str = "",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
) -> NamedTuple(
    "Evaluation", passed=bool, missed=list, metrics=dict, report_uri=str, report_path=str
):
    """Run the dataset through Llama Stack with the MCP server as a tool, score it by BFCL's
    rules, run the lm-eval tasks against vLLM, and apply the gate. A failed gate is an
    outcome (``passed`` false, ``missed`` says why), not a failed step. The scores go to the
    KFP Metrics, the summary and report to the dashboard, the files beside the model in S3
    and the scores onto its ModelVersion.

    Args:
        scores: the evaluation's metrics, for the dashboard.
        summary: the gate and the scores as Markdown.
        report: the HTML report of every case.

    Returns:
        passed: whether the gate passed.
        missed: what the gate missed, one line each.
        metrics: every score.
        report_uri: the report in S3, beside the model.
        report_path: the report artifact's local path.
    """
    arguments = dict(locals())  # first: exactly the arguments
    import math
    import shutil
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    from llama_rollout import journal
    from llama_rollout.evals.request import EvaluationRequest
    from llama_rollout.evals.step import evaluate as evaluate_version
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.step_parameters import request_from

    configure_step_logging(quiet=("httpx2",))  # httpx2: a line per request otherwise
    request = request_from(EvaluationRequest, arguments)
    evaluation = evaluate_version(request, Path(tempfile.mkdtemp(prefix="evaluation-")))
    for name, value in evaluation.metrics.items():
        if not math.isnan(value):
            scores.log_metric(name, value)
    for name, artifact in (("summary", summary), ("report", report)):
        shutil.copyfile(evaluation.files[name], artifact.path)
    measured = {k: v for k, v in evaluation.metrics.items() if not math.isnan(v)}
    journal.note(
        journal.EvaluateNote(
            passed=evaluation.passed,
            missed=list(evaluation.missed),
            metrics=measured,
            report_uri=evaluation.uris.get("report", ""),
            report_path=report.path,
            caller=request.caller,
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    outputs = namedtuple("Evaluation", ["passed", "missed", "metrics", "report_uri", "report_path"])
    return outputs(
        evaluation.passed,
        list(evaluation.missed),
        measured,
        evaluation.uris.get("report", ""),
        report.path,
    )
