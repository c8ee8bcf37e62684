"""The mirror against real servers: the hub-compatible server and moto over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llama_rollout import source, storage
from llama_rollout.errors import IntegrityError
from llama_rollout.local.hub_server import Faults
from llama_rollout.source import SourceReader
from tests.servers import FaultyS3Proxy

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
SMALL_PARTS = storage.MirrorSettings(part_size=5 * MiB, part_concurrency=4, file_concurrency=2)


def assert_mirror_verifies(connection, mirrored: storage.MirroredModel, folder: Path) -> None:
    """Every object in S3 has the folder's bytes, and the manifest lists exactly them."""
    client = connection.client()
    manifest, _ = storage.read_manifest(connection, mirrored.uri)
    on_disk = sorted(p.name for p in folder.iterdir())
    assert sorted(f.path for f in manifest.files) == on_disk
    for entry in manifest.files:
        body = client.get_object(Bucket=mirrored.bucket, Key=mirrored.prefix + entry.path)[
            "Body"
        ].read()
        expected = (folder / entry.path).read_bytes()
        assert (
            hashlib.sha256(body).hexdigest() == hashlib.sha256(expected).hexdigest() == entry.sha256
        )
        head = client.head_object(Bucket=mirrored.bucket, Key=mirrored.prefix + entry.path)
        assert head["Metadata"]["sha256"] == entry.sha256


def test_mirror_from_hub_is_verified_and_idempotent(hub, make_model, s3_connection):
    folder = make_model(shards=3)
    hub({"acme/tiny": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/tiny"))
    first = storage.mirror(resolved, s3_connection, model_name="tiny", settings=SMALL_PARTS)
    assert first.bytes_transferred == resolved.total_bytes
    assert first.prefix == f"models/tiny/{resolved.revision}/"
    assert_mirror_verifies(s3_connection, first, folder)

    again = storage.mirror(resolved, s3_connection, model_name="tiny", settings=SMALL_PARTS)
    assert again.bytes_transferred == 0
    assert again.manifest_sha256 == first.manifest_sha256


def test_mirror_of_folder_source(make_model, s3_connection):
    folder = make_model(shards=1, shard_bytes=2 * MiB)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    mirrored = storage.mirror(resolved, s3_connection, model_name="folder-model")
    assert_mirror_verifies(s3_connection, mirrored, folder)


def test_corrupted_source_file_fails_naming_it_and_writes_no_manifest(
    hub, make_model, s3_connection
):
    folder = make_model(shards=2, seed=1)
    hub({"acme/corrupt": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/corrupt"))
    shard = folder / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot after the hub recorded the file's sha256
    shard.write_bytes(bytes(data))

    with pytest.raises(IntegrityError, match=r"model-00002-of-00002\.safetensors: sha256"):
        storage.mirror(resolved, s3_connection, model_name="corrupt", settings=SMALL_PARTS)
    client = s3_connection.client()
    prefix = storage.model_prefix("models", "corrupt", resolved.revision)
    keys = [
        o["Key"] for o in client.list_objects_v2(Bucket="models", Prefix=prefix).get("Contents", [])
    ]
    assert prefix + storage.MANIFEST_NAME not in keys
    assert prefix + shard.name not in keys
    with pytest.raises(storage.IncompleteModelError, match=r"no llama-rollout-manifest\.json"):
        storage.read_manifest(s3_connection, f"s3://models/{prefix}")


def test_stalled_hub_transfer_is_retried_from_where_it_stopped(hub, make_model, s3_connection):
    folder = make_model(shards=1, shard_bytes=11 * MiB, seed=2)
    faults = Faults(
        stall_after_bytes={"model-00001-of-00001.safetensors": 6 * MiB}, stall_seconds=30
    )
    hub({"acme/stall": folder}, faults)
    resolved = source.resolve(source.parse_source_uri("hf://acme/stall"))
    settings = storage.MirrorSettings(part_size=5 * MiB, stall_timeout=1.0, backoff_base=0.05)
    mirrored = storage.mirror(resolved, s3_connection, model_name="stall", settings=settings)
    assert_mirror_verifies(s3_connection, mirrored, folder)
    shard_reads = [r for r in faults.requests if "model-00001" in r]
    assert len(shard_reads) == 2, shard_reads
    assert shard_reads[1].endswith(f"bytes={6 * MiB}-"), "the retry resumes at the stalled byte"


def test_s3_errors_and_dropped_connections_are_survived(hub, make_model, s3_connection, s3_env):
    folder = make_model(shards=3, shard_bytes=11 * MiB, seed=3)
    hub({"acme/flaky": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/flaky"))
    with FaultyS3Proxy(s3_env["AWS_S3_ENDPOINT"], rate=0.1, seed=11) as proxy:
        flaky = s3_connection.model_copy(update={"endpoint": proxy.url})
        settings = storage.MirrorSettings(part_size=5 * MiB, backoff_base=0.05, backoff_cap=0.5)
        mirrored = storage.mirror(resolved, flaky, model_name="flaky", settings=settings)
    counts = proxy.counts
    assert counts.errors_503 and counts.dropped_before and counts.dropped_after, counts
    assert_mirror_verifies(s3_connection, mirrored, folder)


class StopAfter(SourceReader):
    """A reader that dies (like a killed process) after ``limit`` bytes in total."""

    def __init__(self, resolved, limit: int) -> None:
        super().__init__(resolved)
        self.limit = limit
        self.read = 0

    def chunks(self, file, offset=0):
        for chunk in super().chunks(file, offset):
            self.read += len(chunk)
            if self.read > self.limit:
                raise KeyboardInterrupt("killed")
            yield chunk


def test_interrupted_mirror_resumes_and_verifies(hub, make_model, s3_connection):
    folder = make_model(shards=2, shard_bytes=16 * MiB, seed=4)
    hub({"acme/resume": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/resume"))
    settings = storage.MirrorSettings(part_size=5 * MiB, part_concurrency=2, file_concurrency=1)
    with pytest.raises(KeyboardInterrupt):
        storage.mirror(
            resolved, s3_connection, model_name="resume", settings=settings,
            reader=StopAfter(resolved, 24 * MiB),
        )  # fmt: skip
    with pytest.raises(storage.IncompleteModelError):
        storage.read_manifest(s3_connection, f"s3://models/models/resume/{resolved.revision}/")

    resumed = storage.mirror(resolved, s3_connection, model_name="resume", settings=settings)
    assert 0 < resumed.bytes_transferred < resolved.total_bytes - 10 * MiB
    assert_mirror_verifies(s3_connection, resumed, folder)
