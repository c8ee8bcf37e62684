"""Mirror a resolved model source into S3: streamed, verified, idempotent and resumable.

How a file moves: one worker per file reads the source as a stream, hashes it as it goes and
cuts it into parts that a shared pool uploads in parallel (S3 multipart). Each request is
protected in transit by TLS, or over plain HTTP by the SigV4 payload hash the server checks.
The fixed pool of part buffers bounds the memory held, so it does not depend on the model's
size and nothing is staged on disk. The sha256 (and, for small hub files, the git blob id) is
checked when the stream ends; a mismatch aborts that upload and fails the mirror before the
manifest is written. The first failure of any file ends the whole mirror at once.

Idempotence and resume: an object whose ``sha256`` metadata matches is skipped (read back and
hashed first with ``verify_existing``); a multipart
upload left behind by an interrupted run is reused part by part (``uploads``). Source reads
that stall or fail transiently resume from the byte reached (``stream``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from llama_rollout.errors import IntegrityError
from llama_rollout.progress import TransferProgress
from llama_rollout.weights import uploads
from llama_rollout.weights.bucket import ModelBucket
from llama_rollout.weights.buffers import PartBuffers
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.manifest import Manifest, ManifestFile
from llama_rollout.weights.model_files import ResolvedSource, SourceFile
from llama_rollout.weights.plan import (
    MiB,
    MirroredModel,
    MirrorSettings,
    model_prefix,
    part_size_for,
)
from llama_rollout.weights.reader import SourceReader
from llama_rollout.weights.stream import (
    ByteCount,
    Cancelled,
    FileHashes,
    read_parts,
    source_chunks,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger(__name__)


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
    pool = settings.part_concurrency + settings.file_concurrency + 2
    # The bytes go per read (a part takes its size over the link's speed); every other
    # request, bounded in all.
    transfer = connection.client(
        max_pool_connections=pool, attempts=settings.s3_attempts, in_all=False
    )
    short = connection.client(max_pool_connections=pool, attempts=settings.s3_attempts)
    connection.check_bucket()
    prefix = model_prefix(base_prefix, model_name, source.revision)
    bucket = ModelBucket(connection, transfer, prefix, source.revision, settings, short=short)
    reader = reader or SourceReader(source, stall_timeout=settings.stall_timeout)
    return MirrorJob(source, bucket, settings, reader).run(model_name)


class MirrorJob:
    """One mirror of one revision: the workers, the buffers, the first failure."""

    def __init__(
        self,
        source: ResolvedSource,
        bucket: ModelBucket,
        settings: MirrorSettings,
        reader: SourceReader,
    ) -> None:
        self.source = source
        self.bucket = bucket
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

    def run(self, model_name: str) -> MirroredModel:
        logger.info(
            "mirroring %s (%d files, %.1f MiB) to s3://%s/%s",
            self.source.pinned_uri,
            len(self.source.files),
            self.source.total_bytes / MiB,
            self.bucket.bucket,
            self.bucket.prefix,
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
        manifest_sha256 = self.bucket.write_manifest(manifest)
        snapshot = self.progress.snapshot()
        logger.info(
            "mirror complete: s3://%s/%s (%d files sent, %d skipped; %.1f MiB sent at %.1f MiB/s)",
            self.bucket.bucket,
            self.bucket.prefix,
            snapshot.files_sent,
            snapshot.files_skipped,
            snapshot.bytes_sent / MiB,
            snapshot.throughput / MiB,
        )
        return MirroredModel(
            bucket=self.bucket.bucket,
            prefix=self.bucket.prefix,
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
            raise Cancelled
        try:
            return self._copy_file(file, parts)
        except BaseException as exc:
            self._fail(exc)
            raise

    def _copy_file(self, file: SourceFile, parts: ThreadPoolExecutor) -> str:
        existing = self.bucket.existing_sha256(file)
        if existing is not None and self.settings.verify_existing:
            stored = self.bucket.stored_sha256(file.path)
            if stored != (existing, file.size):
                logger.warning(
                    "%s in S3 is not what its metadata says (%s): mirroring it again",
                    file.path,
                    "missing" if stored is None else f"sha256 {stored[0]}, {stored[1]} bytes",
                )
                existing = None
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

    def _parts(
        self, file: SourceFile, part_size: int, hashes: FileHashes, received: ByteCount
    ) -> Iterator[tuple[bytearray, int]]:
        chunks = source_chunks(
            self.reader, file, lambda: received.value, self.settings, self.failed
        )
        return read_parts(chunks, file, part_size, self.buffers, hashes, received, self.failed)

    def _put_small_file(self, file: SourceFile) -> str:
        hashes = FileHashes.for_file(file)
        received = ByteCount()
        taken: list[tuple[bytearray, int]] = []
        try:
            taken.extend(self._parts(file, self.buffers.size, hashes, received))
            digest = hashes.verify(file, received.value)
            body = bytes(memoryview(taken[0][0])[: taken[0][1]]) if taken else b""
            self.bucket.put_file(file, body, digest)
        finally:
            for buffer, _ in taken:
                self.buffers.give_back(buffer)
        self.progress.add(received.value)
        return digest

    def _put_multipart(self, file: SourceFile, part_size: int, parts: ThreadPoolExecutor) -> str:
        upload = uploads.resumable_upload(self.bucket, file, part_size)
        hashes = FileHashes.for_file(file)
        received = ByteCount()
        futures: list[Future[CompletedPartTypeDef]] = []
        try:
            numbered = enumerate(self._parts(file, part_size, hashes, received), start=1)
            for number, (buffer, length) in numbered:
                futures.append(self._submit_part(parts, upload, number, buffer, length))
            digest = hashes.verify(file, received.value)
            completed = [f.result() for f in futures]
        except IntegrityError:
            wait(futures)
            uploads.abort(self.bucket, upload.key, upload.upload_id)  # this run's own
            raise
        uploads.complete(self.bucket, file, upload, completed, digest)
        return digest

    def _submit_part(
        self,
        parts: ThreadPoolExecutor,
        upload: uploads.Upload,
        number: int,
        buffer: bytearray,
        length: int,
    ) -> Future[CompletedPartTypeDef]:
        try:
            return parts.submit(self._upload_part, upload, number, buffer, length)
        except BaseException:
            self.buffers.give_back(buffer)
            raise

    def _upload_part(
        self, upload: uploads.Upload, number: int, buffer: bytearray, length: int
    ) -> CompletedPartTypeDef:
        # botocore takes bytes or bytearray: a full part goes as is, a file's last part is copied.
        body = buffer if length == len(buffer) else bytes(memoryview(buffer)[:length])
        try:
            if upload.has(number, body):  # resuming: the same bytes are there already
                self.progress.add_resumed(length)
                return {"PartNumber": number, "ETag": upload.uploaded[number][0]}
            if self.failed.is_set():
                raise Cancelled
            etag = uploads.send_part(self.bucket, upload, number, body)
            self.progress.add(length)
            return {"PartNumber": number, "ETag": etag}
        finally:
            self.buffers.give_back(buffer)
