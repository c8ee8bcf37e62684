"""The journal's typed notes are stored as the untyped notes were: the same object keys, the
same JSON in them, and a note written by the untyped version reads as its step's type; every
task's display name comes from the steps' enum, as the dashboard shows it today.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from llama_rollout import journal
from llama_rollout.journal import Step
from llama_rollout.pipeline_run import LocalRun

# What each component wrote before the notes had types (the dicts of its journal.note call),
# beside the note it writes now.
UNTYPED_AND_TYPED = [
    (
        {"pinned_uri": "hf://org/m@abc", "revision": "abc", "model_name": "m", "changed": True,
         "reason": "no version of this model is published yet", "live_version": ""},
        journal.ResolveSourceNote(pinned_uri="hf://org/m@abc", revision="abc", model_name="m",
                                  changed=True, reason="no version of this model is published yet",
                                  live_version=""),
    ),
    (
        {"model_uri": "s3://models/m/abc/", "files": 6, "bytes_transferred": 269060096},
        journal.MirrorWeightsNote(model_uri="s3://models/m/abc/", files=6,
                                  bytes_transferred=269060096),
    ),
    (
        {"model_name": "m", "model_version_name": "abc", "model_version_id": "7",
         "registered_model_id": "3"},
        journal.RegisterModelNote(model_name="m", model_version_name="abc", model_version_id="7",
                                  registered_model_id="3"),
    ),
    (
        {"serving_url": "http://m-abc/v1", "serving_model": "m", "serving_name": "m-abc"},
        journal.DeployModelServerNote(serving_url="http://m-abc/v1", serving_model="m",
                                      serving_name="m-abc"),
    ),
    (
        {"url": "http://ls", "version": "0.7.3", "model_id": "vllm/m",
         "mcp_tools": ["node_status", "pod_logs"], "name": "llama-stack-abc",
         "caller": "system:serviceaccount:ai:pipeline-runner-dspa"},
        journal.DeployLlamaStackNote(url="http://ls", version="0.7.3", model_id="vllm/m",
                                     mcp_tools=["node_status", "pod_logs"],
                                     name="llama-stack-abc",
                                     caller="system:serviceaccount:ai:pipeline-runner-dspa"),
    ),
    (
        {"passed": False, "missed": ["task_success 0.25 < 0.45"],
         "metrics": {"task_success": 0.25, "cases": 60.0}, "report_uri": "",
         "report_path": "/root/evaluate/report",
         "caller": "system:serviceaccount:ai:pipeline-runner-dspa"},
        journal.EvaluateNote(passed=False, missed=["task_success 0.25 < 0.45"],
                             metrics={"task_success": 0.25, "cases": 60.0}, report_uri="",
                             report_path="/root/evaluate/report",
                             caller="system:serviceaccount:ai:pipeline-runner-dspa"),
    ),
    (
        {"summary": "provider llamastack: model vllm/m", "changed": True, "retired": ["m-0"],
         "olsconfig_path": "/root/files/olsconfig.yaml"},
        journal.PublishNote(summary="provider llamastack: model vllm/m", changed=True,
                            retired=["m-0"], olsconfig_path="/root/files/olsconfig.yaml"),
    ),
]  # fmt: skip
KEYS = [
    "1-resolve-source.json",
    "2-mirror-weights.json",
    "3-register-model.json",
    "4-deploy-model-server.json",
    "5-deploy-llama-stack.json",
    "6-evaluate.json",
    "7-publish.json",
]


class FakeS3:
    """A bucket in memory: the calls the journal makes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.objects[Key] = Body

    def list_objects_v2(self, *, Bucket: str, Prefix: str) -> dict[str, Any]:
        return {
            "Contents": [{"Key": key} for key in sorted(self.objects) if key.startswith(Prefix)]
        }

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}


class FakeConnection:
    bucket = "models"
    endpoint = "http://s3.example"

    def __init__(self) -> None:
        self.s3 = FakeS3()

    def client(self) -> FakeS3:
        return self.s3


def untyped_body(step: str, fields: dict[str, Any]) -> bytes:
    """What the untyped ``journal.note`` wrote."""
    return json.dumps({"step": step, **fields}, sort_keys=True, default=str).encode()


def test_every_task_is_named_as_the_dashboard_names_it_today():
    assert [step.display_name for step in Step] == [
        "check parameters",
        "resolve source",
        "mirror weights",
        "register model",
        "deploy model server",
        "deploy Llama Stack",
        "evaluate",
        "publish to Lightspeed",
        "run summary",
    ]


def test_the_steps_that_note_are_the_summary_s_rows_in_order():
    assert journal.STEPS == (
        "resolve source",
        "mirror weights",
        "register model",
        "deploy model server",
        "deploy Llama Stack",
        "evaluate",
        "publish",
    )
    assert [type(note) for _, note in UNTYPED_AND_TYPED] == list(journal.NOTES.values())


def test_a_note_is_stored_under_today_s_key_as_today_s_json():
    connection = FakeConnection()
    for _, note in UNTYPED_AND_TYPED:
        journal.note(note, s3_prefix="/models/", run_id="run-1", connection=connection)
    stored = connection.s3.objects
    assert list(stored) == [f"models/_runs/run-1/{key}" for key in KEYS]
    for body, step, (fields, _) in zip(
        stored.values(), journal.STEPS, UNTYPED_AND_TYPED, strict=True
    ):
        assert body == untyped_body(step, fields)


