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
from typing import TYPE_CHECKING, Any

from llama_rollout.errors import StorageError
from llama_rollout.weights.connection import DataConnection, storage_error
from llama_rollout.weights.manifest import MANIFEST_NAME, Manifest
from llama_rollout.weights.plan import MirrorSettings
from llama_rollout.weights.source import SourceFile

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


class ModelBucket:
    """Where one revision of a model goes: the bucket, its prefix, and the client."""

    def __init__(
        self,
        connection: DataConnection,
        client: S3Client,
        prefix: str,
        revision: str,
        settings: MirrorSettings,
    ) -> None:
        self.connection = connection
        self.client = client
        self.bucket = connection.bucket
        self.prefix = prefix
        self.revision = revision
        self.settings = settings

    def key_of(self, path: str) -> str:
        return self.prefix + path

    def call(self, what: str, request: Callable[[], Any]) -> Any:
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

    def existing_sha256(self, file: SourceFile) -> str | None:
        """The sha256 of the object already in S3, if it is this file's exact content."""
        from botocore.exceptions import ClientError

        key = self.key_of(file.path)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise storage_error(exc, self.connection, key) from exc
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
        from botocore.exceptions import ClientError

        key = self.key_of(path)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise storage_error(exc, self.connection, key) from exc
        digest, size = hashlib.sha256(), 0
        for block in body.iter_chunks(chunk):
            digest.update(block)
            size += len(block)
        return digest.hexdigest(), size

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
        from botocore.exceptions import ClientError

        body = manifest.to_bytes()
        digest = hashlib.sha256(body).hexdigest()
        key = self.prefix + MANIFEST_NAME
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if head.get("Metadata", {}).get("sha256") == digest:
                return digest
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                raise storage_error(exc, self.connection, key) from exc
        self.call(
            "write the manifest",
            lambda: self.client.put_object(
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


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
