from __future__ import annotations

import pytest

from llama_rollout import weights
from llama_rollout.errors import ConfigurationError
from llama_rollout.weights import plan

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, 16 * MiB), (80 * 1024 * MiB, 16 * MiB), (500 * 1024 * MiB, 52 * MiB)],
)
def test_part_size_stays_within_s3_limits(size, expected):
    part = weights.part_size_for(size, 16 * MiB)
    assert part == expected
    assert -(-size // part) <= plan.MAX_PARTS


def test_manifest_bytes_are_canonical():
    files = [weights.ManifestFile(path="a", size=1, sha256="0" * 64)]
    one = weights.Manifest(model_name="m", source="hf://o/r@x", source_revision="x", files=files)
    two = weights.Manifest.model_validate_json(one.to_bytes())
    assert one.to_bytes() == two.to_bytes()


def test_model_prefix():
    assert weights.model_prefix("/models/", "llama", "abc") == "models/llama/abc/"
    assert weights.model_prefix("", "llama", "abc") == "llama/abc/"


def test_split_s3_uri():
    assert weights.split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
    with pytest.raises(ConfigurationError, match=r"not an S3 model URI.*s3://BUCKET/PREFIX/"):
        weights.split_s3_uri("https://bucket/a")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://models/models//m/", r"an empty segment \('//'\)"),
        ("s3://models//m/r/", r"an empty segment \('//'\)"),
        ("s3:///x/", "no bucket"),
        ("s3://my bucket/m/r/", "bucket 'my bucket' is not a bucket name"),
        ("s3://models/./", "segment '.'"),
        ("s3://models/m/../r/", r"segment '\.\.'"),
        ("s3://models//", "no prefix after the bucket"),
        ("s3://models/m/\x1b[2J/", r"segment '\\x1b\[2J'"),
        ("s3://models/" + "v" * 100_000, r"'s3://models/v+'\.\.\. \(100012 characters\): its "
         "prefix is longer than the 996 bytes"),
    ],
)  # fmt: skip
def test_a_malformed_model_uri_is_called_invalid_not_an_unfinished_mirror(uri, problem):
    with pytest.raises(ConfigurationError, match=rf"invalid S3 model URI .*{problem}") as caught:
        weights.split_s3_uri(uri)
    assert "s3://BUCKET/PREFIX/MODEL/REVISION/" in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("prefix", ["", "/", "//"])
def test_the_bucket_s_root_is_no_base_prefix(prefix):
    with pytest.raises(ConfigurationError, match=r"is the bucket's root.*e\.g\. models"):
        plan.check_base_prefix(prefix)
    assert plan.check_base_prefix("models/team-a") == "models/team-a"


def test_settings_reject_parts_below_the_s3_minimum():
    with pytest.raises(ValueError, match="greater than or equal"):
        weights.MirrorSettings(part_size=1 * MiB)
