"""One run's journal: each step's outcome in S3, for the exit handler's run summary.

KFP's exit handler cannot take the outputs of the steps it guards: it runs whatever happened,
and a step that failed or was skipped has no outputs. So each step notes what it did in the
data connection's bucket, under ``<s3_prefix>/_runs/<run id>/`` (``_runs`` can name no model:
model names are DNS labels), and the summary step reads the notes back. A step that never
noted anything did not finish, or did not run; the pipeline's final status says which.

Each step's note has a type (a ``Note``), which its component writes and every reader reads,
stored as the JSON the untyped notes were: ``{"step": <its name>, <field>: <value>, ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from llama_rollout.errors import ConfigurationError, StorageError, first_line
from llama_rollout.weights.connection import DataConnection, read_object, storage_error

logger = logging.getLogger(__name__)


class Step(StrEnum):
    """The pipeline's tasks in the order they run.

    The value is the step's name in its note (and in its S3 key) and in the run summary's
    rows; ``display_name`` is its task's name in the dashboard. The parameter check and the
    run summary write no note, but their display names are here too, so that every task's
    name comes from one place.
    """

    CHECK_PARAMETERS = "check parameters"
    RESOLVE_SOURCE = "resolve source"
    MIRROR_WEIGHTS = "mirror weights"
    REGISTER_MODEL = "register model"
    DEPLOY_MODEL_SERVER = "deploy model server"
    DEPLOY_LLAMA_STACK = "deploy Llama Stack"
    EVALUATE = "evaluate"
    PUBLISH = "publish"
    RUN_SUMMARY = "run summary"

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES.get(self, self.value)


# Where the dashboard's name differs from the journal's: the journal's is part of the note's
# key (``7-publish.json``) and of the summary's rows, and stays as it was.
_DISPLAY_NAMES = {Step.PUBLISH: "publish to Lightspeed"}


class Note(BaseModel):
    """What a step noted. Every field defaults to what a reader takes for "not noted" (empty,
    0, None for a yes or no), as the readers did with the untyped notes: the live version's
    details read back from the registry are partial notes. ``step`` is stored in the JSON
    beside the fields but is the note's class, not a field; keys this version does not know
    are ignored."""

    model_config = ConfigDict(frozen=True)
    step: ClassVar[Step]


class ResolveSourceNote(Note):
    step: ClassVar[Step] = Step.RESOLVE_SOURCE
    pinned_uri: str = ""
    revision: str = ""
    model_name: str = ""
    changed: bool | None = None
    reason: str = ""
    live_version: str = ""


class MirrorWeightsNote(Note):
    step: ClassVar[Step] = Step.MIRROR_WEIGHTS
    model_uri: str = ""
    files: int = 0
    bytes_transferred: int = 0


class RegisterModelNote(Note):
    step: ClassVar[Step] = Step.REGISTER_MODEL
    model_name: str = ""
    model_version_name: str = ""
    model_version_id: str = ""
    registered_model_id: str = ""


class DeployModelServerNote(Note):
    step: ClassVar[Step] = Step.DEPLOY_MODEL_SERVER
    serving_url: str = ""
    serving_model: str = ""
    serving_name: str = ""


class DeployLlamaStackNote(Note):
    step: ClassVar[Step] = Step.DEPLOY_LLAMA_STACK
    url: str = ""
    version: str = ""
    model_id: str = ""
    mcp_tools: list[str] = []
    name: str = ""
    caller: str = ""  # the principal the stack knows the pipeline's steps by


class EvaluateNote(Note):
    step: ClassVar[Step] = Step.EVALUATE
    passed: bool | None = None
    missed: list[str] = []
    metrics: dict[str, float] = {}
    report_uri: str = ""
    report_path: str = ""
    caller: str = ""  # who Llama Stack's records name as the evaluation's caller


class PublishNote(Note):
    step: ClassVar[Step] = Step.PUBLISH
    summary: str = ""
    changed: bool | None = None
    retired: list[str] = []
    olsconfig_path: str = ""


# The steps that write a note, in the order the pipeline runs them, with their notes' types;
# the summary lists them so, and a note's key is numbered by its place here.
NOTES: dict[Step, type[Note]] = {
    kind.step: kind
    for kind in (
        ResolveSourceNote,
        MirrorWeightsNote,
        RegisterModelNote,
        DeployModelServerNote,
        DeployLlamaStackNote,
        EvaluateNote,
        PublishNote,
    )
}
STEPS = tuple(NOTES)
N = TypeVar("N", bound=Note)
# Beside the models' folders; no model can have this name (model names are DNS labels).
RUNS_FOLDER = "_runs"
NOTE_LIMIT = 2**20  # bytes: a step's note is a few kB of JSON
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def folder(s3_prefix: str, run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise ConfigurationError(f"run id {run_id[:80]!r} cannot name a folder in S3")
    return f"{s3_prefix.strip('/')}/{RUNS_FOLDER}/{run_id}/"


def _key(s3_prefix: str, run_id: str, step: Step) -> str:
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
    fields: Note,
    *,
    s3_prefix: str,
    run_id: str,
    connection: DataConnection | None = None,
) -> None:
    """Write one step's outcome to the run's journal, under the step its note is of."""
    if type(fields) not in NOTES.values():  # a writer's mistake, not the run's
        raise TypeError(f"{type(fields).__name__} is no step's note: give one of {list(NOTES)}")
    step = fields.step
    connection = connection or DataConnection.from_env()
    key = _key(s3_prefix, run_id, step)
    # The JSON of the untyped notes, key for key: a reader of either version reads the other's.
    body = json.dumps(
        {"step": str(step), **fields.model_dump()}, sort_keys=True, default=str
    ).encode()
    with _storage_errors(connection, key, "write"):
        connection.client().put_object(
            Bucket=connection.bucket, Key=key, Body=body, ContentType="application/json"
        )


def parse(step: str, fields: Mapping[str, Any]) -> Note:
    """A stored note (its JSON, ``step`` included or not) as its step's type.

    Raises:
        ValueError: ``step`` writes no note, or the fields are not its note's.
    """
    kind = NOTES.get(Step(step))
    if kind is None:
        raise ValueError(f"step {step!r} writes no note")
    return kind.model_validate(fields)


@dataclass(frozen=True)
class Journal:
    """A run's notes, by step."""

    run_id: str
    notes: dict[Step, Note] = field(default_factory=dict)

    def get(self, kind: type[N]) -> N | None:
        """The note of ``kind``'s step, None when the step noted nothing."""
        found = self.notes.get(kind.step)
        return found if isinstance(found, kind) else None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The notes as JSON values, by step name (the run summary's record)."""
        return {step.value: found.model_dump() for step, found in self.notes.items()}


def read(*, s3_prefix: str, run_id: str, connection: DataConnection | None = None) -> Journal:
    """Every note of the run (none when the run wrote none)."""
    connection = connection or DataConnection.from_env()
    client = connection.client()
    notes: dict[Step, Note] = {}
    prefix = folder(s3_prefix, run_id)
    with _storage_errors(connection, prefix, "read"):
        listed = client.list_objects_v2(Bucket=connection.bucket, Prefix=prefix)
        for entry in listed.get("Contents", []):
            body = read_object(connection, client, entry["Key"], limit=NOTE_LIMIT)
            if body is None:  # removed since the listing
                continue
            record = json.loads(body)
            try:
                found = parse(record.get("step", ""), record)
            except ValueError as exc:  # pydantic's ValidationError is one
                # A note of another version's step or shape: the summary says what it can.
                logger.warning("skipping %s: %s", entry["Key"], first_line(exc))
                continue
            notes[found.step] = found
    return Journal(run_id, notes)
