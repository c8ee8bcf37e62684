"""The run summary from a journal: one headline per outcome, every step's row."""

from __future__ import annotations

import io

from llama_rollout.journal import STEPS, Journal
from llama_rollout.run_summary import summarize
from llama_rollout.step_log import StepLog

RESOLVED = {"pinned_uri": "hf://m@abc", "revision": "abc", "model_name": "m", "changed": True,
            "reason": "no version of this model is published yet"}  # fmt: skip
DEPLOYED = {
    "resolve source": RESOLVED,
    "mirror weights": {"model_uri": "s3://b/m/abc/", "files": 6, "bytes_transferred": 10},
    "register model": {"model_name": "m", "model_version_name": "abc"},
    "deploy model server": {"serving_url": "http://v/v1", "serving_model": "m"},
    "deploy Llama Stack": {"url": "http://ls", "version": "0.7.3", "model_id": "vllm/m",
                           "mcp_tools": ["node_status"]},
}  # fmt: skip


def statuses(summary):
    return [status for _, status, _ in summary.rows]


def test_a_published_run():
    notes = {**DEPLOYED, "evaluate": {"passed": True, "metrics": {"task_success": 0.9}},
             "publish": {"summary": "provider llamastack: model vllm/m at http://ls/v1"}}  # fmt: skip
    summary = summarize(Journal("r1", notes), state="SUCCEEDED")
    assert summary.outcome == "published"
    assert (
        summary.headline
        == "published to Lightspeed: provider llamastack: model vllm/m at http://ls/v1"
    )
    assert statuses(summary) == ["done"] * 7
    assert "| task_success | 0.900 |" in summary.markdown
    assert [step for step, _, _ in summary.rows] == list(STEPS)


def test_a_failed_gate_says_why_and_that_nothing_was_published():
    notes = {**DEPLOYED, "evaluate": {"passed": False, "missed": ["task_success 0.25 < 0.45"],
                                      "metrics": {"task_success": 0.25}}}  # fmt: skip
    summary = summarize(Journal("r2", notes), state="SUCCEEDED")
    assert summary.outcome == "gate-failed"
    assert (
        "task_success 0.25 < 0.45" in summary.headline
        and "OLSConfig was not changed" in summary.headline
    )
    assert summary.rows[-1] == ("publish", "skipped", "the gate did not pass")
    assert "- missed: task_success 0.25 < 0.45" in summary.markdown


def test_nothing_changed():
    resolved = {**RESOLVED, "changed": False, "reason": "nothing changed: revision abc is live"}
    summary = summarize(Journal("r3", {"resolve source": resolved}), state="SUCCEEDED")
    assert (summary.outcome, summary.headline) == (
        "unchanged",
        "nothing changed: revision abc is live",
    )
    assert statuses(summary) == ["done"] + ["skipped"] * 6


def test_a_failure_names_the_step_that_did_not_finish():
    summary = summarize(Journal("r4", {"resolve source": RESOLVED,
                                       "mirror weights": DEPLOYED["mirror weights"]}),
                        state="FAILED", error="the registry is unreachable")  # fmt: skip
    assert summary.outcome == "failed"
    assert summary.headline == "the run failed at register model: nothing more was changed"
    assert summary.rows[2] == ("register model", "failed", "the registry is unreachable")
    assert statuses(summary)[3:] == ["not run"] * 4
    nothing = summarize(Journal("r5"), state="FAILED")
    assert nothing.rows[0] == ("resolve source", "failed", "did not finish")


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
