"""What the bucket holds under the models' folder: each ``<model>/<revision>/`` prefix, whether
its manifest is there, and how old its newest write is; and the pruning of incomplete ones.

The run journals (``<base>/_runs/<run id>/``, each run's step notes) sit beside the models and
are no mirrors: they are counted apart and never pruned.

A prefix without a manifest is a mirror that has not finished: one still going, or one that
stopped (killed, or its source changed underneath it). Nothing downstream reads it. Only a
prefix whose newest object and pending upload are older than a limit, by S3's own clock, is
pruned, so a mirror still running is never touched, nor is a complete model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from llama_rollout.errors import StorageError, first_line
from llama_rollout.journal import RUNS_FOLDER
from llama_rollout.weights.connection import DataConnection, storage_error
from llama_rollout.weights.manifest import MANIFEST_NAME
from llama_rollout.weights.uploads import server_time

logger = logging.getLogger(__name__)
DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request


@dataclass
class StoredPrefix:
    """One ``BASE/<model>/<revision>/`` prefix in the bucket."""

    prefix: str
    objects: int = 0
    bytes: int = 0
    complete: bool = False
    newest: datetime | None = None
    uploads: list[tuple[str, str]] = field(default_factory=list)  # (key, upload id)

    def saw(self, when: datetime) -> None:
        self.newest = when if self.newest is None else max(self.newest, when)

    def age(self, now: datetime) -> timedelta:
        return now - self.newest if self.newest else timedelta(0)

    def as_dict(self, now: datetime) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "objects": self.objects,
            "bytes": self.bytes,
            "pending_uploads": len(self.uploads),
            "age_seconds": round(self.age(now).total_seconds()),
        }


@dataclass(frozen=True)
class Holdings:
    """What the bucket holds under the models' folder."""

    mirrors: list[StoredPrefix]
    run_journals: list[str]  # their prefixes
    listed_at: datetime  # S3's own clock

    def incomplete_mirrors(self) -> list[dict[str, object]]:
        """The prefixes without a manifest (mirrors still going, or that stopped)."""
        return [p.as_dict(self.listed_at) for p in self.mirrors if not p.complete]


def holdings(connection: DataConnection, base_prefix: str = "models") -> Holdings:
    """The model revision prefixes and the run journals under ``base_prefix``."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = connection.client()
    base = base_prefix.strip("/") + "/" if base_prefix.strip("/") else ""
    found: dict[str, StoredPrefix] = {}
    journals: set[str] = set()

    def prefix_of(key: str) -> StoredPrefix | None:
        parts = key[len(base) :].split("/")
        if len(parts) < 3:  # not inside BASE/<model>/<revision>/
            return None
        if parts[0] == RUNS_FOLDER:
            journals.add(f"{base}{parts[0]}/{parts[1]}/")
            return None
        name = f"{base}{parts[0]}/{parts[1]}/"
        return found.setdefault(name, StoredPrefix(name))

    try:
        now = None
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=connection.bucket, Prefix=base
        ):
            now = now or server_time(page)
            for obj in page.get("Contents", []):
                if (stored := prefix_of(obj["Key"])) is not None:
                    stored.objects += 1
                    stored.bytes += obj["Size"]
                    stored.saw(obj["LastModified"])
                    stored.complete |= obj["Key"] == stored.prefix + MANIFEST_NAME
        for page in client.get_paginator("list_multipart_uploads").paginate(
            Bucket=connection.bucket, Prefix=base
        ):
            for upload in page.get("Uploads", []):
                if (stored := prefix_of(upload["Key"])) is not None:
                    stored.uploads.append((upload["Key"], upload["UploadId"]))
                    stored.saw(upload["Initiated"])
    except ClientError as exc:
        raise storage_error(exc, connection, f"bucket {connection.bucket}") from exc
    except BotoCoreError as exc:
        raise StorageError(
            f"cannot list s3://{connection.bucket}/{base}: {first_line(exc)}"
        ) from exc
    mirrors = sorted(found.values(), key=lambda p: p.prefix)
    return Holdings(mirrors, sorted(journals), now or datetime.now().astimezone())


def prune_incomplete(
    connection: DataConnection,
    older_than: timedelta,
    *,
    base_prefix: str = "models",
    dry_run: bool = False,
) -> list[StoredPrefix]:
    """Remove every incomplete prefix whose newest write is older than ``older_than``: its
    objects and its pending uploads. Returns what was (or, with ``dry_run``, would be) removed."""
    from botocore.exceptions import BotoCoreError, ClientError

    held = holdings(connection, base_prefix)
    now = held.listed_at
    doomed = [p for p in held.mirrors if not p.complete and p.age(now) > older_than]
    try:
        for stored in doomed:
            _remove(connection, stored, now, dry_run=dry_run)
    except ClientError as exc:
        raise storage_error(
            exc, connection, f"pruning s3://{connection.bucket}/{base_prefix}"
        ) from exc
    except BotoCoreError as exc:
        raise StorageError(f"pruning s3://{connection.bucket}: {first_line(exc)}") from exc
    return doomed


def _remove(
    connection: DataConnection, stored: StoredPrefix, now: datetime, *, dry_run: bool
) -> None:
    logger.info(
        "%s %s: %d objects, %d pending uploads, last written %s ago",
        "would remove" if dry_run else "removing", stored.prefix, stored.objects,
        len(stored.uploads), str(stored.age(now)).split(".")[0],
    )  # fmt: skip
    if dry_run:
        return
    client = connection.client()
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=connection.bucket, Prefix=stored.prefix
        )
        for obj in page.get("Contents", [])
    ]
    for start in range(0, len(keys), DELETE_BATCH):
        batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
        client.delete_objects(Bucket=connection.bucket, Delete={"Objects": batch})
    for key, upload_id in stored.uploads:
        client.abort_multipart_upload(Bucket=connection.bucket, Key=key, UploadId=upload_id)
