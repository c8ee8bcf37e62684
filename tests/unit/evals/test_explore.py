"""The notebooks' API over results.jsonl: per-tool accuracy, failures, trajectories, and the
comparisons between versions, from lines as the evaluate step writes them."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from llama_rollout.evals import explore


def line(case_id, success, tools=("node_status",), trial=0, called=("node_status",), **score):
    fields = {
        "case_id": case_id, "trial": trial, "tools": list(tools), "irrelevance": not tools,
        "greeting": False, "selection_ok": success, "arguments_ok": success, "answer_ok": None,
        "calls_in_text": 0, "repeated_calls": 0, "error": None, "latency_s": 1.0, "tokens": 10,
        "reasons": [] if success else ["turn 1: wrong"], "success": success, **score,
    }  # fmt: skip
    turns = [{"input": f"ask {case_id}", "text": "an answer", "calls": [
        {"name": n, "arguments": "{}", "output": "x" * 700, "error": None} for n in called]}]  # fmt: skip
    return json.dumps({"case_id": case_id, "trial": trial, "turns": turns, "score": fields})


class S3:
    def __init__(self, objects: dict[str, str]):
        self.objects = objects

    def get_object(self, Bucket, Key):
        return {"Body": io.BytesIO(self.objects[f"{Bucket}/{Key}"].encode())}


def frame(*lines):
    uri = "s3://models/m/r/evals/run/results.jsonl"
    return explore.load_results(S3({"models/m/r/evals/run/results.jsonl": "\n".join(lines)}), uri)


OLD = frame(line("a", True), line("b", False), line("hi", True, tools=(), called=()))
NEW = frame(line("a", False), line("b", True), line("hi", True, tools=(), called=()))


def test_results_load_with_the_calls_made_and_irrelevance_under_no_tool():
    assert list(OLD.case_id) == ["a", "b", "hi"]
    assert OLD.loc[0, "called"] == ["node_status"] and OLD.loc[2, "tools"] == (explore.NO_TOOL,)


def test_per_tool_counts_each_case_once_per_tool_it_expects():
    table = explore.per_tool(OLD)
    assert table.loc["node_status", "cases"] == 2
    assert table.loc["node_status", "task_success"] == 0.5
    assert table.loc[explore.NO_TOOL, "task_success"] == 1.0


def test_failed_and_the_trajectory_say_why():
    assert list(explore.failed(OLD).case_id) == ["b"]
    text = explore.trajectory(OLD.iloc[1])
    assert "### b (trial 1)" in text and "`node_status({})`" in text
    assert "why it failed:" in text and "- turn 1: wrong" in text
    assert " ..." in text, "a long output is cut"


def test_compare_names_the_cases_that_got_better_and_worse():
    table = explore.compare({"v1": OLD, "v2": NEW})
    assert table.change.to_dict() == {"a": "worse", "b": "better", "hi": "same"}


def test_tool_deltas_are_last_minus_first():
    table = explore.tool_deltas({"v1": OLD, "v2": frame(line("a", True), line("b", True))})
    assert table.loc["node_status", "delta"] == pytest.approx(0.5)
    assert pd.isna(table.loc[explore.NO_TOOL, "v2"])


def test_score_deltas_order_the_versions_oldest_first():
    versions = pd.DataFrame({
        "version": ["new", "old"], "created": pd.to_datetime([2000, 1000], unit="ms"),
        "task_success": [0.7, 0.4],
    })  # fmt: skip
    table = explore.score_deltas(versions, ["task_success"])
    assert list(table.columns) == ["old", "new", "delta"]
    assert table.loc["task_success", "delta"] == pytest.approx(0.3)


def test_an_unreadable_results_file_is_a_storage_error():
    from botocore.exceptions import ClientError

    from llama_rollout.errors import StorageError

    class Missing:
        def get_object(self, **_):
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")

    with pytest.raises(StorageError, match=r"cannot read s3://b/k"):
        explore.load_results(Missing(), "s3://b/k")
