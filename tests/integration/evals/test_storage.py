"""The evaluation's files beside the model in S3, outside its manifest."""

from __future__ import annotations

import pytest

from llama_rollout import weights
from llama_rollout.errors import ConfigurationError
from llama_rollout.evals.storage import upload_results
from llama_rollout.weights import source
from llama_rollout.weights.verify import verify_model

pytestmark = pytest.mark.integration


def test_the_files_go_beside_the_model_and_the_model_still_verifies(
    make_model, s3_connection, tmp_path
):
    folder = make_model(shards=1, shard_bytes=1024, seed=41)
    mirrored = weights.mirror(
        source.resolve(source.parse_source_uri(f"file://{folder}")), s3_connection,
        model_name="evaluated", base_prefix="evals-test",
    )  # fmt: skip
    files = {"results": tmp_path / "results.jsonl", "report": tmp_path / "report.html"}
    files["results"].write_text('{"case_id": "hello"}\n')
    files["report"].write_text("<!doctype html><p>ok</p>")
    uris = upload_results(s3_connection, mirrored.uri, "run-7", files)
    assert uris == {
        "results": f"{mirrored.uri}evals/run-7/results.jsonl",
        "report": f"{mirrored.uri}evals/run-7/report.html",
    }
    head = s3_connection.client().head_object(
        Bucket=mirrored.bucket, Key=f"{mirrored.prefix}evals/run-7/report.html"
    )
    assert head["ContentType"] == "text/html"
    assert verify_model(s3_connection, mirrored.uri).damaged == (), "the manifest is untouched"


def test_a_run_id_that_cannot_name_a_folder_is_refused(s3_connection, tmp_path):
    with pytest.raises(ConfigurationError, match="cannot name a folder"):
        upload_results(s3_connection, "s3://models/m/r/", "../up", {})
