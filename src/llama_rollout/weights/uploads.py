"""Multipart uploads: one per large file, resumed part by part, aborted only when stale.

A multipart upload left by an interrupted run is resumed: parts whose MD5 (their ETag) and
size match are not sent again. Only uploads older than ``stale_upload_age`` by S3's own clock
are aborted; a younger one may be another run's (scheduled runs overlap), and the bytes of one
key at one revision are the same whoever completes it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from llama_rollout.errors import StorageError
from llama_rollout.weights.bucket import ModelBucket, error_code
from llama_rollout.weights.model_files import SourceFile

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress, with the parts an earlier run already sent."""

    key: str
    upload_id: str
    uploaded: dict[int, tuple[str, int]]  # part number -> (ETag, size)

    def has(self, number: int, body: bytes | bytearray) -> bool:
        """True when part ``number`` is already there with exactly these bytes."""
        if number not in self.uploaded:
            return False
        return self.uploaded[number] == (part_etag(body), len(body))


def part_etag(body: bytes | bytearray) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def resumable_upload(bucket: ModelBucket, file: SourceFile, part_size: int) -> Upload:
    """Resume the newest young upload of this file whose parts fit, or start one."""
    key = bucket.key_of(file.path)
    listing = bucket.call(
        f"list uploads of {key}",
        lambda: bucket.short.list_multipart_uploads(Bucket=bucket.bucket, Prefix=key),
    )
    now = server_time(listing)
    pending = sorted(
        (u for u in listing.get("Uploads", []) if u["Key"] == key),
        key=lambda u: u["Initiated"],
        reverse=True,
    )
    young = []
    for upload in pending:
        age = (now - upload["Initiated"]).total_seconds()
        if age >= bucket.settings.stale_upload_age:
            logger.info("%s: aborting a stale upload started %.0f h ago", file.path, age / 3600)
            abort(bucket, key, upload["UploadId"])
        else:
            young.append(upload)
    for upload in young:
        uploaded = listed_parts(bucket, key, upload["UploadId"])
        if all(size == part_size for n, (_, size) in uploaded.items() if n * part_size < file.size):
            logger.info(
                "%s: resuming an interrupted upload (%d parts there)", file.path, len(uploaded)
            )
            return Upload(key, upload["UploadId"], uploaded)
    created = bucket.call(
        f"start upload of {key}",
        lambda: bucket.short.create_multipart_upload(
            Bucket=bucket.bucket, Key=key, Metadata=bucket.metadata(file)
        ),
    )
    return Upload(key, created["UploadId"], {})


def listed_parts(bucket: ModelBucket, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
    parts: dict[int, tuple[str, int]] = {}
    marker = 0
    while True:
        page = bucket.call(
            f"list parts of {key}",
            functools.partial(
                bucket.short.list_parts,
                Bucket=bucket.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            ),
        )
        for part in page.get("Parts", []):
            parts[part["PartNumber"]] = (part["ETag"], part["Size"])
        if not page.get("IsTruncated"):
            return parts
        marker = page["NextPartNumberMarker"]


def send_part(bucket: ModelBucket, upload: Upload, number: int, body: bytes | bytearray) -> str:
    """Upload one part; its ETag."""
    response = bucket.call(
        f"upload part {number} of {upload.key}",
        lambda: bucket.client.upload_part(
            Bucket=bucket.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            PartNumber=number,
            Body=body,  # type: ignore[arg-type]  # botocore sends a bytearray as bytes; its stubs say bytes only
        ),
    )
    return str(response["ETag"])


def complete(
    bucket: ModelBucket,
    file: SourceFile,
    upload: Upload,
    parts: list[CompletedPartTypeDef],
    digest: str,
) -> None:
    """Complete the upload, and record the sha256 where only now it is known."""
    from botocore.exceptions import ClientError

    try:
        bucket.call(
            f"complete upload of {upload.key}",
            lambda: bucket.client.complete_multipart_upload(
                Bucket=bucket.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )
    except StorageError as exc:
        # A retried complete whose first attempt succeeded answers NoSuchUpload.
        cause = exc.__cause__
        if not (isinstance(cause, ClientError) and error_code(cause) == "NoSuchUpload"):
            raise
        if bucket.existing_sha256(file) is None:
            raise
    if file.sha256 is None:
        # The sha256 is known only now: record it so a re-run can skip the object.
        bucket.call(
            f"record sha256 of {upload.key}",
            lambda: bucket.client.copy_object(
                Bucket=bucket.bucket,
                Key=upload.key,
                CopySource={"Bucket": bucket.bucket, "Key": upload.key},
                Metadata=bucket.metadata(file, digest),
                MetadataDirective="REPLACE",
            ),
        )


def abort(bucket: ModelBucket, key: str, upload_id: str) -> None:
    """Abort an upload this run may abort (its own, or a stale one); a failure only warns."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        bucket.short.abort_multipart_upload(Bucket=bucket.bucket, Key=key, UploadId=upload_id)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("could not abort upload %s of %s: %s", upload_id, key, exc)


def server_time(response: Mapping[str, Any]) -> datetime:
    """When S3 answered, by its own clock (its Date header), to age uploads by the same clock."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return parsedate_to_datetime(date) if date else datetime.now(UTC)
