"""Mirror a resolved model source into S3: streamed, verified, idempotent and resumable.

Layout: ``s3://BUCKET/PREFIX/<model-name>/<revision>/<file>``, and last of all the manifest
``.../<revision>/llama-rollout-manifest.json``. A prefix without a manifest is incomplete and
nothing downstream uses it.

How a file moves: one worker per file reads the source as a stream, hashes it as it goes and
cuts it into parts that a shared pool uploads in parallel (S3 multipart). Each request is
protected in transit by TLS, or over plain HTTP by the SigV4 payload hash the server checks. A semaphore bounds the parts held in memory, so memory does not depend on the
model's size and nothing is staged on disk. The sha256 (and, for small hub files, the git blob
id) is checked when the stream ends; a mismatch aborts that upload and fails the mirror before
the manifest is written.

Idempotence and resume: an object whose ``sha256`` metadata matches is skipped; a multipart
upload left behind by an interrupted run is reused part by part (parts whose MD5 and size match
are not sent again). Source reads that stall or fail transiently resume with a Range request
from the byte reached; S3 requests are retried by botocore with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.data_connection import DataConnection, storage_error
from llama_rollout.errors import (
    IncompleteModelError,
    IntegrityError,
    SourceError,
    StorageError,
)
from llama_rollout.progress import TransferProgress
from llama_rollout.source import HubStatusError, ResolvedSource, SourceFile, SourceReader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

MANIFEST_NAME = "llama-rollout-manifest.json"
MANIFEST_VERSION = 1
MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000


class MirrorSettings(BaseModel):
    """How the mirror moves bytes.

    Memory held in part buffers is at most ``(part_concurrency + file_concurrency) * part_size``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Measured by benchmarks/mirror.py: 16 MiB parts, 4 in flight and 2 files at a time keep a
    # loopback S3 at 97% of its write limit on 2 cores; raise part_concurrency for endpoints
    # far away (more latency to hide), the memory bound grows with it.
    part_size: int = Field(default=16 * MiB, ge=MIN_PART_SIZE)
    part_concurrency: int = Field(default=4, ge=1, le=64)
    file_concurrency: int = Field(default=2, ge=1, le=32)
    stall_timeout: float = Field(default=60.0, gt=0)
    source_attempts: int = Field(default=6, ge=1)
    # Every S3 request, botocore's standard retry mode: throttling, 5xx and dropped connections,
    # never a 4xx that cannot succeed. It is the only retry of S3 requests.
    s3_attempts: int = Field(default=8, ge=1)
    # A pending multipart upload older than this, by S3's own clock, was left by a run that
    # died; a younger one may belong to a run still going (scheduled runs overlap) and is
    # never aborted.
    stale_upload_age: float = Field(default=48 * 3600.0, gt=0)
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_cap: float = Field(default=30.0, gt=0)
    progress_interval: float = Field(default=5.0, gt=0)


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


@dataclass(frozen=True)
class MirroredModel:
    """Where a mirror put a model, and what it cost."""

    bucket: str
    prefix: str
    manifest: Manifest
    manifest_sha256: str
    bytes_transferred: int
    files_transferred: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def storage_path(self) -> str:
        """The path inside the bucket, as KServe's ``storage.path`` and the registry want it."""
        return self.prefix.rstrip("/")


def model_prefix(base_prefix: str, model_name: str, revision: str) -> str:
    """``PREFIX/<model-name>/<revision>/`` without a leading slash."""
    parts = [p for p in (base_prefix.strip("/"), model_name, revision) if p]
    return "/".join(parts) + "/"


def mirror(
    source: ResolvedSource,
    connection: DataConnection,
    *,
    model_name: str,
    base_prefix: str = "models",
    settings: MirrorSettings | None = None,
    reader: SourceReader | None = None,
) -> MirroredModel:
    """Copy every file of ``source`` to S3 and write the manifest last.

    Args:
        source: the resolved source (pinned revision and file list).
        connection: the S3 data connection.
        model_name: the folder name under ``base_prefix``.
        base_prefix: the folder under the bucket that holds all models.
        settings: transfer settings.
        reader: the source reader (tests pass one that injects faults).

    Returns:
        Where the model is, with the bytes actually sent.

    Raises:
        IntegrityError: a file did not match its declared checksum or size.
        StorageError: S3 refused or kept failing.
        SourceError: the source kept failing.
    """
    settings = settings or MirrorSettings()
    client = connection.client(
        max_pool_connections=settings.part_concurrency + settings.file_concurrency + 2,
        attempts=settings.s3_attempts,
    )
    connection.check_bucket(client)
    prefix = model_prefix(base_prefix, model_name, source.revision)
    job = _MirrorJob(
        source=source,
        connection=connection,
        client=client,
        prefix=prefix,
        settings=settings,
        reader=reader or SourceReader(source, stall_timeout=settings.stall_timeout),
    )
    return job.run(model_name)


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


