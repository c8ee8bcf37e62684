"""What the bucket holds under the models' folder (a base prefix), and the pruning of the
mirrors that never finished.

A mirror writes ``BASE/<model>/<revision>/``: a model name (a DNS-1035 label) and a revision,
a hub's commit sha (40 hex digits) or a folder's content digest (64). Every object it writes
carries that revision as its ``source-revision`` metadata, and its manifest comes last. A
prefix without a manifest is a mirror that has not finished: one still going, or one that
stopped (killed, or its source changed underneath it). Nothing downstream reads it.

Only prefixes of that layout, directly under BASE, are mirrors here. Everything else under
BASE is left alone and never pruned: the run journals (``BASE/_runs/<run id>/``, each run's
step notes, counted apart), another tool's objects, and the models of a deeper base prefix.

Nested base prefixes: a model mirrored with ``--prefix models/team-a`` is at
``models/team-a/<model>/<revision>/``. Seen from ``models``, its folder is
``models/team-a/<model>/``, whose second segment is no revision: it is no mirror of the base
``models``, and pruning ``models`` never touches it, complete or not. Each base prefix that
mirrors wrote to is pruned with its own ``--prefix`` (``models/team-a``).

A prefix is complete when a manifest is anywhere at or under it. Prune removes a prefix only
when all of this holds, checked again just before its removal (and by a dry run too):

* it has the mirror's layout, and no manifest at or under it;
* its newest object and pending upload are older than the limit, by S3's own clock, so a
  mirror still running is never touched; nor is one written to since the listing;
* every object under it carries ``source-revision`` equal to its revision (read with HEAD):
  a mirror of this project wrote it. One object of anyone else's leaves the whole prefix
  where it is, with a warning that names it.

Its pending multipart uploads are aborted with it (S3 shows no metadata of an upload before it
completes: an upload is judged by its prefix's layout and age).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from llama_rollout.bounds import S3_PROBE, S3_TRANSFER
from llama_rollout.errors import ConfigurationError, StorageError, quoted
from llama_rollout.journal import RUNS_FOLDER
from llama_rollout.weights.connection import DataConnection, s3_failure, storage_error
from llama_rollout.weights.manifest import MANIFEST_NAME
from llama_rollout.weights.uploads import server_time

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef, ObjectTypeDef

logger = logging.getLogger(__name__)
DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request
_MODEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_REVISION = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass
class StoredPrefix:
    """One ``BASE/<model>/<revision>/`` prefix in the bucket."""

    prefix: str
    objects: int = 0
    bytes: int = 0
    complete: bool = False
    newest: datetime | None = None
    uploads: list[tuple[str, str]] = field(default_factory=list)  # (key, upload id)

    @property
    def revision(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

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


def mirror_prefix(base: str, key: str) -> str | None:
    """``BASE/<model>/<revision>/`` of ``key`` when it lies in a mirror's layout under
    ``base`` (``""`` or ending with '/'), else None."""
    parts = key[len(base) :].split("/")
    if len(parts) < 3 or not _MODEL.fullmatch(parts[0]) or not _REVISION.fullmatch(parts[1]):
        return None
    return f"{base}{parts[0]}/{parts[1]}/"


def holdings(connection: DataConnection, base_prefix: str = "models") -> Holdings:
    """The mirrors (``BASE/<model>/<revision>/``) and the run journals under ``base_prefix``.

    Raises:
        EndpointSilent: a listing got no whole answer within ``bounds.S3_PROBE``.
        StorageError: S3 refused or failed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = connection.client(attempts=S3_PROBE.attempts, read_timeout=S3_PROBE.read)
    base = base_prefix.strip("/") + "/" if base_prefix.strip("/") else ""
    found: dict[str, StoredPrefix] = {}
    journals: set[str] = set()

    def prefix_of(key: str) -> StoredPrefix | None:
        parts = key[len(base) :].split("/")
        if len(parts) >= 3 and parts[0] == RUNS_FOLDER:
            journals.add(f"{base}{parts[0]}/{parts[1]}/")
            return None
        name = mirror_prefix(base, key)
        return None if name is None else found.setdefault(name, StoredPrefix(name))

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
                    stored.complete |= _is_manifest(obj["Key"])
        for uploads_page in client.get_paginator("list_multipart_uploads").paginate(
            Bucket=connection.bucket, Prefix=base
        ):
            for upload in uploads_page.get("Uploads", []):
                if (stored := prefix_of(upload["Key"])) is not None:
                    stored.uploads.append((upload["Key"], upload["UploadId"]))
                    stored.saw(upload["Initiated"])
    except ClientError as exc:
        raise storage_error(exc, connection, f"bucket {connection.bucket}") from exc
    except BotoCoreError as exc:
        where = f"list s3://{connection.bucket}/{base}"
        raise s3_failure(exc, connection, where, S3_PROBE) from exc
    mirrors = sorted(found.values(), key=lambda p: p.prefix)
    return Holdings(mirrors, sorted(journals), now or datetime.now().astimezone())