def test_a_note_of_the_untyped_version_reads_as_its_step_s_type():
    connection = FakeConnection()
    for key, step, (fields, _) in zip(KEYS, journal.STEPS, UNTYPED_AND_TYPED, strict=True):
        connection.s3.objects[f"models/_runs/run-1/{key}"] = untyped_body(step, fields)
    read = journal.read(s3_prefix="models", run_id="run-1", connection=connection)
    assert read.notes == {note.step: note for _, note in UNTYPED_AND_TYPED}
    assert read.get(journal.MirrorWeightsNote).bytes_transferred == 269060096
    assert read.get(journal.EvaluateNote).missed == ["task_success 0.25 < 0.45"]
    # The run summary's record holds the notes as they were stored, less their step.
    assert read.as_dict() == {
        step: fields for step, (fields, _) in zip(journal.STEPS, UNTYPED_AND_TYPED, strict=True)
    }


def test_a_note_written_before_the_stack_checked_tokens_reads_with_no_caller():
    connection = FakeConnection()
    key = f"models/_runs/run-1/{KEYS[list(journal.STEPS).index(Step.EVALUATE)]}"
    connection.s3.objects[key] = json.dumps({"step": "evaluate", "passed": True}).encode()
    read = journal.read(s3_prefix="models", run_id="run-1", connection=connection)
    assert read.get(journal.EvaluateNote).caller == ""


def test_a_step_that_noted_nothing_has_no_note():
    read = journal.Journal("run-1", {Step.RESOLVE_SOURCE: UNTYPED_AND_TYPED[0][1]})
    assert read.get(journal.PublishNote) is None
    assert read.get(journal.ResolveSourceNote).reason == "no version of this model is published yet"


def test_a_key_this_version_does_not_know_is_ignored():
    note = journal.parse("publish", {"step": "publish", "summary": "s", "rolled_back": False})
    assert note == journal.PublishNote(summary="s")


def test_a_note_this_version_cannot_read_is_skipped_and_the_rest_read(caplog):
    connection = FakeConnection()
    folder = "models/_runs/run-1/"
    connection.s3.objects |= {
        f"{folder}1-resolve-source.json": untyped_body("resolve source", {"changed": False}),
        f"{folder}2-mirror-weights.json": untyped_body("mirror weights", {"files": "many"}),
        f"{folder}8-tune.json": untyped_body("tune", {}),
    }
    with caplog.at_level(logging.WARNING, logger="llama_rollout.journal"):
        read = journal.read(s3_prefix="models", run_id="run-1", connection=connection)
    assert list(read.notes) == [Step.RESOLVE_SOURCE]
    assert read.get(journal.ResolveSourceNote).changed is False
    skipped = [record.getMessage() for record in caplog.records]
    assert len(skipped) == 2
    assert skipped[0].startswith(f"skipping {folder}2-mirror-weights.json: ")
    assert skipped[1].startswith(f"skipping {folder}8-tune.json: ")


def test_a_note_of_no_step_is_refused():
    connection = FakeConnection()
    with pytest.raises(TypeError, match="Note is no step's note"):
        journal.note(journal.Note(), s3_prefix="models", run_id="run-1", connection=connection)
    assert connection.s3.objects == {}


def test_a_local_run_s_outputs_come_from_the_record_s_notes():
    notes = {
        step: fields for step, (fields, _) in zip(journal.STEPS, UNTYPED_AND_TYPED, strict=True)
    }
    record = {"outcome": "gate-failed", "headline": "h", "steps": [], "notes": notes}
    outputs = LocalRun(record, "/root", "http://mcp", "/log").as_dict()
    assert outputs["source"] == "hf://org/m@abc" and outputs["changed"] is True
    assert (outputs["bytes_transferred"], outputs["files"]) == (269060096, 6)
    assert outputs["serving"] == {"url": "http://m-abc/v1", "model": "m"}
    assert outputs["mcp"] == {"url": "http://mcp", "tools": ["node_status", "pod_logs"]}
    assert outputs["evals"] == {"passed": False, "metrics": {"task_success": 0.25, "cases": 60.0},
                                "missed": ["task_success 0.25 < 0.45"],
                                "report": "/root/evaluate/report", "report_uri": ""}  # fmt: skip
    assert outputs["lightspeed"] == {"summary": "provider llamastack: model vllm/m",
                                     "changed": True, "olsconfig": "/root/files/olsconfig.yaml"}  # fmt: skip


def test_a_local_run_that_found_the_version_live_reports_it_from_the_registry():
    resolved = {"pinned_uri": "hf://org/m@abc", "changed": False, "reason": "live"}
    record = {"outcome": "unchanged", "notes": {"resolve source": resolved}}
    live = {Step.DEPLOY_MODEL_SERVER: journal.DeployModelServerNote(serving_url="http://m/v1",
                                                                    serving_model="m")}  # fmt: skip
    outputs = LocalRun(record, "/root", live=live).as_dict()
    assert (outputs["changed"], outputs["reason"]) == (False, "live")
    assert outputs["serving"] == {"url": "http://m/v1", "model": "m"}
    # Steps neither noted nor live read as they did untyped: empty, and no verdict.
    assert outputs["evals"] == {"passed": None, "metrics": {}, "missed": [], "report": "",
                                "report_uri": ""}  # fmt: skip
    assert outputs["lightspeed"] == {"summary": "", "changed": None, "olsconfig": ""}