def part_size_for(size: int, preferred: int) -> int:
    """The part size for a file: the preferred one, grown to stay within S3's 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(preferred, -(-needed // MiB) * MiB)


class PartBuffers:
    """A fixed pool of part buffers: all the memory a mirror holds for file data.

    Reusing the same buffers keeps memory flat however large the model is (fresh buffers per
    part fragment the allocator's heaps, and resident memory creeps up with the bytes moved).
    Taking a buffer blocks while all are in flight, which is the mirror's back-pressure.
    """

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(bytearray(size))

    def take(self) -> bytearray:
        return self._free.get()

    def give_back(self, buffer: bytearray) -> None:
        self._free.put(buffer)


@dataclass(frozen=True)
class _Upload:
    """A multipart upload in progress, with the parts an earlier run already sent."""

    key: str
    upload_id: str
    uploaded: dict[int, tuple[str, int]]  # part number -> (ETag, size)


@dataclass
class _ByteCount:
    value: int = 0


@dataclass
class _FileHashes:
    sha256: Any
    git_blob: Any | None

    @classmethod
    def for_file(cls, file: SourceFile) -> _FileHashes:
        git_blob = None
        if file.git_blob_id:
            git_blob = hashlib.sha1(usedforsecurity=False)
            git_blob.update(f"blob {file.size}\0".encode())
        return cls(hashlib.sha256(), git_blob)

    def update(self, data: bytes | memoryview) -> None:
        self.sha256.update(data)
        if self.git_blob is not None:
            self.git_blob.update(data)

    def verify(self, file: SourceFile, received: int) -> str:
        """Return the sha256, or raise if the bytes are not what the source declared."""
        digest = self.sha256.hexdigest()
        if received != file.size:
            raise IntegrityError(
                f"{file.path}: received {received} bytes, the source declared {file.size}",
                hint="the source changed or is corrupt; re-resolve it or fix the source",
            )
        if file.sha256 and digest != file.sha256:
            raise IntegrityError(
                f"{file.path}: sha256 {digest} does not match the source's {file.sha256}",
                hint="the source file is corrupt; fix or re-upload it, then run again",
            )
        if self.git_blob is not None and self.git_blob.hexdigest() != file.git_blob_id:
            raise IntegrityError(
                f"{file.path}: git blob id {self.git_blob.hexdigest()} does not match the "
                f"source's {file.git_blob_id}",
                hint="the source file is corrupt; fix or re-upload it, then run again",
            )
        return digest


class _MirrorJob:
    def __init__(
        self,
        *,
        source: ResolvedSource,
        connection: DataConnection,
        client: S3Client,
        prefix: str,
        settings: MirrorSettings,
        reader: SourceReader,
    ) -> None:
        self.source = source
        self.connection = connection
        self.client = client
        self.bucket = connection.bucket
        self.prefix = prefix
        self.settings = settings
        self.reader = reader
        self.buffers = PartBuffers(
            settings.part_concurrency + settings.file_concurrency,
            max((part_size_for(f.size, settings.part_size) for f in source.files), default=0),
        )
        self.failed = threading.Event()
        self.first_failure: BaseException | None = None
        self._failure_lock = threading.Lock()
        self.progress = TransferProgress(
            total_files=len(source.files),
            total_bytes=source.total_bytes,
            interval=settings.progress_interval,
        )

    def key_of(self, path: str) -> str:
        return self.prefix + path

    def run(self, model_name: str) -> MirroredModel:
        logger.info(
            "mirroring %s (%d files, %.1f MiB) to s3://%s/%s",
            self.source.pinned_uri,
            len(self.source.files),
            self.source.total_bytes / MiB,
            self.bucket,
            self.prefix,
        )
        with (
            ThreadPoolExecutor(self.settings.file_concurrency, "mirror-file") as files,
            ThreadPoolExecutor(self.settings.part_concurrency, "mirror-part") as parts,
            self.progress.reporting(),
        ):
            futures = {files.submit(self._mirror_file, f, parts): f for f in self.source.files}
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException as exc:  # Ctrl-C while waiting
                self._fail(exc)
            for future in futures:
                future.cancel()
        if self.first_failure is not None:
            raise self.first_failure
        digests = {file.path: future.result() for future, file in futures.items()}
        manifest = Manifest(
            model_name=model_name,
            source=self.source.pinned_uri,
            source_revision=self.source.revision,
            files=[
                ManifestFile(path=f.path, size=f.size, sha256=digests[f.path])
                for f in self.source.files
            ],
        )
        manifest_sha256 = self._write_manifest(manifest)
        snapshot = self.progress.snapshot()
        logger.info(
            "mirror complete: %s (%d files sent, %d skipped; %.1f MiB sent at %.1f MiB/s)",
            f"s3://{self.bucket}/{self.prefix}",
            snapshot.files_sent,
            snapshot.files_skipped,
            snapshot.bytes_sent / MiB,
            snapshot.throughput / MiB,
        )
        return MirroredModel(
            bucket=self.bucket,
            prefix=self.prefix,
            manifest=manifest,
            manifest_sha256=manifest_sha256,
            bytes_transferred=snapshot.bytes_sent,
            files_transferred=snapshot.files_sent,
        )

    def _fail(self, exc: BaseException) -> None:
        """The first failure ends the mirror: every other file stops at its next chunk."""
        with self._failure_lock:
            if self.first_failure is None:
                self.first_failure = exc
                self.failed.set()
                self.reader.abort()

    # -- one file -------------------------------------------------------------------------

    def _mirror_file(self, file: SourceFile, parts: ThreadPoolExecutor) -> str:
        if self.failed.is_set():
            raise StorageError("mirror cancelled after another file failed")
        try:
            return self._copy_file(file, parts)
        except BaseException as exc:
            self._fail(exc)
            raise

    def _copy_file(self, file: SourceFile, parts: ThreadPoolExecutor) -> str:
        existing = self._existing_sha256(file)
        if existing is not None:
            self.progress.file_skipped(file.size)
            logger.debug("%s already in S3 with sha256 %s", file.path, existing)
            return existing
        part_size = part_size_for(file.size, self.settings.part_size)
        if file.size <= part_size:
            digest = self._put_small_file(file)
        else:
            digest = self._put_multipart(file, part_size, parts)
        self.progress.file_done()
        return digest

    def _existing_sha256(self, file: SourceFile) -> str | None:
        """The sha256 of the object already in S3, if it is this file's exact content."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key_of(file.path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise storage_error(exc, self.connection, self.key_of(file.path)) from exc
        meta = head.get("Metadata", {})
        if head.get("ContentLength") != file.size or "sha256" not in meta:
            return None
        if file.sha256:
            return meta["sha256"] if meta["sha256"] == file.sha256 else None
        if file.git_blob_id:
            return meta["sha256"] if meta.get("git-blob-id") == file.git_blob_id else None
        return None

    def _metadata(self, file: SourceFile, sha256: str | None = None) -> dict[str, str]:
        meta = {"source-revision": self.source.revision}
        if sha256 or file.sha256:
            meta["sha256"] = sha256 or file.sha256 or ""
        if file.git_blob_id:
            meta["git-blob-id"] = file.git_blob_id
        return meta

    def _read_parts(
        self, file: SourceFile, part_size: int, hashes: _FileHashes, received: _ByteCount
    ) -> Iterator[tuple[bytearray, int]]:
        """The file cut into parts held in pool buffers, hashed on the way.

        Each yielded buffer belongs to the caller, who gives it back to the pool.
        """
        buffer: bytearray | None = None
        filled = 0
        try:
            for chunk in self._source_chunks(file, lambda: received.value):
                hashes.update(chunk)
                received.value += len(chunk)
                if received.value > file.size:
                    raise IntegrityError(
                        f"{file.path}: the source sent more than the {file.size} bytes it declared",
                        hint="the source changed or is corrupt; re-resolve it or fix the source",
                    )
                view = memoryview(chunk)
                while view:
                    if buffer is None:
                        buffer, filled = self.buffers.take(), 0
                    take = min(len(view), part_size - filled)
                    buffer[filled : filled + take] = view[:take]
                    filled += take
                    view = view[take:]
                    if filled == part_size:
                        part, buffer = buffer, None
                        yield part, filled
                if self.failed.is_set():
                    raise StorageError("mirror cancelled after another file failed")
            if buffer is not None and filled:
                part, buffer = buffer, None
                yield part, filled
        finally:
            if buffer is not None:
                self.buffers.give_back(buffer)

    def _put_small_file(self, file: SourceFile) -> str:
        hashes = _FileHashes.for_file(file)
        received = _ByteCount()
        taken: list[tuple[bytearray, int]] = []
        try:
            taken.extend(self._read_parts(file, self.buffers.size, hashes, received))
            digest = hashes.verify(file, received.value)
            body = bytes(memoryview(taken[0][0])[: taken[0][1]]) if taken else b""
            self._s3_call(
                f"upload {file.path}",
                lambda: self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key_of(file.path),
                    Body=body,
                    Metadata=self._metadata(file, digest),
                ),
            )
        finally:
            for buffer, _ in taken:
                self.buffers.give_back(buffer)
        self.progress.add(received.value)
        return digest

    def _put_multipart(self, file: SourceFile, part_size: int, parts: ThreadPoolExecutor) -> str:
        key = self.key_of(file.path)
        upload = self._resumable_upload(file, key, part_size)
        hashes = _FileHashes.for_file(file)
        received = _ByteCount()
        futures: list[Future[dict[str, Any]]] = []
        try:
            numbered = enumerate(self._read_parts(file, part_size, hashes, received), start=1)
            for number, (buffer, length) in numbered:
                futures.append(self._submit_part(parts, upload, number, buffer, length))
            digest = hashes.verify(file, received.value)
            completed = [f.result() for f in futures]
        except IntegrityError:
            wait(futures)
            self._abort(key, upload.upload_id)
            raise
        self._complete(file, key, upload.upload_id, completed, digest)
        return digest

    def _submit_part(
        self,
        parts: ThreadPoolExecutor,
        upload: _Upload,
        number: int,
        buffer: bytearray,
        length: int,
    ) -> Future[dict[str, Any]]:
        try:
            return parts.submit(self._upload_part, upload, number, buffer, length)
        except BaseException:
            self.buffers.give_back(buffer)
            raise

    def _upload_part(
        self, upload: _Upload, number: int, buffer: bytearray, length: int
    ) -> dict[str, Any]:
        # botocore takes bytes or bytearray: a full part goes as is, a file's last part is copied.
        body = buffer if length == len(buffer) else bytes(memoryview(buffer)[:length])
        try:
            if number in upload.uploaded:
                # Resuming: a part already there with the same MD5 (its ETag) is not sent again.
                etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
                if upload.uploaded[number] == (etag, length):
                    self.progress.add_resumed(length)
                    return {"PartNumber": number, "ETag": etag}
            if self.failed.is_set():
                raise StorageError("mirror cancelled after another file failed")
            response = self._s3_call(
                f"upload part {number} of {upload.key}",
                lambda: self.client.upload_part(
                    Bucket=self.bucket,
                    Key=upload.key,
                    UploadId=upload.upload_id,
                    PartNumber=number,
                    Body=body,
                ),
            )
            self.progress.add(length)
            return {"PartNumber": number, "ETag": response["ETag"]}
        finally:
            self.buffers.give_back(buffer)

    def _resumable_upload(self, file: SourceFile, key: str, part_size: int) -> _Upload:
        """Resume the newest young upload of this key whose parts fit, or start one.

        Stale uploads (older than ``stale_upload_age`` by S3's clock) are aborted. Young ones
        that do not fit are left alone: they may be another run's, still in progress, and the
        bytes of one key at one revision are the same whoever completes it.
        """
        listing = self._s3_call(
            f"list uploads of {key}",
            lambda: self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key),
        )
        now = _server_time(listing)
        pending = sorted(
            (u for u in listing.get("Uploads", []) if u["Key"] == key),
            key=lambda u: u["Initiated"],
            reverse=True,
        )
        for upload in pending:
            age = (now - upload["Initiated"]).total_seconds()
            if age >= self.settings.stale_upload_age:
                logger.info("%s: aborting a stale upload started %.0f h ago", file.path, age / 3600)
                self._abort(key, upload["UploadId"])
        for upload in pending:
            if (now - upload["Initiated"]).total_seconds() >= self.settings.stale_upload_age:
                continue
            uploaded = self._listed_parts(key, upload["UploadId"])
            if all(
                size == part_size for n, (_, size) in uploaded.items() if n * part_size < file.size
            ):
                logger.info(
                    "%s: resuming an interrupted upload (%d parts there)", file.path, len(uploaded)
                )
                return _Upload(key, upload["UploadId"], uploaded)
        created = self._s3_call(
            f"start upload of {key}",
            lambda: self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, Metadata=self._metadata(file)
            ),
        )
        return _Upload(key, created["UploadId"], {})

    def _listed_parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        parts: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            page = self._s3_call(
                f"list parts of {key}",
                lambda m=marker: self.client.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=m
                ),
            )
            for part in page.get("Parts", []):
                parts[part["PartNumber"]] = (part["ETag"], part["Size"])
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def _complete(
        self, file: SourceFile, key: str, upload_id: str, parts: list[dict[str, Any]], digest: str
    ) -> None:
        from botocore.exceptions import ClientError

        try:
            self._s3_call(
                f"complete upload of {key}",
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                ),
            )
        except StorageError as exc:
            # A retried complete whose first attempt succeeded answers NoSuchUpload.
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and _error_code(cause) == "NoSuchUpload"):
                raise
            if self._existing_sha256(file) is None:
                raise
        if file.sha256 is None:
            # The sha256 is known only now: record it so a re-run can skip the object.
            self._s3_call(
                f"record sha256 of {key}",
                lambda: self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    Metadata=self._metadata(file, digest),
                    MetadataDirective="REPLACE",
                ),
            )

    def _abort(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not abort upload %s of %s: %s", upload_id, key, exc)

    def _write_manifest(self, manifest: Manifest) -> str:
        from botocore.exceptions import ClientError

        body = manifest.to_bytes()
        digest = hashlib.sha256(body).hexdigest()
        key = self.prefix + MANIFEST_NAME
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if head.get("Metadata", {}).get("sha256") == digest:
                return digest
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise storage_error(exc, self.connection, key) from exc
        self._s3_call(
            "write the manifest",
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ContentMD5=_md5_b64(body),
                Metadata={"sha256": digest},
            ),
        )
        return digest

    # -- retries --------------------------------------------------------------------------

    def _source_chunks(self, file: SourceFile, position: Callable[[], int]) -> Iterator[bytes]:
        """The file's bytes; a stalled or failed read resumes from ``position()``."""
        import urllib3.exceptions

        attempt = 0
        while True:
            offset = position()
            try:
                for chunk in self.reader.chunks(file, offset):
                    yield chunk
                    attempt = 0
                return
            except HubStatusError as exc:
                if not exc.transient:
                    raise
                error: Exception = exc
            except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
                error = exc
            if self.failed.is_set():
                raise StorageError("mirror cancelled after another file failed") from error
            attempt += 1
            if attempt >= self.settings.source_attempts:
                raise SourceError(
                    f"reading {file.path} failed {attempt} times in a row at byte {position()}: {error}",
                    hint="check the hub or network; the next run resumes where this one stopped",
                ) from error
            delay = _backoff(attempt, self.settings.backoff_base, self.settings.backoff_cap)
            logger.warning(
                "reading %s stopped at byte %d (%s); resuming in %.1fs (attempt %d/%d)",
                file.path,
                position(),
                type(error).__name__,
                delay,
                attempt + 1,
                self.settings.source_attempts,
            )
            time.sleep(delay)

    def _s3_call(self, what: str, call: Callable[[], Any]) -> Any:
        """One S3 request, retried by botocore alone; its failure as a StorageError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            raise storage_error(exc, self.connection, what) from exc
        except BotoCoreError as exc:
            raise StorageError(
                f"S3 at {self.connection.endpoint} failed to {what} after "
                f"{self.settings.s3_attempts} attempts: {exc}",
                hint="check the S3 endpoint's health; the next run resumes where this one stopped",
            ) from exc


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter."""
    import random

    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto


def _md5_b64(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _server_time(response: dict[str, Any]) -> datetime:
    """When S3 answered, by its own clock (its Date header), to age uploads by the same clock."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return parsedate_to_datetime(date) if date else datetime.now(UTC)
