"""What was published to Lightspeed, on the ModelVersion published, as customProperties.

Each property is ``lightspeed_<name>``: the provider, its URL and model, the serving endpoint
and InferenceService behind it, the run and the time, and ``lightspeed_state``: ``published``
while the version is the one Lightspeed uses, ``retired`` once a newer version took its place.
The version whose state is ``published`` is the live one: a scheduled run compares the
source's revision with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llama_rollout.journal import (
    DeployLlamaStackNote,
    DeployModelServerNote,
    MirrorWeightsNote,
    Note,
    RegisterModelNote,
    Step,
)
from llama_rollout.registry.scores import replace_properties
from llama_rollout.registry.versions import REVISION_PROPERTY, client_errors

if TYPE_CHECKING:
    from model_registry import ModelRegistry

PREFIX = "lightspeed_"
PUBLISHED = "published"
RETIRED = "retired"  # replaced in OLSConfig, still serving (kept for a rollback by hand)
REMOVED = "removed"  # replaced, and its InferenceService and Llama Stack deleted


@dataclass(frozen=True)
class PublicationRecord:
    """One publication, as recorded on its version."""

    provider: str
    url: str
    model: str
    serving_name: str  # the InferenceService (or local server) behind it
    stack_name: str
    run_id: str
    state: str = PUBLISHED
    published_at: str = ""
    # Where the version serves, whichever endpoint Lightspeed was given: a run that finds it
    # live reports these without deploying anything (empty in records written before them).
    serving_url: str = ""
    serving_model: str = ""
    llama_stack_url: str = ""
    llama_stack_model_id: str = ""

    def as_properties(self) -> dict[str, Any]:
        at = self.published_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            f"{PREFIX}provider": self.provider,
            f"{PREFIX}url": self.url,
            f"{PREFIX}model": self.model,
            f"{PREFIX}serving_name": self.serving_name,
            f"{PREFIX}stack_name": self.stack_name,
            f"{PREFIX}run_id": self.run_id,
            f"{PREFIX}state": self.state,
            f"{PREFIX}published_at": at,
            f"{PREFIX}serving_url": self.serving_url,
            f"{PREFIX}serving_model": self.serving_model,
            f"{PREFIX}llama_stack_url": self.llama_stack_url,
            f"{PREFIX}llama_stack_model_id": self.llama_stack_model_id,
        }

    @classmethod
    def of(cls, properties: dict[str, Any]) -> PublicationRecord | None:
        fields = {k.removeprefix(PREFIX): v for k, v in properties.items() if k.startswith(PREFIX)}
        if not fields.get("state"):
            return None
        return cls(**{name: str(fields.get(name, "")) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LiveVersion:
    """The version Lightspeed uses: its name, source revision and publication."""

    name: str
    revision: str
    record: PublicationRecord


def record_publication(
    client: ModelRegistry, model_name: str, version_name: str, record: PublicationRecord
) -> None:
    """Record ``record`` on the version (replacing an earlier publication's properties)."""
    replace_properties(
        client, model_name, version_name, PREFIX, record.as_properties(), "publication"
    )


def published_versions(client: ModelRegistry, model_name: str) -> list[LiveVersion]:
    """Every version with a publication record, newest publication first."""
    with client_errors(f"reading the publications of {model_name}"):
        if client.get_registered_model(model_name) is None:
            return []
        found = []
        for version in client.get_model_versions(model_name):
            properties = version.custom_properties or {}
            if record := PublicationRecord.of(properties):
                revision = str(properties.get(REVISION_PROPERTY, ""))
                found.append(LiveVersion(version.name, revision, record))
    return sorted(found, key=lambda v: v.record.published_at, reverse=True)


def live_version(client: ModelRegistry, model_name: str) -> LiveVersion | None:
    """The version whose publication is current, or None when none was ever published."""
    return next(
        (v for v in published_versions(client, model_name) if v.record.state == PUBLISHED), None
    )


def live_details(client: ModelRegistry, model_name: str) -> dict[Step, Note]:
    """Where the live version is, for a run that skipped its steps: what the mirror, register,
    serving and Llama Stack steps would have noted, read back from the registry (empty when
    no version is live). The notes are partial: the registry records no more of them."""
    live = live_version(client, model_name)
    if live is None:
        return {}
    with client_errors(f"reading the live version of {model_name}"):
        model = client.get_registered_model(model_name)
        version = client.get_model_version(model_name, live.name)
        artifact = client.get_model_artifact(model_name, live.name)
    record = live.record
    notes: list[Note] = [
        MirrorWeightsNote(model_uri=getattr(artifact, "uri", "") or ""),
        RegisterModelNote(
            registered_model_id=getattr(model, "id", "") or "",
            model_version_id=getattr(version, "id", "") or "",
            model_version_name=live.name,
        ),
        DeployModelServerNote(serving_url=record.serving_url, serving_model=record.serving_model),
        DeployLlamaStackNote(url=record.llama_stack_url, model_id=record.llama_stack_model_id),
    ]
    return {note.step: note for note in notes}


def mark(client: ModelRegistry, model_name: str, version: LiveVersion, state: str) -> None:
    """Change a version's publication state (``RETIRED``, ``REMOVED``), keeping the rest."""
    record = PublicationRecord(**{**version.record.__dict__, "state": state})
    record_publication(client, model_name, version.name, record)
