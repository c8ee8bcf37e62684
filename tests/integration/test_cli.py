"""The CLI as a user runs it: one-line errors for bad input, and a mirror killed halfway."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from llama_rollout import weights
from llama_rollout.weights import source
from tests.integration.weights.test_mirror import assert_mirror_verifies

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("hf:/meta-llama/Llama-3.2-1B", "unsupported source URI .* expected hf://ORG/REPO"),
        ("hf://just-a-name", "malformed source URI .* e.g. hf://meta-llama/"),
        ("file://relative/path", "three slashes and an absolute path"),
        ("s3://bucket/model", "unsupported source URI"),
    ],
)
def test_malformed_source_uri(uri, expected, cli_env):
    result = run_cli("mirror", "--source", uri, env=cli_env)
    assert result.returncode == 2
    assert re.search(expected, error_line(result))


def test_unknown_repo_and_revision(hub, make_model, cli_env):
    url = hub({"acme/tiny": make_model()})
    env = {**cli_env, "HF_ENDPOINT": url}
    line = error_line(run_cli("mirror", "--source", "hf://acme/nope", env=env))
    assert "repository acme/nope not found" in line and "HF_TOKEN" in line
    line = error_line(run_cli("mirror", "--source", "hf://acme/tiny@v9", env=env))
    assert "revision 'v9' not found in acme/tiny" in line


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"AWS_S3_BUCKET": None}, "AWS_S3_BUCKET not set"),
        (
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY not set",
        ),
        (
            {"AWS_SECRET_ACCESS_KEY": "wrong"},
            "refused the credentials .* check AWS_ACCESS_KEY_ID and AWS_SECRET",
        ),
        ({"AWS_ACCESS_KEY_ID": "AKIANOTAKEY"}, "refused the credentials"),
        (
            {"AWS_S3_BUCKET": "no-such-bucket"},
            "bucket 'no-such-bucket' does not exist .* create it",
        ),
        (
            {"AWS_S3_ENDPOINT": "localhost:9000"},
            r"AWS_S3_ENDPOINT 'localhost:9000' is not an http\(s\) URL",
        ),
        ({"AWS_S3_BUCKET": "my bucket"}, "AWS_S3_BUCKET .my bucket. is not a bucket name"),
    ],
)
def test_bad_data_connection(change, expected, hub, make_model, cli_env):
    import re

    url = hub({"acme/tiny": make_model()})
    env = {**cli_env, "HF_ENDPOINT": url}
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    line = error_line(run_cli("mirror", "--source", "hf://acme/tiny", env=env))
    assert re.search(expected, line), line
    assert "wrong" not in line, "a secret must never be printed"


def test_registry_unreachable(cli_env, hub, make_model):
    url = hub({"acme/tiny": make_model()})
    env = {**cli_env, "HF_ENDPOINT": url}
    mirrored = run_cli("mirror", "--source", "hf://acme/tiny", "--model-name", "reg-down", env=env)
    assert mirrored.returncode == 0, mirrored.stderr
    model_uri = json.loads(mirrored.stdout.splitlines()[-1])["model_uri"]
    line = error_line(
        run_cli(
            "register", "--model-uri", model_uri, "--registry-url", "http://127.0.0.1:9", env=env
        )
    )
    assert "Model Registry at http://127.0.0.1:9: the Model Registry is unreachable" in line


def test_register_refuses_a_model_without_manifest(cli_env, registry_url):
    line = error_line(
        run_cli(
            "register",
            "--model-uri",
            "s3://models/models/ghost/abc/",
            "--registry-url",
            registry_url,
            env=cli_env,
        )
    )
    assert "has no llama-rollout-manifest.json" in line and "run the mirror step again" in line


def test_mirror_killed_halfway_completes_on_the_next_run(hub, make_model, cli_env, s3_connection):
    folder = make_model(shards=1, shard_bytes=64 * MiB, seed=9)
    url = hub({"acme/big": folder})
    env = {**cli_env, "HF_ENDPOINT": url}
    resolved = source.resolve(source.parse_source_uri("hf://acme/big"))
    key = (
        weights.model_prefix("models", "big", resolved.revision)
        + "model-00001-of-00001.safetensors"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_rollout.cli", "mirror", "--source", "hf://acme/big"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    client = s3_connection.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        uploads = client.list_multipart_uploads(Bucket="models", Prefix=key).get("Uploads", [])
        if uploads and client.list_parts(
            Bucket="models", Key=key, UploadId=uploads[0]["UploadId"]
        ).get("Parts"):
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the mirror finished before it could be killed"

    result = run_cli("mirror", "--source", "hf://acme/big", env=env)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.splitlines()[-1])
    assert output["bytes_transferred"] < 64 * MiB, "parts uploaded before the kill are reused"
    mirrored = weights.MirroredModel(
        "models", weights.split_s3_uri(output["model_uri"])[1], None, "", 0, 0
    )
    assert_mirror_verifies(s3_connection, mirrored, folder)


@pytest.mark.parametrize(
    ("command", "name", "says"),
    [
        ("run", "3b-instruct", r"not a DNS-1035 label.*'model-3b-instruct'"),
        ("run", "../../../../srv/x", r"not a DNS-1035 label.*'srv-x'"),
        ("mirror", "Llama 3", r"not a DNS-1035 label.*'llama-3'"),
        ("mirror", "a" * 300, r"longer than 45 characters"),
        ("register", "UPPER", r"not a DNS-1035 label.*'upper'"),
    ],
)
def test_an_invalid_model_name_is_refused_before_anything_is_written(
    command, name, says, cli_env, tmp_path
):
    state = tmp_path / "state"
    env = {**cli_env, "LLAMA_ROLLOUT_STATE_DIR": str(state)}
    args = {
        "run": ["run", "--local"],
        "mirror": ["mirror", "--source", "hf://acme/tiny"],
        "register": [
            "register",
            "--model-uri",
            "s3://models/m/r/",
            "--registry-url",
            "http://127.0.0.1:9",
        ],
    }[command]
    result = run_cli(*args, "--model-name", name, env=env)
    assert result.returncode == 2
    assert re.search(says, error_line(result)), error_line(result)
    assert not state.exists(), "the embedded stack was started for a name that cannot work"


@pytest.mark.parametrize("command", [("local", "status"), ("local", "up"), ("run", "--local")])
def test_a_state_folder_that_is_a_file_is_named(command, cli_env, tmp_path):
    (tmp_path / "state").write_text("")
    env = {**cli_env, "LLAMA_ROLLOUT_STATE_DIR": str(tmp_path / "state")}
    result = run_cli(*command, env=env)
    assert result.returncode == 2
    assert re.search(
        r"state folder .*/state is a file: .*LLAMA_ROLLOUT_STATE_DIR", error_line(result)
    )
