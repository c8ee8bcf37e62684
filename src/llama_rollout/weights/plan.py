"""Where a model goes in the bucket and how its bytes move: the settings, the layout, the result.

Layout: ``s3://BUCKET/PREFIX/<model-name>/<revision>/<file>``, and last of all the manifest
``.../<revision>/llama-rollout-manifest.json``. A prefix without a manifest is incomplete and
nothing downstream uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.errors import ConfigurationError, quoted
from llama_rollout.weights.manifest import Manifest

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
    # Read back every object already there and hash it, instead of trusting its metadata: finds
    # an object replaced behind the mirror's back, at the cost of reading the whole model.
    verify_existing: bool = False


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


_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_BASE_PREFIX = 256


def check_base_prefix(prefix: str) -> str:
    """``prefix`` when it can be the folder of every model in the bucket, else a
    ConfigurationError: S3 keys with ``..``, empty segments or odd characters end up as
    paths on disk and in KServe's storage.path; and the bucket's root (``""`` or ``/``) is
    no folder of models: it holds whatever else the bucket does, which ``prune`` would read
    as models' folders."""
    if not prefix.strip("/"):
        raise ConfigurationError(
            f"the S3 prefix {quoted(prefix)} is the bucket's root, which holds more than models",
            hint="give the models a folder of their own, e.g. models (the default)",
        )
    segments = prefix.strip("/").split("/")
    bad = next((s for s in segments if not _PREFIX_SEGMENT.match(s)), None)
    if len(prefix) > MAX_BASE_PREFIX or bad is not None:
        raise ConfigurationError(
            f"invalid S3 prefix {quoted(prefix)}"
            + (
                f": segment {quoted(bad)}"
                if bad is not None
                else f": over {MAX_BASE_PREFIX} characters"
            ),
            hint="use folders of letters, digits, '.', '_' and '-' separated by '/', e.g. models",
        )
    return prefix


def model_prefix(base_prefix: str, model_name: str, revision: str) -> str:
    """``PREFIX/<model-name>/<revision>/`` without a leading slash."""
    parts = [p for p in (base_prefix.strip("/"), model_name, revision) if p]
    return "/".join(parts) + "/"


def part_size_for(size: int, preferred: int) -> int:
    """The part size for a file: the preferred one, grown to stay within S3's 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(preferred, -(-needed // MiB) * MiB)
