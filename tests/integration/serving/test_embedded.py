"""The embedded model server's storage initializer: a verified local copy of the S3 model."""

from __future__ import annotations

import pytest

from llama_rollout import weights
from llama_rollout.errors import IncompleteModelError, IntegrityError
from llama_rollout.serving import embedded as model_server
from llama_rollout.weights import source

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def mirrored(make_model, s3_connection, name: str):
    folder = make_model(name=name, shards=2, shard_bytes=MiB)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    return folder, weights.mirror(resolved, s3_connection, model_name=name)


def test_stage_copies_and_verifies_then_reuses(make_model, s3_connection, tmp_path):
    folder, model = mirrored(make_model, s3_connection, "stage-ok")
    target = model_server.stage_model(s3_connection, model.uri, tmp_path / "serving")
    for path in folder.iterdir():
        assert (target / path.name).read_bytes() == path.read_bytes()
    marker = target / model_server.VERIFIED_MARKER
    assert marker.read_text().strip() == model.manifest_sha256
    stamp = (target / "config.json").stat().st_mtime_ns
    assert model_server.stage_model(s3_connection, model.uri, tmp_path / "serving") == target
    assert (target / "config.json").stat().st_mtime_ns == stamp, "a verified copy is reused"


def test_stage_refuses_a_corrupt_object(make_model, s3_connection, tmp_path):
    _, model = mirrored(make_model, s3_connection, "stage-bad")
    client = s3_connection.client()
    client.put_object(
        Bucket=model.bucket, Key=model.prefix + "config.json", Body=b'{"tampered": true}'
    )
    with pytest.raises(
        IntegrityError, match=r"config\.json: sha256 .* does not match the manifest"
    ):
        model_server.stage_model(s3_connection, model.uri, tmp_path / "serving")
    assert not (
        tmp_path / "serving" / model.bucket / model.prefix / model_server.VERIFIED_MARKER
    ).exists()


def test_stage_refuses_a_model_without_manifest(s3_connection, tmp_path):
    with pytest.raises(IncompleteModelError):
        model_server.stage_model(s3_connection, "s3://models/models/none/abc/", tmp_path)


def test_vllm_command_prefers_the_configured_python(monkeypatch):
    monkeypatch.setenv("LLAMA_ROLLOUT_VLLM_PYTHON", "/opt/vllm/bin/python")
    assert model_server.vllm_command() == [
        "/opt/vllm/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
    ]
