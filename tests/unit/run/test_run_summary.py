"""The run summary from a journal: one headline per outcome, every step's row, in the state
names of every place a run can end.

A pipelines server gives ML Metadata's execution state names (COMPLETE, FAILED, CANCELED,
CACHED, RUNNING, NEW, UNKNOWN: kubeflow/pipelines backend/src/v2/driver/resolve.go) and an
empty error message; kfp.local gives SUCCEEDED or FAILED with a message of its own.
"""

from __future__ import annotations

import io

import pytest

from llama_rollout.journal import (
    STEPS,
    DeployLlamaStackNote,
    DeployModelServerNote,
    EvaluateNote,
    Journal,
    MirrorWeightsNote,
    Note,
    PublishNote,
    RegisterModelNote,
    ResolveSourceNote,
    Step,
)
from llama_rollout.run_summary import summarize
from llama_rollout.step_log import StepLog


def by_step(*notes: Note) -> dict[Step, Note]:
    return {note.step: note for note in notes}


RESOLVED = ResolveSourceNote(pinned_uri="hf://m@abc", revision="abc", model_name="m",
                             changed=True, reason="no version of this model is published yet")  # fmt: skip
DEPLOYED = by_step(
    RESOLVED,
    MirrorWeightsNote(model_uri="s3://b/m/abc/", files=6, bytes_transferred=10),
    RegisterModelNote(model_name="m", model_version_name="abc"),
    DeployModelServerNote(serving_url="http://v/v1", serving_model="m"),
    DeployLlamaStackNote(url="http://ls", version="0.7.3", model_id="vllm/m",
                         mcp_tools=["node_status"]),
)  # fmt: skip
PUBLISHED = {**DEPLOYED, **by_step(
    EvaluateNote(passed=True, metrics={"task_success": 0.9}),
    PublishNote(summary="provider llamastack: model vllm/m at http://ls/v1"))}  # fmt: skip
GATE_FAILED = {**DEPLOYED, **by_step(EvaluateNote(
    passed=False, missed=["task_success 0.25 < 0.45"], metrics={"task_success": 0.25}))}  # fmt: skip
UNCHANGED = by_step(RESOLVED.model_copy(
    update={"changed": False, "reason": "nothing changed: revision abc is live"}))  # fmt: skip
HALF_DONE = by_step(RESOLVED, DEPLOYED[Step.MIRROR_WEIGHTS])

# The states in which every guarded step ended: kfp.local's, then a server's.
FINISHED = ["SUCCEEDED", "COMPLETE", "CACHED"]
# What a server that predates KFP 2.17.0 reports for a run that finished: the state of a
# dsl.If branch did not reach the exit handler's DAG.
STALE = "RUNNING"


def statuses(summary):
    return [status for _, status, _ in summary.rows]


@pytest.mark.parametrize("state", [*FINISHED, STALE])
def test_a_published_run(state):
    summary = summarize(Journal("r1", PUBLISHED), state=state)
    assert summary.outcome == "published"
    assert (
        summary.headline
        == "published to Lightspeed: provider llamastack: model vllm/m at http://ls/v1"
    )
    assert statuses(summary) == ["done"] * 7
    assert "| task_success | 0.900 |" in summary.markdown
    assert [step for step, _, _ in summary.rows] == list(STEPS)


@pytest.mark.parametrize("state", [*FINISHED, STALE])
def test_a_failed_gate_says_why_and_that_nothing_was_published(state):
    summary = summarize(Journal("r2", GATE_FAILED), state=state)
    assert summary.outcome == "gate-failed"
    assert (
        "task_success 0.25 < 0.45" in summary.headline
        and "OLSConfig was not changed" in summary.headline
    )
    assert summary.rows[-1] == ("publish", "skipped", "the gate did not pass")
    assert "- missed: task_success 0.25 < 0.45" in summary.markdown


@pytest.mark.parametrize("state", [*FINISHED, STALE])
def test_nothing_changed(state):
    summary = summarize(Journal("r3", UNCHANGED), state=state)
    assert (summary.outcome, summary.headline) == (
        "unchanged",
        "nothing changed: revision abc is live",
    )
    assert statuses(summary) == ["done"] + ["skipped"] * 6


