"""One run's journal: each step's outcome in S3, for the exit handler's run summary.

KFP's exit handler cannot take the outputs of the steps it guards: it runs whatever happened,
and a step that failed or was skipped has no outputs. So each step notes what it did in the
data connection's bucket, under ``<s3_prefix>/_runs/<run id>/`` (``_runs`` can name no model:
model names are DNS labels), and the summary step reads the notes back. A step that never
noted anything did not finish, or did not run; the pipeline's final status says which.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llama_rollout.errors import ConfigurationError, StorageError, first_line
from llama_rollout.weights.connection import DataConnection, read_object, storage_error

logger = logging.getLogger(__name__)

# The steps in the order the pipeline runs them; the summary lists them so.
STEPS = (
    "resolve source",
    "mirror weights",
    "register model",
    "deploy model server",
    "deploy Llama Stack",
    "evaluate",
    "publish",
)
# Beside the models' folders; no model can have this name (model names are DNS labels).
RUNS_FOLDER = "_runs"
NOTE_LIMIT = 2**20  # bytes: a step's note is a few kB of JSON
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def folder(s3_prefix: str, run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ConfigurationError(f"run id {run_id[:80]!r} cannot name a folder in S3")
    return f"{s3_prefix.strip('/')}/{RUNS_FOLDER}/{run_id}/"


def _key(s3_prefix: str, run_id: str, step: str) -> str:
    index = STEPS.index(step)
    return f"{folder(s3_prefix, run_id)}{index + 1}-{step.replace(' ', '-').lower()}.json"


@contextlib.contextmanager
def _storage_errors(connection: DataConnection, key: str, verb: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{connection.bucket}/{key}"
    try:
        yield
    except ClientError as exc:
        raise storage_error(exc, connection, where) from exc
    except BotoCoreError as exc:
        raise StorageError(f"cannot {verb} {where}: {first_line(exc)}") from exc


def note(
    step: str, fields: Mapping[str, Any], *, s3_prefix: str, run_id: str,
    connection: DataConnection | None = None,
) -> None:  # fmt: skip
    """Write one step's outcome to the run's journal."""
    connection = connection or DataConnection.from_env()
    key = _key(s3_prefix, run_id, step)
    body = json.dumps({"step": step, **fields}, sort_keys=True, default=str).encode()
    with _storage_errors(connection, key, "write"):
        connection.client().put_object(
            Bucket=connection.bucket, Key=key, Body=body, ContentType="application/json"
        )


@dataclass(frozen=True)
class Journal:
    """A run's notes, by step."""

    run_id: str
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, step: str) -> dict[str, Any]:
        return self.notes.get(step, {})


def read(*, s3_prefix: str, run_id: str, connection: DataConnection | None = None) -> Journal:
    """Every note of the run (none when the run wrote none)."""
    connection = connection or DataConnection.from_env()
    client = connection.client()
    notes = {}
    prefix = folder(s3_prefix, run_id)
    with _storage_errors(connection, prefix, "read"):
        listed = client.list_objects_v2(Bucket=connection.bucket, Prefix=prefix)
        for entry in listed.get("Contents", []):
            body = read_object(connection, client, entry["Key"], limit=NOTE_LIMIT)
            if body is None:  # removed since the listing
                continue
            record = json.loads(body)
            notes[record.pop("step")] = record
    return Journal(run_id, notes)
