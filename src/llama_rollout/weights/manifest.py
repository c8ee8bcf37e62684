"""The manifest: what a complete mirrored model holds, written last, read by every later step."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from llama_rollout.errors import (
    ConfigurationError,
    IncompleteModelError,
    StorageError,
    first_line,
    invalid_settings,
    quoted,
)
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
        ConfigurationError: the model is not in the data connection's bucket.
        IncompleteModelError: there is no manifest (the mirror did not finish).
        StorageError: the manifest is not one this project wrote.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError

    bucket, prefix = split_s3_uri(model_uri)
    if bucket != connection.bucket:
        # KServe reads storage.path from the data connection's own bucket.
        raise ConfigurationError(
            f"{model_uri} is in bucket {bucket!r}, and the data connection's bucket is "
            f"{connection.bucket!r}",
            hint="give a model mirrored through this data connection, or its own data connection",
        )
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
        raise storage_error(exc, connection, f"s3://{bucket}/{key}", bucket=bucket) from exc
    except BotoCoreError as exc:
        raise StorageError(f"cannot read s3://{bucket}/{key}: {first_line(exc)}") from exc
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as exc:
        raise StorageError(
            f"s3://{bucket}/{key} is not a manifest this project wrote ({invalid_settings('manifest', exc).message})",
            hint="mirror the model again: the mirror rewrites a manifest that does not match",
        ) from exc
    return manifest, hashlib.sha256(body).hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b/")``."""
    if (
        not uri.startswith("s3://")
        or "/" not in uri[5:]
        or not uri[5:].partition("/")[2].strip("/")
    ):
        raise ConfigurationError(
            f"not an S3 model URI: {quoted(uri)}", hint="expected s3://BUCKET/PREFIX/"
        )
    bucket, _, prefix = uri[5:].partition("/")
    segments = prefix.rstrip("/").split("/")
    if bad := next((s for s in segments if s in ("", ".", "..") or not s.isprintable()), None):
        raise ConfigurationError(
            f"invalid S3 model URI {quoted(uri)}: segment {quoted(bad)}",
            hint="give the model_uri the mirror printed: s3://BUCKET/PREFIX/MODEL/REVISION/",
        )
    return bucket, prefix
