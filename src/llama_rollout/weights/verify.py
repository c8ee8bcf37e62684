"""Deep verification: read a mirrored model back from S3 and hash every byte against its
manifest.

A re-run of the mirror trusts each object's sha256 metadata, because reading every object back
costs as much as mirroring it. An object replaced behind its back with the metadata kept is
found only by reading it, which ``llama-rollout verify`` (and ``mirror --verify``) do.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from llama_rollout.errors import IntegrityError
from llama_rollout.progress import TransferProgress
from llama_rollout.weights.bucket import ModelBucket
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.manifest import ManifestFile, read_manifest, split_s3_uri
from llama_rollout.weights.plan import MirrorSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verification:
    """What reading a mirrored model back found."""

    model_uri: str
    source: str
    files: int
    bytes_read: int
    damaged: tuple[str, ...]  # "path: what is wrong", one per file that does not match

    def raise_for_damage(self) -> None:
        """An IntegrityError naming the damaged files and the command that repairs them."""
        if not self.damaged:
            return
        more = f" (and {len(self.damaged) - 1} more)" if len(self.damaged) > 1 else ""
        raise IntegrityError(
            f"{len(self.damaged)} of {self.files} files of {self.model_uri} do not match its "
            f"manifest: {self.damaged[0]}{more}",
            hint=f"mirror it again, reading back what is there: llama-rollout mirror --source "
            f"{self.source} --verify",
        )


def verify_model(
    connection: DataConnection,
    model_uri: str,
    *,
    concurrency: int = 4,
    progress_interval: float = 5.0,
) -> Verification:
    """Read every file of the model at ``model_uri`` back and compare it with its manifest."""
    manifest, _ = read_manifest(connection, model_uri)
    _, prefix = split_s3_uri(model_uri)
    # Downloads only: each bounded in all up to its headers, its body per read.
    bucket = ModelBucket(
        connection,
        connection.client(max_pool_connections=concurrency + 2),
        prefix.rstrip("/") + "/",
        manifest.source_revision,
        MirrorSettings(),
    )
    progress = TransferProgress(
        total_files=len(manifest.files),
        total_bytes=manifest.total_bytes,
        interval=progress_interval,
        label="verify",
    )

    def check(file: ManifestFile) -> str | None:
        stored = bucket.stored_sha256(file.path)
        progress.add(stored[1] if stored else 0)
        progress.file_done()
        if stored is None:
            return f"{file.path} is missing"
        digest, size = stored
        if size != file.size:
            return f"{file.path} has {size} bytes, the manifest says {file.size}"
        if digest != file.sha256:
            return f"{file.path} has sha256 {digest}, the manifest says {file.sha256}"
        return None

    logger.info("reading back %d files of %s", len(manifest.files), model_uri)
    with ThreadPoolExecutor(concurrency, "verify") as pool, progress.reporting():
        found = list(pool.map(check, manifest.files))
    return Verification(
        model_uri=model_uri,
        source=manifest.source,
        files=len(manifest.files),
        bytes_read=progress.snapshot().bytes_sent,
        damaged=tuple(problem for problem in found if problem),
    )
