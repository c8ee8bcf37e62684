"""A source file as a stream of parts: hashed on the way, resumed from the byte reached.

A read that stalls or fails transiently resumes with a Range request from where it stopped
(through the hub again, which signs a fresh CDN URL); a permanent error, or the mirror having
failed elsewhere, ends it. The stream is cut into parts held in the buffer pool, which is the
back-pressure when S3 is slower than the source.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import urllib3.exceptions

from llama_rollout.errors import IntegrityError, SourceError, StorageError
from llama_rollout.weights.buffers import PartBuffers
from llama_rollout.weights.model_files import SourceFile
from llama_rollout.weights.plan import MirrorSettings
from llama_rollout.weights.reader import HubStatusError, SourceReader

if TYPE_CHECKING:
    from hashlib import _Hash

logger = logging.getLogger(__name__)


class Cancelled(StorageError):
    """Another file failed first; this one stops where it is."""

    def __init__(self) -> None:
        super().__init__("mirror cancelled after another file failed")


@dataclass
class ByteCount:
    """Bytes received so far, shared by a reader and the code that resumes it."""

    value: int = 0


@dataclass
class FileHashes:
    """The digests a file is checked against as its bytes stream past."""

    sha256: _Hash
    git_blob: _Hash | None

    @classmethod
    def for_file(cls, file: SourceFile) -> FileHashes:
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


def source_chunks(
    reader: SourceReader,
    file: SourceFile,
    position: Callable[[], int],
    settings: MirrorSettings,
    failed: threading.Event,
) -> Iterator[bytes]:
    """The file's bytes; a stalled or transiently failed read resumes from ``position()``."""
    attempt = 0
    while True:
        offset = position()
        try:
            for chunk in reader.chunks(file, offset):
                yield chunk
                attempt = 0
            return
        except HubStatusError as exc:
            if not exc.transient:
                raise
            error: Exception = exc
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            error = exc
        if failed.is_set():
            raise Cancelled from error
        attempt += 1
        if attempt >= settings.source_attempts:
            raise SourceError(
                f"reading {file.path} failed {attempt} times in a row at byte {position()}: {error}",
                hint="check the hub or network; the next run resumes where this one stopped",
            ) from error
        delay = backoff(attempt, settings.backoff_base, settings.backoff_cap)
        logger.warning(
            "reading %s stopped at byte %d (%s); resuming in %.1fs (attempt %d/%d)",
            file.path,
            position(),
            type(error).__name__,
            delay,
            attempt + 1,
            settings.source_attempts,
        )
        time.sleep(delay)


def read_parts(
    chunks: Iterator[bytes],
    file: SourceFile,
    part_size: int,
    buffers: PartBuffers,
    hashes: FileHashes,
    received: ByteCount,
    failed: threading.Event,
) -> Iterator[tuple[bytearray, int]]:
    """The file cut into parts held in pool buffers, hashed on the way.

    Each yielded buffer belongs to the caller, who gives it back to the pool.
    """
    buffer: bytearray | None = None
    filled = 0
    try:
        for chunk in chunks:
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
                    buffer, filled = buffers.take(), 0
                take = min(len(view), part_size - filled)
                buffer[filled : filled + take] = view[:take]
                filled += take
                view = view[take:]
                if filled == part_size:
                    part, buffer = buffer, None
                    yield part, filled
            if failed.is_set():
                raise Cancelled
        if buffer is not None and filled:
            part, buffer = buffer, None
            yield part, filled
    finally:
        if buffer is not None:
            buffers.give_back(buffer)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto
