"""Damage the mirror cannot see by itself: an object replaced behind its back (found by reading
it back), and mirrors that never finished (listed, and pruned once they are old)."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest

from llama_rollout import journal, weights
from llama_rollout.errors import IntegrityError
from llama_rollout.weights import source
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.inventory import holdings, prune_incomplete
from llama_rollout.weights.verify import verify_model

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def test_an_object_replaced_behind_the_mirror_s_back_is_found_and_repaired(
    make_model, s3_connection
):
    folder = make_model(shards=2, shard_bytes=2 * MiB, seed=31)
    resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
    first = weights.mirror(resolved, s3_connection, model_name="replaced", base_prefix="verify")
    assert verify_model(s3_connection, first.uri).damaged == ()

    client = s3_connection.client()
    key = first.prefix + "model-00002-of-00002.safetensors"
    kept = client.head_object(Bucket=first.bucket, Key=key)["Metadata"]
    client.put_object(Bucket=first.bucket, Key=key, Body=b"\0" * (2 * MiB), Metadata=kept)

    unseen = weights.mirror(resolved, s3_connection, model_name="replaced", base_prefix="verify")
    assert unseen.bytes_transferred == 0, "the metadata is trusted: this is what verify is for"
    found = verify_model(s3_connection, first.uri)
    recorded = next(f.sha256 for f in first.manifest.files if f.path == key.rsplit("/")[-1])
    zeros = hashlib.sha256(b"\0" * (2 * MiB)).hexdigest()
    assert found.damaged == (
        f"model-00002-of-00002.safetensors has sha256 {zeros}, the manifest says {recorded}",
    )
    assert found.bytes_read == resolved.total_bytes
    with pytest.raises(IntegrityError, match=r"1 of 4 files .* --verify") as caught:
        found.raise_for_damage()
    assert f"mirror --source file://{folder}" in str(caught.value)

    repaired = weights.mirror(
        resolved, s3_connection, model_name="replaced", base_prefix="verify",
        settings=weights.MirrorSettings(verify_existing=True),
    )  # fmt: skip
    assert repaired.bytes_transferred == 2 * MiB, "only the damaged file is sent again"
    assert verify_model(s3_connection, first.uri).damaged == ()


def test_only_old_incomplete_mirrors_are_pruned(make_model, s3_connection, s3_env):
    client = s3_connection.client()
    # A run's journal beside the models, as old as the stopped mirror: it has no manifest, and
    # it is no mirror.
    journal.note("resolve source", {"changed": True}, s3_prefix="prune", run_id="run-1",
                 connection=s3_connection)  # fmt: skip
    bucket = s3_connection.bucket
    for key in ("prune/stopped/r1/config.json", "prune/stopped/r1/model.safetensors"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * 10)
    upload = client.create_multipart_upload(Bucket=bucket, Key="prune/stopped/r1/big.safetensors")
    folder = make_model(shards=1, shard_bytes=1024, seed=32)
    complete = weights.mirror(
        source.resolve(source.parse_source_uri(f"file://{folder}")), s3_connection,
        model_name="complete", base_prefix="prune",
    )  # fmt: skip
    time.sleep(6)
    client.put_object(Bucket=bucket, Key="prune/running/r2/config.json", Body=b"{}")
    written = time.monotonic()

    def limit() -> timedelta:
        # Between the two prefixes' ages, 3 s from each, however long the listings took: S3's
        # clock counts in whole seconds, and a loaded machine is slow.
        return timedelta(seconds=time.monotonic() - written + 3)

    held = holdings(s3_connection, "prune")
    assert held.run_journals == ["prune/_runs/run-1/"]
    by_prefix = {p.prefix: p for p in held.mirrors}
    assert set(by_prefix) == {"prune/stopped/r1/", "prune/running/r2/", complete.prefix}
    assert by_prefix[complete.prefix].complete and not by_prefix["prune/stopped/r1/"].complete
    assert by_prefix["prune/stopped/r1/"].uploads == [
        ("prune/stopped/r1/big.safetensors", upload["UploadId"])
    ]
    shown = [
        m["prefix"] for m in holdings(DataConnection.from_env(s3_env), "prune").incomplete_mirrors()
    ]
    assert shown == ["prune/running/r2/", "prune/stopped/r1/"]

    would = prune_incomplete(s3_connection, limit(), base_prefix="prune", dry_run=True)
    assert [p.prefix for p in would] == ["prune/stopped/r1/"]
    assert len(holdings(s3_connection, "prune").mirrors) == 3, "a dry run removes nothing"

    removed = prune_incomplete(s3_connection, limit(), base_prefix="prune")
    assert [p.prefix for p in removed] == ["prune/stopped/r1/"]
    left = holdings(s3_connection, "prune")
    assert {p.prefix for p in left.mirrors} == {"prune/running/r2/", complete.prefix}
    assert left.run_journals == ["prune/_runs/run-1/"], "the journal is kept"
    assert journal.read(s3_prefix="prune", run_id="run-1", connection=s3_connection).notes
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix="prune/").get("Uploads", [])
    assert uploads == []
    assert verify_model(s3_connection, complete.uri).damaged == ()