def prune_incomplete(
    connection: DataConnection,
    older_than: timedelta,
    *,
    base_prefix: str = "models",
    dry_run: bool = False,
) -> list[StoredPrefix]:
    """Remove every mirror under ``base_prefix`` that provably never finished (see the
    module's docstring) and whose newest write is older than ``older_than``: its objects and
    its pending uploads. Returns what was (or, with ``dry_run``, would be) removed.

    Raises:
        ConfigurationError: ``older_than`` is not above 0 (mirrors still running would go).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if older_than <= timedelta(0):
        raise ConfigurationError(
            f"a prune limit of {older_than.total_seconds():g}s would remove mirrors still running",
            hint="give --older-than above 0, longer than a mirror may take, e.g. 24h",
        )
    held = holdings(connection, base_prefix)
    now = held.listed_at
    doomed = [p for p in held.mirrors if not p.complete and p.age(now) > older_than]
    client = connection.client()  # short requests: each bounded in all
    removed = []
    try:
        for stored in doomed:
            if _prune(connection, client, stored, now, dry_run=dry_run):
                removed.append(stored)
    except ClientError as exc:
        raise storage_error(
            exc, connection, f"pruning s3://{connection.bucket}/{base_prefix}"
        ) from exc
    except BotoCoreError as exc:
        where = f"prune s3://{connection.bucket}/{base_prefix}"
        raise s3_failure(exc, connection, where, S3_TRANSFER) from exc
    return removed


def _is_manifest(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == MANIFEST_NAME


def _prune(
    connection: DataConnection,
    client: S3Client,
    stored: StoredPrefix,
    now: datetime,
    *,
    dry_run: bool,
) -> bool:
    """Remove ``stored`` when it is provably an unfinished mirror; False when it is left."""
    keys, reason = _unfinished_mirror(connection, client, stored)
    if reason is not None:
        logger.warning("leaving %s: %s", stored.prefix, reason)
        return False
    logger.info(
        "%s %s: %d objects, %d pending uploads, last written %s ago",
        "would remove" if dry_run else "removing",
        stored.prefix,
        len(keys),
        len(stored.uploads),
        str(stored.age(now)).split(".")[0],
    )
    if dry_run:
        return True
    for start in range(0, len(keys), DELETE_BATCH):
        batch: list[ObjectIdentifierTypeDef] = [
            {"Key": k} for k in keys[start : start + DELETE_BATCH]
        ]
        answer = client.delete_objects(Bucket=connection.bucket, Delete={"Objects": batch})
        if errors := answer.get("Errors"):
            first = errors[0]
            raise StorageError(
                f"S3 at {connection.endpoint} refused to delete {len(errors)} objects of "
                f"{stored.prefix}: {quoted(first.get('Key'))}: {quoted(first.get('Code'))} "
                f"{quoted(first.get('Message'), 120)}",
                hint="check that the data connection's keys may delete objects, and prune again",
            )
    for key, upload_id in stored.uploads:
        client.abort_multipart_upload(Bucket=connection.bucket, Key=key, UploadId=upload_id)
    return True


def _unfinished_mirror(
    connection: DataConnection, client: S3Client, stored: StoredPrefix
) -> tuple[list[str], str | None]:
    """The keys under ``stored``, listed again, and None when every one proves it an
    unfinished mirror of this project; else no keys, and why it is left."""
    from botocore.exceptions import ClientError

    listed: list[ObjectTypeDef] = [
        obj
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=connection.bucket, Prefix=stored.prefix
        )
        for obj in page.get("Contents", [])
    ]
    if any(_is_manifest(obj["Key"]) for obj in listed):
        return [], "it has a manifest now (its mirror finished)"
    if any(stored.newest is None or obj["LastModified"] > stored.newest for obj in listed):
        return [], "it was written to since it was listed (a mirror is running)"
    for obj in listed:
        try:
            head = client.head_object(Bucket=connection.bucket, Key=obj["Key"])
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey"):
                return [], "an object of it went away since it was listed (a mirror is running)"
            raise
        written = head.get("Metadata", {}).get("source-revision")
        if written != stored.revision:
            return [], (
                f"{quoted(obj['Key'], 200)} was not written by a mirror of revision "
                f"{stored.revision} (its source-revision is {quoted(written)}): it is not "
                "this project's to remove"
            )
    return [obj["Key"] for obj in listed], None
