"""Damage the mirror cannot see by itself: an object replaced behind its back (found by reading
it back), and mirrors that never finished (listed, and pruned once they are old)."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest

from llama_rollout import journal, weights
from llama_rollout.errors import ConfigurationError, IntegrityError
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


R1, R2, R3, R4 = (hashlib.sha1(str(n).encode()).hexdigest() for n in range(4))  # hub revisions


def write_as_a_mirror(client, bucket: str, key: str, body: bytes = b"x" * 10) -> None:
    """An object as a mirror of the revision in its key writes it (BASE/<model>/<rev>/...)."""
    revision = next(part for part in key.split("/") if len(part) in (40, 64))
    client.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"source-revision": revision})


def test_only_old_incomplete_mirrors_are_pruned(make_model, s3_connection, s3_env):
    client = s3_connection.client()
    # A run's journal beside the models, as old as the stopped mirror: it has no manifest, and
    # it is no mirror.
    journal.note(journal.ResolveSourceNote(changed=True),
                 s3_prefix="prune", run_id="run-1", connection=s3_connection)  # fmt: skip
    bucket = s3_connection.bucket
    stopped, running = f"prune/stopped/{R1}/", f"prune/running/{R2}/"
    for name in ("config.json", "model.safetensors"):
        write_as_a_mirror(client, bucket, stopped + name)
    upload = client.create_multipart_upload(Bucket=bucket, Key=stopped + "big.safetensors")
    stopped_written = time.monotonic()
    folder = make_model(shards=1, shard_bytes=1024, seed=32)
    complete = weights.mirror(
        source.resolve(source.parse_source_uri(f"file://{folder}")), s3_connection,
        model_name="complete", base_prefix="prune",
    )  # fmt: skip
    time.sleep(10)
    write_as_a_mirror(client, bucket, running + "config.json", b"{}")

    def limit() -> timedelta:
        # 3 s younger than the stopped mirror, whose age only grows, and at least 7 s older
        # than the running one: S3's clock counts in whole seconds, and prune's own listing
        # (after this limit is taken) takes seconds on a loaded machine.
        return timedelta(seconds=time.monotonic() - stopped_written - 3)

    held = holdings(s3_connection, "prune")
    assert held.run_journals == ["prune/_runs/run-1/"]
    by_prefix = {p.prefix: p for p in held.mirrors}
    assert set(by_prefix) == {stopped, running, complete.prefix}
    assert by_prefix[complete.prefix].complete and not by_prefix[stopped].complete
    assert by_prefix[stopped].uploads == [(stopped + "big.safetensors", upload["UploadId"])]
    shown = [
        m["prefix"] for m in holdings(DataConnection.from_env(s3_env), "prune").incomplete_mirrors()
    ]
    assert shown == [running, stopped]

    would = prune_incomplete(s3_connection, limit(), base_prefix="prune", dry_run=True)
    assert [p.prefix for p in would] == [stopped]
    assert len(holdings(s3_connection, "prune").mirrors) == 3, "a dry run removes nothing"

    removed = prune_incomplete(s3_connection, limit(), base_prefix="prune")
    assert [p.prefix for p in removed] == [stopped]
    left = holdings(s3_connection, "prune")
    assert {p.prefix for p in left.mirrors} == {running, complete.prefix}
    assert left.run_journals == ["prune/_runs/run-1/"], "the journal is kept"
    assert journal.read(s3_prefix="prune", run_id="run-1", connection=s3_connection).notes
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix="prune/").get("Uploads", [])
    assert uploads == []
    assert verify_model(s3_connection, complete.uri).damaged == ()


def test_prune_removes_only_provably_unfinished_mirrors_of_its_own_base(
    make_model, s3_connection, caplog
):
    """A base prefix above where models sit (``dl`` over ``dl/team-a``) once made a complete
    model look like an unfinished mirror, and prune removed it."""
    client, bucket = s3_connection.client(), s3_connection.bucket

    def mirrored(model_name: str, base: str, seed: int) -> weights.MirroredModel:
        folder = make_model(name=model_name, shards=1, shard_bytes=1024, seed=seed)
        resolved = source.resolve(source.parse_source_uri(f"file://{folder}"))
        return weights.mirror(resolved, s3_connection, model_name=model_name, base_prefix=base)

    nested = mirrored("nested", "dl/team-a", 41)  # mirror --prefix dl/team-a
    top = mirrored("top", "dl", 42)
    ours = f"dl/stopped/{R1}/"  # an unfinished mirror of the base dl
    write_as_a_mirror(client, bucket, ours + "config.json")
    ours_nested = f"dl/team-a/stopped/{R2}/"  # one of the base dl/team-a
    write_as_a_mirror(client, bucket, ours_nested + "config.json")
    foreign = f"dl/other/{R3}/"  # the layout, but not written by a mirror
    client.put_object(Bucket=bucket, Key=foreign + "data.bin", Body=b"theirs")
    deep = f"dl/deep/{R4}/"  # a manifest below it: something finished in there
    write_as_a_mirror(client, bucket, deep + "config.json")
    client.put_object(Bucket=bucket, Key=deep + "sub/" + weights.MANIFEST_NAME, Body=b"{}")
    time.sleep(3)  # all of them older than the limit, by S3's whole-second clock

    second = timedelta(seconds=1)
    with caplog.at_level("WARNING"):
        would = prune_incomplete(s3_connection, second, base_prefix="dl", dry_run=True)
    assert [p.prefix for p in would] == [ours]
    assert f"leaving {foreign}: '{foreign}data.bin' was not written by a mirror" in caplog.text
    assert [p.prefix for p in prune_incomplete(s3_connection, second, base_prefix="dl")] == [ours]
    for model in (nested, top):
        assert verify_model(s3_connection, model.uri).damaged == ()
    for kept in (foreign + "data.bin", deep + "config.json", ours_nested + "config.json"):
        client.head_object(Bucket=bucket, Key=kept)

    nested_base = prune_incomplete(s3_connection, second, base_prefix="dl/team-a")
    assert [p.prefix for p in nested_base] == [ours_nested]
    assert verify_model(s3_connection, nested.uri).damaged == ()
    with pytest.raises(ConfigurationError, match=r"would remove mirrors still running"):
        prune_incomplete(s3_connection, timedelta(0), base_prefix="dl")


def test_a_prefix_written_to_after_the_listing_is_left(s3_connection):
    from datetime import datetime

    from llama_rollout.weights.inventory import StoredPrefix, _unfinished_mirror

    client, bucket = s3_connection.client(), s3_connection.bucket
    prefix = f"late/m/{R1}/"
    write_as_a_mirror(client, bucket, prefix + "config.json")
    listed = StoredPrefix(prefix, newest=datetime(2020, 1, 1).astimezone())
    keys, reason = _unfinished_mirror(s3_connection, client, listed)
    assert keys == [] and reason == "it was written to since it was listed (a mirror is running)"
