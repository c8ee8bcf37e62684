"""The manifest: what a complete mirrored model holds, written last, read by every later step."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from llama_rollout.errors import IncompleteModelError, StorageError
from llama_rollout.weights.connection import DataConnection, storage_error

MANIFEST_NAME = "llama-rollout-manifest.json"
MANIFEST_VERSION = 1


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int
    sha256: str


class Manifest(BaseModel):
    """What a complete mirrored model holds; written last, read by every later step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: int = MANIFEST_VERSION
    model_name: str
    source: str
    source_revision: str
    files: list[ManifestFile]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same model always gives the same bytes (and digest)."""
        return (json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n").encode()


def read_manifest(connection: DataConnection, model_uri: str) -> tuple[Manifest, str]:
    """Read the manifest of a mirrored model.

    Args:
        connection: the S3 data connection.
        model_uri: ``s3://BUCKET/PREFIX/`` of the model.

    Returns:
        The manifest and the sha256 of its bytes.

    Raises:
        IncompleteModelError: there is no manifest (the mirror did not finish).
    """
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(model_uri)
    key = prefix.rstrip("/") + "/" + MANIFEST_NAME
    client = connection.client()
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise IncompleteModelError(
                f"{model_uri} has no {MANIFEST_NAME}: the mirror did not finish",
                hint="run the mirror step again; it resumes where it stopped",
            ) from exc
        raise storage_error(exc, connection, f"s3://{bucket}/{key}") from exc
    return Manifest.model_validate_json(body), hashlib.sha256(body).hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b/")``."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise StorageError(f"not an S3 model URI: {uri!r}", hint="expected s3://BUCKET/PREFIX/")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix
