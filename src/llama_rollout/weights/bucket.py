"""The model's prefix in the data connection's bucket: every single-object S3 request.

Each request is retried by botocore's standard mode alone (throttling, 5xx, dropped
connections), and its failure becomes a StorageError that names the fix. Objects carry their
sha256 (and, for small hub files, the git blob id) as metadata, which is how a re-run knows an
object is already this file's exact content.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from llama_rollout.bounds import S3_TRANSFER
from llama_rollout.errors import StorageError
from llama_rollout.weights.connection import DataConnection, s3_failure, storage_error
from llama_rollout.weights.manifest import MANIFEST_NAME, Manifest
from llama_rollout.weights.model_files import SourceFile
from llama_rollout.weights.plan import MirrorSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)
T = TypeVar("T")
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


class ModelBucket:
    """Where one revision of a model goes: the bucket, its prefix, and the clients.

    ``client`` carries a transfer's bytes (a file's or a part's upload, their completion and
    server-side copy), each request bounded per read alone; ``short`` makes every other
    request (heads, listings, a multipart upload's start and abort, the manifest, a download
    up to its headers), each bounded in all (``DataConnection.client``).
    """

    def __init__(
        self,
        connection: DataConnection,
        client: S3Client,
        prefix: str,
        revision: str,
        settings: MirrorSettings,
        *,
        short: S3Client | None = None,
    ) -> None:
        self.connection = connection
        self.client = client
        self.short = short or client
        self.bucket = connection.bucket
        self.prefix = prefix
        self.revision = revision
        self.settings = settings

    def key_of(self, path: str) -> str:
        return self.prefix + path

    def call(self, what: str, request: Callable[[], T]) -> T:
        """One S3 request, retried by botocore alone; its failure as a StorageError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except ClientError as exc:
            raise storage_error(exc, self.connection, what) from exc
        except BotoCoreError as exc:
            raise StorageError(
                f"S3 at {self.connection.endpoint} failed to {what} after "
                f"{self.settings.s3_attempts} attempts: {exc}",
                hint="check the S3 endpoint's health; the next run resumes where this one stopped",
            ) from exc

    def metadata(self, file: SourceFile, sha256: str | None = None) -> dict[str, str]:
        meta = {"source-revision": self.revision}
        if sha256 or file.sha256:
            meta["sha256"] = sha256 or file.sha256 or ""
        if file.git_blob_id:
            meta["git-blob-id"] = file.git_blob_id
        return meta

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata (HEAD), or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return dict(
                self.call(
                    f"read the metadata of {key}",
                    lambda: self.short.head_object(Bucket=self.bucket, Key=key),
                )
            )
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and error_code(cause) in NOT_FOUND:
                return None
            raise

    def existing_sha256(self, file: SourceFile) -> str | None:
        """The sha256 of the object already in S3, if it is this file's exact content."""
        head = self.head(self.key_of(file.path))
        if head is None:
            return None
        meta = head.get("Metadata", {})
        if head.get("ContentLength") != file.size or "sha256" not in meta:
            return None
        if file.sha256:
            return meta["sha256"] if meta["sha256"] == file.sha256 else None
        if file.git_blob_id:
            return meta["sha256"] if meta.get("git-blob-id") == file.git_blob_id else None
        return None

    def stored_sha256(self, path: str, *, chunk: int = 8 * 1024 * 1024) -> tuple[str, int] | None:
        """The sha256 and size of the bytes S3 holds for ``path``, read back in full; None when
        there is no such object. Metadata says what was written; this says what is there."""
        return read_object_into(self.connection, self.short, self.key_of(path), chunk=chunk)

    def put_file(self, file: SourceFile, body: bytes, sha256: str) -> None:
        """A file small enough for one request."""
        self.call(
            f"upload {file.path}",
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=self.key_of(file.path),
                Body=body,
                Metadata=self.metadata(file, sha256),
            ),
        )

    def write_manifest(self, manifest: Manifest) -> str:
        """Write the manifest (unless the same one is there) and return its sha256."""
        body = manifest.to_bytes()
        digest = hashlib.sha256(body).hexdigest()
        key = self.prefix + MANIFEST_NAME
        head = self.head(key)
        if head is not None and head.get("Metadata", {}).get("sha256") == digest:
            return digest
        self.call(
            "write the manifest",
            lambda: self.short.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ContentMD5=base64.b64encode(
                    hashlib.md5(body, usedforsecurity=False).digest()
                ).decode(),
                Metadata={"sha256": digest},
            ),
        )
        return digest


def read_object_into(
    connection: DataConnection,
    client: S3Client,
    key: str,
    out: BinaryIO | None = None,
    *,
    bucket: str | None = None,
    chunk: int = 8 * 1024 * 1024,
) -> tuple[str, int] | None:
    """Stream the object ``key`` of the data connection's bucket (or ``bucket``) into ``out``, or
    only hash it: its sha256 and size; None when there is no such object. Bounded in all up to
    its headers, its body per read (a file's size over the link's speed fits no total).

    Raises:
        StorageError: S3 refused (the message names the fix), or failed after its retries.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = bucket or connection.bucket
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        digest, size = hashlib.sha256(), 0
        for block in body.iter_chunks(chunk):
            digest.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise storage_error(exc, connection, key, bucket=bucket) from exc
    except BotoCoreError as exc:
        raise s3_failure(exc, connection, f"read {key}", S3_TRANSFER) from exc
    return digest.hexdigest(), size


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
