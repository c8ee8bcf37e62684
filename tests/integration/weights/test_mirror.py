"""The mirror against real servers: the hub-compatible server and moto over HTTP."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from llama_rollout import weights
from llama_rollout.errors import (
    IncompleteModelError,
    IntegrityError,
    SourceError,
    SourceNotFoundError,
    StorageError,
)
from llama_rollout.weights import reader, source
from llama_rollout.weights.reader import SourceReader
from tests.faulty_hub import Faults
from tests.servers import FaultyS3Proxy

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
SMALL_PARTS = weights.MirrorSettings(part_size=5 * MiB, part_concurrency=4, file_concurrency=2)


def assert_mirror_verifies(connection, mirrored: weights.MirroredModel, folder: Path) -> None:
    """Every object in S3 has the folder's bytes, and the manifest lists exactly them."""
    client = connection.client()
    manifest, _ = weights.read_manifest(connection, mirrored.uri)
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
    first = weights.mirror(resolved, s3_connection, model_name="tiny", settings=SMALL_PARTS)
    assert first.bytes_transferred == resolved.total_bytes
    assert first.prefix == f"models/tiny/{resolved.revision}/"
    assert_mirror_verifies(s3_connection, first, folder)

    again = weights.mirror(resolved, s3_connection, model_name="tiny", settings=SMALL_PARTS)
    assert again.bytes_transferred == 0
    assert again.manifest_sha256 == first.manifest_sha256


def test_mirror_of_folder_source(make_model, s3_connection):
    folder = make_model(shards=1, shard_bytes=2 * MiB)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    mirrored = weights.mirror(resolved, s3_connection, model_name="folder-model")
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
        weights.mirror(resolved, s3_connection, model_name="corrupt", settings=SMALL_PARTS)
    client = s3_connection.client()
    prefix = weights.model_prefix("models", "corrupt", resolved.revision)
    keys = [
        o["Key"] for o in client.list_objects_v2(Bucket="models", Prefix=prefix).get("Contents", [])
    ]
    assert prefix + weights.MANIFEST_NAME not in keys
    assert prefix + shard.name not in keys
    with pytest.raises(IncompleteModelError, match=r"no llama-rollout-manifest\.json"):
        weights.read_manifest(s3_connection, f"s3://models/{prefix}")


def test_stalled_hub_transfer_is_retried_from_where_it_stopped(hub, make_model, s3_connection):
    folder = make_model(shards=1, shard_bytes=11 * MiB, seed=2)
    faults = Faults(
        stall_after_bytes={"model-00001-of-00001.safetensors": 6 * MiB}, stall_seconds=30
    )
    hub({"acme/stall": folder}, faults)
    resolved = source.resolve(source.parse_source_uri("hf://acme/stall"))
    settings = weights.MirrorSettings(part_size=5 * MiB, stall_timeout=1.0, backoff_base=0.05)
    mirrored = weights.mirror(resolved, s3_connection, model_name="stall", settings=settings)
    assert_mirror_verifies(s3_connection, mirrored, folder)
    shard_reads = faults.reads("model-00001-of-00001.safetensors")
    assert [r.server for r in shard_reads] == ["cdn", "cdn"], shard_reads
    # The resumed read went through the hub again (a fresh signed URL) and kept its Range.
    assert shard_reads[1].range == f"bytes={6 * MiB}-", "the retry resumes at the stalled byte"


