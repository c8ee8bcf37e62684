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
    with pytest.raises(ConfigurationError, match="expected s3://BUCKET/PREFIX/"):
        weights.split_s3_uri("https://bucket/a")


def test_settings_reject_parts_below_the_s3_minimum():
    with pytest.raises(ValueError, match="greater than or equal"):
        weights.MirrorSettings(part_size=1 * MiB)
