"""Step 6: evaluate MCP tool use through Llama Stack, and apply the quality gate."""

from typing import NamedTuple

from kfp.dsl import HTML, Markdown, Metrics, Output

from components import runtime_component


@runtime_component
def evaluate(
    llama_stack_url: str, model_id: str, mcp_url: str, dataset: str, cases: list, trials: int,
    tool_choice: str, max_infer_iters: int, max_tool_calls: int, max_output_tokens: int,
    concurrency: int, min_tool_selection_accuracy: float, min_argument_accuracy: float,
    min_irrelevance_accuracy: float, min_greeting_accuracy: float,
    min_answer_correctness: float, min_task_success: float, max_error_rate: float,
    max_calls_in_text_rate: float, min_case_coverage: float, serving_url: str, serving_model: str, serving_auth: bool,
    lm_eval_tasks: list, lm_eval_limit: int, lm_eval_concurrency: int, model_uri: str,
    model_name: str, model_version_name: str,
    data_connection: str, registry_url: str, registry_name: str, registry_namespace: str,
    run_id: str, s3_prefix: str, scores: Output[Metrics], summary: Output[Markdown], report: Output[HTML],
) -> NamedTuple("Evaluation", passed=bool, missed=list, metrics=dict, report_uri=str,
                report_path=str):  # fmt: skip
    """Run the dataset through Llama Stack with the MCP server as a tool, score it by BFCL's
    rules, run the lm-eval tasks against vLLM, and apply the gate. A failed gate is an
    outcome (``passed`` false, ``missed`` says why), not a failed step. The scores go to the
    KFP Metrics, the summary and report to the dashboard, the files beside the model in S3
    and the scores onto its ModelVersion.

    Args: the pipeline's ``eval_*`` and ``lm_eval_*`` parameters and thresholds, Llama
    Stack's URL and model id, vLLM's URL and model, and the model's place in S3 and in the
    registry.
    """
    import math
    import shutil
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    from llama_rollout import journal
    from llama_rollout.evals.gate import Thresholds
    from llama_rollout.evals.harness import HarnessSettings
    from llama_rollout.evals.quality import QualitySettings
    from llama_rollout.evals.step import EvaluationRequest, Recording, evaluate_step
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.registry.endpoint import service_account_token

    configure_step_logging(quiet=("httpx2",))  # httpx2: a line per request otherwise
    request = EvaluationRequest(
        llama_stack_url=llama_stack_url, model_id=model_id, mcp_url=mcp_url, dataset=dataset,
        cases=tuple(cases), harness=HarnessSettings(
            tool_choice=tool_choice, max_infer_iters=max_infer_iters,
            max_tool_calls=max_tool_calls, max_output_tokens=max_output_tokens,
            concurrency=concurrency, trials=trials),
        thresholds=Thresholds(
            min_tool_selection_accuracy=min_tool_selection_accuracy,
            min_argument_accuracy=min_argument_accuracy,
            min_irrelevance_accuracy=min_irrelevance_accuracy,
            min_greeting_accuracy=min_greeting_accuracy,
            min_answer_correctness=min_answer_correctness, min_task_success=min_task_success,
            max_error_rate=max_error_rate, max_calls_in_text_rate=max_calls_in_text_rate,
            min_case_coverage=min_case_coverage),
        quality=QualitySettings(tasks=tuple(lm_eval_tasks), limit=lm_eval_limit,
                                num_concurrent=lm_eval_concurrency),
        serving_url=serving_url, serving_model=serving_model,
        serving_token=(service_account_token() or "") if serving_auth else "",
    )  # fmt: skip
    recording = Recording(
        model_uri=model_uri, run_id=run_id, data_connection=data_connection,
        model_name=model_name, model_version_name=model_version_name,
        registry_url=registry_url, registry_name=registry_name,
        registry_namespace=registry_namespace,
    )  # fmt: skip
    evaluation = evaluate_step(request, recording, Path(tempfile.mkdtemp(prefix="evaluation-")))
    for name, value in evaluation.metrics.items():
        if not math.isnan(value):
            scores.log_metric(name, value)
    for name, artifact in (("summary", summary), ("report", report)):
        shutil.copyfile(evaluation.files[name], artifact.path)
    measured = {k: v for k, v in evaluation.metrics.items() if not math.isnan(v)}
    journal.note(journal.Step.EVALUATE, journal.EvaluateNote(
        passed=evaluation.passed, missed=list(evaluation.missed), metrics=measured,
        report_uri=evaluation.uris.get("report", ""), report_path=report.path),
        s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    outputs = namedtuple("Evaluation", ["passed", "missed", "metrics", "report_uri", "report_path"])
    return outputs(evaluation.passed, list(evaluation.missed), measured,
                   evaluation.uris.get("report", ""), report.path)  # fmt: skip