def test_s3_errors_and_dropped_connections_are_survived(hub, make_model, s3_connection, s3_env):
    folder = make_model(shards=3, shard_bytes=11 * MiB, seed=3)
    hub({"acme/flaky": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/flaky"))
    with FaultyS3Proxy(s3_env["AWS_S3_ENDPOINT"], rate=0.1, seed=11) as proxy:
        flaky = s3_connection.model_copy(update={"endpoint": proxy.url})
        settings = weights.MirrorSettings(part_size=5 * MiB, backoff_base=0.05, backoff_cap=0.5)
        mirrored = weights.mirror(resolved, flaky, model_name="flaky", settings=settings)
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
    settings = weights.MirrorSettings(part_size=5 * MiB, part_concurrency=2, file_concurrency=1)
    with pytest.raises(KeyboardInterrupt):
        weights.mirror(
            resolved, s3_connection, model_name="resume", settings=settings,
            reader=StopAfter(resolved, 24 * MiB),
        )  # fmt: skip
    with pytest.raises(IncompleteModelError):
        weights.read_manifest(s3_connection, f"s3://models/models/resume/{resolved.revision}/")

    resumed = weights.mirror(resolved, s3_connection, model_name="resume", settings=settings)
    assert 0 < resumed.bytes_transferred < resolved.total_bytes - 10 * MiB
    assert_mirror_verifies(s3_connection, resumed, folder)


def test_mirror_of_a_private_repo_sends_the_token_to_the_hub_and_never_to_the_cdn(
    hub, make_model, s3_connection
):
    folder = make_model(shards=2, shard_bytes=6 * MiB, seed=5)
    faults = Faults()
    hub({"acme/private": folder}, faults, token="hf_" + "s3cret" * 6)
    resolved = source.resolve(source.parse_source_uri("hf://acme/private"))
    mirrored = weights.mirror(resolved, s3_connection, model_name="private", settings=SMALL_PARTS)
    assert_mirror_verifies(s3_connection, mirrored, folder)
    cdn = [r for r in faults.requests if r.server == "cdn"]
    hub_reads = [r for r in faults.requests if r.server == "hub"]
    assert sorted(r.path.rsplit("/", 1)[1] for r in cdn) == sorted(
        p.name for p in folder.glob("*.safetensors")
    )
    assert not any(r.authorization for r in cdn), "the token reached the CDN"
    assert hub_reads and all(r.authorization for r in hub_reads)
    # config.json and tokenizer.json are regular files: a relative 307 to the resolve cache.
    assert {r.path.split("/")[2] for r in hub_reads if "resolve-cache" in r.path} == {
        "resolve-cache"
    }


def test_a_private_repo_without_the_token_is_not_found(hub, make_model, monkeypatch):
    hub({"acme/private": make_model()}, token="hf_" + "x" * 30)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(SourceNotFoundError, match=r"not found at .* set HF_TOKEN"):
        source.resolve(source.parse_source_uri("hf://acme/private"))


def test_a_redirect_loop_is_a_permanent_error(hub, make_model, s3_connection):
    faults = Faults(redirect_loops={"config.json"})
    hub({"acme/loop": make_model(shards=1, shard_bytes=6 * MiB)}, faults)
    resolved = source.resolve(source.parse_source_uri("hf://acme/loop"))
    settings = weights.MirrorSettings(part_size=5 * MiB, file_concurrency=1, backoff_base=0.01)
    with pytest.raises(SourceError, match=r"redirected the read of config\.json more than 5 times"):
        weights.mirror(resolved, s3_connection, model_name="loop", settings=settings)
    loops = [r for r in faults.requests if r.path.endswith("/config.json")]
    assert len(loops) == reader.MAX_REDIRECTS + 1, "a loop is not retried as if transient"


@pytest.mark.parametrize(("status", "tries"), [(403, 1), (404, 1), (503, 2)])
def test_client_errors_are_permanent_and_server_errors_are_retried(
    hub, make_model, s3_connection, status, tries
):
    faults = Faults(resolve_status={"config.json": status})
    hub({"acme/odd": make_model(shards=1, shard_bytes=6 * MiB)}, faults)
    resolved = source.resolve(source.parse_source_uri("hf://acme/odd"))
    settings = weights.MirrorSettings(
        part_size=5 * MiB, file_concurrency=1, source_attempts=2, backoff_base=0.01
    )
    with pytest.raises(SourceError, match=f"answered {status}"):
        weights.mirror(resolved, s3_connection, model_name="odd", settings=settings)
    assert len([r for r in faults.requests if r.path.endswith("/config.json")]) == tries


def test_the_first_failure_ends_the_mirror_whichever_file_it_is(hub, make_model, s3_connection):
    shard = "model-00001-of-00001.safetensors"
    faults = Faults(
        stall_after_bytes={shard: 6 * MiB},
        stall_seconds=120,
        resolve_status={"tokenizer.json": 403},
    )
    hub({"acme/late": make_model(shards=1, shard_bytes=12 * MiB, seed=7)}, faults)
    resolved = source.resolve(source.parse_source_uri("hf://acme/late"))
    settings = weights.MirrorSettings(part_size=5 * MiB, file_concurrency=2, stall_timeout=60)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"answered 403 for .*tokenizer\.json"):
        weights.mirror(resolved, s3_connection, model_name="late", settings=settings)
    # The shard, read first and stalled, is abandoned at once: not waited for, not resumed.
    assert time.monotonic() - started < settings.stall_timeout / 2
    assert len(faults.reads(shard)) == 1


def test_young_uploads_of_other_runs_are_left_alone_and_stale_ones_aborted(
    hub, make_model, s3_connection
):
    folder = make_model(shards=1, shard_bytes=11 * MiB, seed=8)
    hub({"acme/uploads": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/uploads"))
    key = weights.model_prefix("models", "uploads", resolved.revision) + (
        "model-00001-of-00001.safetensors"
    )
    client = s3_connection.client()
    client.create_multipart_upload(Bucket="models", Key=key)  # left by a run that died
    # Stale at 7 s by S3's whole-second clock: the dead run's upload is 12 s old, the other
    # run's must still be young when the mirror lists it, with 4-5 s to spare on each side for a
    # loaded machine (3.5 s against 3 once left the other's upload aborted).
    time.sleep(12)
    other = client.create_multipart_upload(Bucket="models", Key=key)["UploadId"]
    # Another run, still going, with 6 MiB parts: nothing this run can resume.
    client.upload_part(Bucket="models", Key=key, UploadId=other, PartNumber=1, Body=b"x" * 6 * MiB)
    settings = weights.MirrorSettings(part_size=5 * MiB, stale_upload_age=7)
    mirrored = weights.mirror(resolved, s3_connection, model_name="uploads", settings=settings)
    assert_mirror_verifies(s3_connection, mirrored, folder)
    left = client.list_multipart_uploads(Bucket="models", Prefix=key).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [other]
    client.abort_multipart_upload(Bucket="models", Key=key, UploadId=other)


def test_a_failing_s3_request_is_tried_s3_attempts_times_in_all(make_model, s3_connection, s3_env):
    folder = make_model(shards=1, shard_bytes=1024)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    with FaultyS3Proxy(s3_env["AWS_S3_ENDPOINT"], rate=3, methods=frozenset({"PUT"})) as proxy:
        flaky = s3_connection.model_copy(update={"endpoint": proxy.url})
        settings = weights.MirrorSettings(s3_attempts=3, file_concurrency=1)
        with pytest.raises(StorageError, match="SlowDown"):
            weights.mirror(resolved, flaky, model_name="always-503", settings=settings)
    assert proxy.counts.errors_503 == 3


def test_credentials_that_cannot_work_are_not_retried(make_model, s3_connection, s3_env):
    folder = make_model(shards=1, shard_bytes=1024)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    with FaultyS3Proxy(s3_env["AWS_S3_ENDPOINT"], rate=0) as proxy:
        wrong = s3_connection.model_copy(
            update={"endpoint": proxy.url, "secret_access_key": SecretStr("not-the-secret")}
        )
        with pytest.raises(StorageError, match="refused the credentials"):
            weights.mirror(resolved, wrong, model_name="wrong-key")
    assert proxy.counts.forwarded == 1


def test_files_with_the_same_bytes_are_each_mirrored(hub, make_model, s3_connection):
    folder = make_model(shards=1, shard_bytes=6 * MiB, seed=9)
    shard = folder / "model-00001-of-00001.safetensors"
    (folder / "model-copy.safetensors").write_bytes(shard.read_bytes())
    hub({"acme/twins": folder})
    resolved = source.resolve(source.parse_source_uri("hf://acme/twins"))
    mirrored = weights.mirror(resolved, s3_connection, model_name="twins", settings=SMALL_PARTS)
    assert_mirror_verifies(s3_connection, mirrored, folder)
