"""The summarize-run component as each runner calls it, with the journal in the embedded S3.

On a cluster, KFP's executor builds ``PipelineTaskFinalStatus`` from the struct the driver
writes (kubeflow/pipelines backend/src/v2/driver/resolve.go: protojson of ``state`` (ML
Metadata's name), ``pipelineTaskName``, ``pipelineJobResourceName`` and an empty ``error``;
its test, driver_test.go, expects exactly those keys). Here the real ``kfp.dsl.executor``
reads that struct. kfp.local is run for real, with a guarded step that fails or not.
"""
# No `from __future__ import annotations`: KFP reads the components' annotations as types.

import json
import uuid

import pytest
from kfp import dsl, local
from kfp.dsl.executor import Executor

from components.summarize_run import summarize_run
from llama_rollout import journal
from llama_rollout.pipeline_run import run_record

pytestmark = pytest.mark.integration
PREFIX = "models"
RESOLVED = journal.ResolveSourceNote(pinned_uri="hf://m@abc", revision="abc", model_name="m",
                                     changed=True,
                                     reason="no version of this model is published yet")  # fmt: skip


def run_on_cluster(tmp_path, run_id: str, state: str) -> tuple[dict, str]:
    """The component through KFP's executor, with the input a pipelines server's driver writes."""
    executor_input = {
        "inputs": {
            "parameterValues": {
                "status": {
                    "state": state,
                    "pipelineTaskName": "exit-handler-1",
                    "pipelineJobResourceName": f"llama-rollout-{run_id}",
                    "error": {},
                },
                "s3_prefix": PREFIX,
                "run_id": run_id,
            }
        },
        "outputs": {
            "artifacts": {
                "summary": {
                    "artifacts": [
                        {
                            "name": "summary",
                            "type": {"schemaTitle": "system.Markdown"},
                            "uri": str(tmp_path / "summary"),
                            "metadata": {},
                        }
                    ]
                }
            },
            "parameters": {
                name: {"outputFile": str(tmp_path / name)}
                for name in ("outcome", "headline", "record")
            },
            "outputFile": str(tmp_path / "executor_output.json"),
        },
    }
    Executor(executor_input, summarize_run).execute()
    written = json.loads((tmp_path / "executor_output.json").read_text())
    return written["parameterValues"]["record"], (tmp_path / "summary").read_text()


@pytest.mark.parametrize(
    ("state", "outcome", "row"),
    [
        ("COMPLETE", "not-published", ("mirror weights", "not run", "")),
        ("CACHED", "not-published", ("mirror weights", "not run", "")),
        ("FAILED", "failed", ("mirror weights", "failed", "no result: the step's log says why")),
        ("CANCELED", "not-published", ("mirror weights", "not run", "")),
        ("RUNNING", "failed", ("mirror weights", "did not finish",
                               "no result: the step's log says why")),
    ],
)  # fmt: skip
def test_the_cluster_s_states_with_an_empty_error(s3_connection, tmp_path, state, outcome, row):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    journal.note(RESOLVED, s3_prefix=PREFIX, run_id=run_id)
    record, markdown = run_on_cluster(tmp_path, run_id, state)
    assert (record["outcome"], record["state"]) == (outcome, state)
    assert record["notes"]["resolve source"]["pinned_uri"] == "hf://m@abc"
    step = record["steps"][1]
    assert (step["step"], step["status"], step["detail"]) == row
    assert f"The pipeline's final state: `{state}`." in markdown


def test_a_published_run_on_a_cluster(s3_connection, tmp_path):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    for step in journal.STEPS:
        fields = RESOLVED if step == "resolve source" else journal.NOTES[step]()
        if step == "evaluate":
            fields = journal.EvaluateNote(passed=True, metrics={"task_success": 0.9})
        if step == "publish":
            fields = journal.PublishNote(summary="provider llamastack: model vllm/m")
        journal.note(fields, s3_prefix=PREFIX, run_id=run_id)
    record, _ = run_on_cluster(tmp_path, run_id, "COMPLETE")
    assert record["outcome"] == "published"
    assert record["headline"] == "published to Lightspeed: provider llamastack: model vllm/m"


@dsl.component(base_image="python:3.11")
def resolve_source(s3_prefix: str, run_id: str, changed: bool, fail: bool):
    from llama_rollout import journal

    journal.note(journal.ResolveSourceNote(
        pinned_uri="hf://m@abc", changed=changed, reason="nothing changed: revision abc is live"),
        s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    if fail:
        raise RuntimeError("the next step broke")


@dsl.pipeline
def guarded(s3_prefix: str, run_id: str, changed: bool, fail: bool) -> dict:
    summary = summarize_run(s3_prefix=s3_prefix, run_id=run_id)
    with dsl.ExitHandler(summary):
        resolve_source(s3_prefix=s3_prefix, run_id=run_id, changed=changed, fail=fail)
    return summary.outputs["record"]


def run_locally(tmp_path, *, changed: bool, fail: bool) -> dict:
    """The exit handler's record from a kfp.local run (a failed run returns no outputs)."""
    root = tmp_path / "root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=False)  # fmt: skip
    task = guarded(s3_prefix=PREFIX, run_id=f"run-{uuid.uuid4().hex[:12]}", changed=changed,
                   fail=fail)  # fmt: skip
    (written,) = root.glob("guarded-*/summarize-run/executor_output.json")
    record = json.loads(written.read_text())["parameterValues"]["record"]
    assert run_record(task, root) == record, "what `run --local` reports"
    return record


def test_kfp_local_says_succeeded(s3_connection, tmp_path):
    record = run_locally(tmp_path, changed=False, fail=False)
    assert (record["state"], record["outcome"]) == ("SUCCEEDED", "unchanged")
    assert record["headline"] == "nothing changed: revision abc is live"


def test_kfp_local_says_failed_with_a_message_of_its_own(s3_connection, tmp_path):
    record = run_locally(tmp_path, changed=True, fail=True)
    assert (record["state"], record["outcome"]) == ("FAILED", "failed")
    assert record["headline"] == "the run failed at mirror weights: nothing more was changed"
    step = record["steps"][1]
    assert step["status"] == "failed"
    assert step["detail"].startswith("no result: the step's log says why (")
    assert step["detail"] != "no result: the step's log says why", "kfp.local gives a message"