def test_a_failure_on_a_cluster_names_the_step_without_a_message():
    summary = summarize(Journal("r4", HALF_DONE), state="FAILED", error="")
    assert summary.outcome == "failed"
    assert summary.headline == "the run failed at register model: nothing more was changed"
    assert summary.rows[2] == ("register model", "failed", "no result: the step's log says why")
    assert statuses(summary) == ["done", "done", "failed"] + ["not run"] * 4
    nothing = summarize(Journal("r5"), state="FAILED")
    assert nothing.rows[0] == ("resolve source", "failed", "no result: the step's log says why")


def test_a_failure_under_kfp_local_keeps_its_message():
    summary = summarize(
        Journal("r6", HALF_DONE), state="FAILED", error="Task exit-handler-1 failed."
    )
    assert summary.headline == "the run failed at register model: nothing more was changed"
    assert summary.rows[2] == (
        "register model",
        "failed",
        "no result: the step's log says why (Task exit-handler-1 failed.)",
    )


def test_a_canceled_run_says_so():
    summary = summarize(Journal("r7", HALF_DONE), state="CANCELLED")  # Vertex AI's name
    assert summary.outcome == "failed"
    assert summary.headline == "the run was canceled at register model: nothing more was changed"
    assert statuses(summary) == ["done", "done", "canceled"] + ["not run"] * 4


def test_ml_metadata_s_canceled_is_a_branch_not_taken_and_the_journal_decides():
    # KFP writes CANCELED for a dsl.If branch that was not triggered: an unchanged run.
    unchanged = by_step(ResolveSourceNote(changed=False, reason="nothing changed: live"))
    summary = summarize(Journal("r7b", unchanged), state="CANCELED")
    assert (summary.outcome, summary.headline) == ("unchanged", "nothing changed: live")


@pytest.mark.parametrize("state", ["RUNNING", "NEW", "UNKNOWN", "PAUSED_BY_A_NEWER_KFP"])
def test_a_state_that_says_nothing_is_reported_as_given(state):
    summary = summarize(Journal("r8", HALF_DONE), state=state)
    assert summary.outcome == "failed"
    assert summary.headline == (
        f"the run stopped at register model (the pipeline reported state '{state}'): "
        "nothing more was changed"
    )
    assert statuses(summary) == ["done", "done", "did not finish"] + ["not run"] * 4
    assert f"The pipeline's final state: `{state}`." in summary.markdown
    assert summary.as_dict()["state"] == state


def test_no_state_at_all_is_said_too():
    summary = summarize(Journal("r9", HALF_DONE), state="")
    assert summary.headline == (
        "the run stopped at register model (the pipeline reported no state): "
        "nothing more was changed"
    )
    assert "The pipeline's final state: `none`." in summary.markdown


@pytest.mark.parametrize("state", FINISHED)
def test_a_finished_run_with_steps_that_did_not_run_publishes_nothing(state):
    summary = summarize(Journal("r10", HALF_DONE), state=state)
    assert summary.outcome == "not-published"
    assert summary.headline == f"the run finished without publishing ({state})"
    assert statuses(summary) == ["done", "done"] + ["not run"] * 5
    assert summary.as_dict()["state"] == state


def test_each_step_s_row_says_what_it_noted():
    retired = PublishNote(summary="provider llamastack", retired=["m-0", "m-1"])
    summary = summarize(Journal("r11", {**PUBLISHED, **by_step(retired)}), state="COMPLETE")
    assert [detail for _, _, detail in summary.rows] == [
        "hf://m@abc: no version of this model is published yet",
        "s3://b/m/abc/ (6 files, 10 bytes transferred)",
        "m version abc",
        "m at http://v/v1",
        "Llama Stack 0.7.3 at http://ls, MCP tools: node_status",
        "gate passed; report not uploaded",
        "provider llamastack; removed versions m-0, m-1",
    ]


def test_the_step_log_shows_one_line_per_step_and_a_failure_s_error():
    log, terminal = io.StringIO(), io.StringIO()
    writer = StepLog(log, terminal)
    writer.write("10:00 - INFO - Executing task \x1b[96m'mirror-weights'\x1b[0m\n")
    writer.write(
        "    INFO llama_rollout: 6 files\n    llama_rollout.errors.StorageError: the bucket"
    )
    writer.write(" is gone: create it\n")
    writer.write(
        "10:01 - ERROR - Task \x1b[96m'mirror-weights'\x1b[0m finished with status FAILURE\n"
    )
    lines = terminal.getvalue().splitlines()
    assert lines[0].split()[:2] == ["mirror-weights", "FAILED"]
    assert lines[1].strip() == "llama_rollout.errors.StorageError: the bucket is gone: create it"
    assert "6 files" in log.getvalue() and "6 files" not in terminal.getvalue()
