"""The manifest: what a complete mirrored model holds, written last, read by every later step."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from llama_rollout.bounds import S3_PROBE
from llama_rollout.errors import (
    ConfigurationError,
    IncompleteModelError,
    StorageError,
    invalid_settings,
    quoted,
)
from llama_rollout.weights.connection import (
    BUCKET_NAME,
    DataConnection,
    read_object,
    storage_error,
)

MANIFEST_NAME = "llama-rollout-manifest.json"
MANIFEST_VERSION = 1
# A manifest lists each file's path, size and sha256: some 200 bytes a file.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
# S3 keys have 1024 bytes at most, and the manifest's key is the longest of a model's.
MAX_MODEL_PREFIX = 1024 - len(MANIFEST_NAME) - 1


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
    from botocore.exceptions import ClientError
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
    # Often the first request to S3: bounded as the first contact is, its body included.
    client = connection.client(attempts=S3_PROBE.attempts, read_timeout=S3_PROBE.read)
    try:
        body = read_object(connection, client, key, limit=MAX_MANIFEST_BYTES)
    except ClientError as exc:
        raise storage_error(exc, connection, f"s3://{bucket}/{key}", bucket=bucket) from exc
    if body is None:
        raise IncompleteModelError(
            f"{model_uri} has no {MANIFEST_NAME}: the mirror did not finish",
            hint="run the mirror step again; it resumes where it stopped",
        )
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as exc:
        raise StorageError(
            f"s3://{bucket}/{key} is not a manifest this project wrote ({invalid_settings('manifest', exc).message})",
            hint="mirror the model again: the mirror rewrites a manifest that does not match",
        ) from exc
    return manifest, hashlib.sha256(body).hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b/")``.

    Raises:
        ConfigurationError: ``uri`` is no S3 model URI: another scheme, no bucket or an invalid
            one, no prefix, an empty, '.' or '..' segment (``a//b``), a control character, or
            a prefix longer than S3 keys allow.
    """
    hint = "give the model_uri the mirror printed: s3://BUCKET/PREFIX/MODEL/REVISION/"
    if not uri.startswith("s3://"):
        raise ConfigurationError(f"not an S3 model URI: {quoted(uri)}", hint=hint)
    bucket, _, prefix = uri[5:].partition("/")
    if not BUCKET_NAME.fullmatch(bucket):
        what = "no bucket" if not bucket else f"bucket {quoted(bucket)} is not a bucket name"
        raise ConfigurationError(f"invalid S3 model URI {quoted(uri)}: {what}", hint=hint)
    if not prefix.strip("/"):
        raise ConfigurationError(
            f"invalid S3 model URI {quoted(uri)}: no prefix after the bucket", hint=hint
        )
    if len(prefix.encode()) > MAX_MODEL_PREFIX:
        raise ConfigurationError(
            f"invalid S3 model URI {quoted(uri)}: its prefix is longer than the "
            f"{MAX_MODEL_PREFIX} bytes S3 keys leave it",
            hint=hint,
        )
    segments = prefix.removesuffix("/").split("/")
    bad = next((s for s in segments if s in ("", ".", "..") or not s.isprintable()), None)
    if bad is not None:
        what = "an empty segment ('//')" if bad == "" else f"segment {quoted(bad)}"
        raise ConfigurationError(f"invalid S3 model URI {quoted(uri)}: {what}", hint=hint)
    return bucket, prefix
