"""Fixtures: the project's real servers on loopback, and generated models."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llama_rollout.embedded.hub_server import create_cdn_app, create_hub_app
from llama_rollout.embedded.registry_server import create_app as create_registry
from llama_rollout.kube import Kube
from llama_rollout.weights.connection import DataConnection
from tests.fake_kube import FakeKube, running
from tests.faulty_hub import Faults, FaultyHub
from tests.servers import free_port, serve_app

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The embedded S3 server (moto, credentials enforced), as data connection env keys."""
    root = tmp_path_factory.mktemp("s3")
    credentials = root / "credentials.json"
    port = free_port()
    log = (root / "s3.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_rollout.embedded.s3_server", "--port", str(port),
         "--bucket", "models", "--credentials", str(credentials)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not credentials.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"embedded S3 did not start: {(root / 's3.log').read_text()[-2000:]}"
            )
        time.sleep(0.1)
    time.sleep(0.1)
    env = json.loads(credentials.read_text())
    env["DATA_CONNECTION_NAME"] = "test-models"
    yield env
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def s3_connection(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> DataConnection:
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    return DataConnection.from_env(s3_env)


@pytest.fixture
def make_model(tmp_path: Path) -> Callable[..., Path]:
    """Write a model folder: config, tokenizer files and ``shards`` random safetensors shards."""

    def make(
        name: str = "tiny", shards: int = 2, shard_bytes: int = 12 * MiB, seed: int = 0
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
        (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}}}))
        for i in range(shards):
            data = hashlib.shake_256(f"{seed}-{i}".encode()).digest(shard_bytes)
            (folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors").write_bytes(data)
        return folder

    return make


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Start a hub-compatible server (and its CDN) for given repos; sets HF_ENDPOINT to it.

    With ``token``, the repositories are private and HF_TOKEN is set to that token.
    """
    with contextlib.ExitStack() as stack:

        def start(
            repos: dict[str, Path], faults: Faults | None = None, *, token: str | None = None
        ) -> str:
            state = FaultyHub(repos, token=token, faults=faults or Faults())
            cdn_url = stack.enter_context(serve_app(create_cdn_app(state)))
            url = stack.enter_context(serve_app(create_hub_app(state, cdn_url)))
            monkeypatch.setenv("HF_ENDPOINT", url)
            if token:
                monkeypatch.setenv("HF_TOKEN", token)
            else:
                monkeypatch.delenv("HF_TOKEN", raising=False)
            return url

        yield start


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    with serve_app(create_registry(tmp_path / "registry.sqlite")) as url:
        yield url


@pytest.fixture
def cli_env(s3_env: dict[str, str]) -> dict[str, str]:
    """The environment for running the CLI as a subprocess against the test servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_"))}
    env.update(s3_env)
    return env


@pytest.fixture
def fake() -> FakeKube:
    """The fake Kubernetes API's state, with the namespace ``ai``."""
    fake = FakeKube()
    fake.add_namespace("ai")
    return fake


@pytest.fixture
def cluster(fake: FakeKube) -> Iterator[Kube]:
    """A Kube on the real client, talking to ``fake`` over HTTP."""
    from kubernetes import client

    with running(fake) as url:
        yield Kube(client.ApiClient(client.Configuration(host=url)))
