"""Record mirrored models in the Kubeflow Model Registry, through the official client.

A mirrored model becomes RegisteredModel -> ModelVersion -> ModelArtifact. The artifact points
at the S3 prefix (``uri``, ``storage_key`` = the data connection, ``storage_path``) with format
``vLLM``, so the OpenShift AI dashboard can deploy it as is. Provenance (source URI, revision,
manifest digest, pipeline run) is kept as customProperties of the version.

Registration is idempotent: a version is found by its source revision, so re-registering the
same revision returns the existing ids and a new revision makes a new version.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from llama_rollout.bounds import REGISTRY
from llama_rollout.errors import RegistryError, first_line
from llama_rollout.registry.endpoint import RegistryEndpoint
from llama_rollout.registry.request import RegisteredVersion

if TYPE_CHECKING:
    from model_registry import ModelRegistry
    from model_registry.types import ModelVersion

logger = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_FORMAT = "vLLM"
MODEL_FORMAT_VERSION = "1"
REVISION_PROPERTY = "source_revision"
VERSION_NAME_LENGTH = 12
# Two runs registering at once: the loser's create answers 409, and it reads the winner's back.
CONFLICT_ATTEMPTS = 5
CONFLICT_PAUSE = 0.2


@dataclass(frozen=True)
class Provenance:
    """Where a model version came from; stored as customProperties of the version."""

    source_uri: str
    source_revision: str
    manifest_sha256: str
    pipeline_run_id: str = ""
    total_bytes: int = 0
    file_count: int = 0

    def as_metadata(self) -> dict[str, str | int]:
        metadata: dict[str, str | int] = {
            "source_uri": self.source_uri,
            REVISION_PROPERTY: self.source_revision,
            "manifest_sha256": self.manifest_sha256,
            "model_size_bytes": self.total_bytes,
            "file_count": self.file_count,
        }
        if self.pipeline_run_id:
            metadata["pipeline_run_id"] = self.pipeline_run_id
        return metadata


def connect(endpoint: RegistryEndpoint, *, author: str = "llama-rollout") -> ModelRegistry:
    """Connect to a Model Registry with the official client.

    Args:
        endpoint: where the registry is, with the token and CAs for an HTTPS one
            (see :mod:`llama_rollout.registry.endpoint`).
        author: recorded as the author of new versions.

    Raises:
        RegistryError: the registry cannot be reached or refused the connection.
    """
    from model_registry import ModelRegistry

    class TokenOnlyWhereGiven(ModelRegistry):  # type: ignore[misc]
        # Given no token, the official client reads the pod's service-account token itself
        # and sends it to plain-HTTP registries too.
        @staticmethod
        def _get_user_token(user_token_envvar: str | None = None) -> str | None:
            return None

    with (
        client_errors(f"connecting to the Model Registry at {endpoint.url}"),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="User access token is missing")
        return TokenOnlyWhereGiven(
            endpoint.url,
            author=author,
            user_token=endpoint.token if endpoint.secure else None,
            custom_ca=endpoint.ca_bundle,
            log_level=logging.ERROR,
            async_runner=bounded_runner(REGISTRY.read),
        )


def bounded_runner(seconds: float) -> Callable[[Coroutine[Any, Any, T]], T]:
    """The client's async runner, with every call bounded: its aiohttp session would wait five
    minutes for a registry that accepts the connection and never answers."""
    import nest_asyncio2

    nest_asyncio2.apply()  # as the client's own runner does: notebooks have a running loop

    def run(coro: Coroutine[Any, Any, T]) -> T:
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        return loop.run_until_complete(asyncio.wait_for(coro, seconds))

    return run


def register_version(
    client: ModelRegistry,
    *,
    model_name: str,
    model_uri: str,
    storage_key: str,
    storage_path: str,
    provenance: Provenance,
    description: str = "",
) -> RegisteredVersion:
    """Register one mirrored revision, or return its existing version.

    Args:
        client: a connected registry client.
        model_name: the RegisteredModel name.
        model_uri: ``s3://BUCKET/PREFIX/`` of the mirrored model.
        storage_key: the data connection (Secret) name KServe reads the model with.
        storage_path: the path inside the bucket.
        provenance: where the weights came from.
        description: the version's description.

    Returns:
        The ids, with ``created`` False when the revision was already registered.
    """
    artifact = {
        "model_format_name": MODEL_FORMAT,
        "model_format_version": MODEL_FORMAT_VERSION,
        "storage_key": storage_key,
        "storage_path": storage_path,
        "model_source_kind": "kfp",
        "model_source_class": "pipelinerun",
        "model_source_id": provenance.pipeline_run_id or None,
        "model_source_name": provenance.source_uri,
    }
    revision = provenance.source_revision
    version_name = revision[:VERSION_NAME_LENGTH]
    with client_errors(f"registering {model_name}"):
        for attempt in range(CONFLICT_ATTEMPTS):
            existing = version_by_revision(client, model_name, revision)
            if existing is not None:
                logger.info(
                    "model %s revision %s is already registered as version %s (id %s)",
                    model_name,
                    revision,
                    existing.name,
                    existing.id,
                )
                return _complete(client, model_name, existing, model_uri, artifact)
            _refuse_a_foreign_version(client, model_name, version_name, revision)
            try:
                client.register_model(
                    model_name,
                    model_uri,
                    version=version_name,
                    version_description=description
                    or f"{provenance.source_uri} mirrored to {model_uri}",
                    metadata=provenance.as_metadata(),
                    **artifact,
                )
            except Exception as exc:
                if not _is_conflict(exc):
                    raise
                # Another run created the model or this version between the lookup and the
                # create: read back what it made.
                logger.info(
                    "%s was registered by another run at the same time: reading it back", model_name
                )
                time.sleep(CONFLICT_PAUSE * (attempt + 1))
                continue
            version = client.get_model_version(model_name, version_name)
            if version is None:
                raise RegistryError(
                    f"the registry lost {model_name} version {version_name} right after creating it"
                )
            logger.info(
                "registered %s version %s (id %s) -> %s",
                model_name,
                version_name,
                version.id,
                model_uri,
            )
            return _ids(client, model_name, version, created=True)
    raise RegistryError(
        f"registering {model_name}: the registry answered 409 Conflict {CONFLICT_ATTEMPTS} times "
        "and the version it conflicts with never appeared",
        hint="check the registry's log; another client may be creating and archiving it",
    )


def _complete(
    client: ModelRegistry,
    model_name: str,
    version: ModelVersion,
    model_uri: str,
    artifact: dict[str, Any],
) -> RegisteredVersion:
    """The ids of an existing version, after adding the artifact a stopped run left out."""
    if client.get_model_artifact(model_name, version.name) is None:
        # The client has no public call for an artifact of an existing version.
        logger.info("version %s has no artifact yet: adding it", version.name)
        client.async_runner(
            client._register_model_artifact(version, model_name, model_uri, **artifact)
        )
    return _ids(client, model_name, version, created=False)


def _refuse_a_foreign_version(
    client: ModelRegistry, model_name: str, version_name: str, revision: str
) -> None:
    """A version with this run's name but another (or no) source revision was not made by
    this pipeline for this revision: it is never reused, and never silently worked around."""
    if client.get_registered_model(model_name) is None:
        return
    taken = client.get_model_version(model_name, version_name)
    if taken is None or _revision_of(taken) == revision:  # absent, or made by a run racing us
        return
    recorded = _revision_of(taken)
    raise RegistryError(
        f"{model_name} already has a version {version_name!r} (id {taken.id}) that this pipeline "
        f"did not register for revision {revision}: its {REVISION_PROPERTY} is "
        + (repr(recorded) if recorded else "not set"),
        hint=f"register under another model name (--model-name or the model_name parameter, "
        f"e.g. {model_name}-2); version names cannot change, so look at version {taken.id} "
        f"under Model registry > {model_name} in the dashboard before reusing this name",
    )


def _is_conflict(exc: Exception) -> bool:
    """The registry (409) or the client (it checks names first) said the object exists."""
    from model_registry.exceptions import StoreError
    from mr_openapi.exceptions import ApiException

    if isinstance(exc, ApiException):
        return exc.status == 409
    return isinstance(exc, StoreError) and "already exists" in str(exc)


@contextmanager
def client_errors(what: str) -> Iterator[None]:
    """The official client's failures as RegistryErrors; anything else (a bug, a client
    upgrade that changed an API) stays what it is."""
    import aiohttp
    from model_registry.exceptions import StoreError
    from mr_openapi.exceptions import ApiException
    from pydantic import ValidationError

    try:
        yield
    except ApiException as exc:
        raise RegistryError(
            f"{what}: the Model Registry answered {exc.status} {exc.reason}: {first_line(exc)}"
        ) from exc
    except StoreError as exc:
        raise RegistryError(f"{what}: {first_line(exc)}") from exc
    except TimeoutError as exc:
        raise RegistryError(
            f"{what}: the Model Registry did not answer within {REGISTRY.read:.0f}s",
            hint="check the registry's URL and that it is running",
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise RegistryError(
            f"{what}: the Model Registry is unreachable ({type(exc).__name__}: {first_line(exc)})",
            hint="check the registry's URL and that it is running",
        ) from exc
    except ValidationError as exc:  # the client could not read the answer as the API's
        raise RegistryError(
            f"{what}: the answer is not the Model Registry API's ({first_line(exc)})",
            hint="give the registry's REST URL (registry_url), or its name (registry_name)",
        ) from exc


def version_by_revision(
    client: ModelRegistry, model_name: str, revision: str
) -> ModelVersion | None:
    """The version of ``model_name`` registered for a source revision, if any."""
    if client.get_registered_model(model_name) is None:
        return None
    candidate = client.get_model_version(model_name, revision[:VERSION_NAME_LENGTH])
    if candidate is not None and _revision_of(candidate) == revision:
        return candidate
    for version in client.get_model_versions(model_name):
        if _revision_of(version) == revision:
            return version
    return None


def latest_version(client: ModelRegistry, model_name: str) -> ModelVersion | None:
    """The most recently created version of ``model_name``, or None."""
    if client.get_registered_model(model_name) is None:
        return None
    pager = client.get_model_versions(model_name).order_by_creation_time().descending()
    return next(iter(pager), None)


def _revision_of(version: ModelVersion) -> Any:
    return (version.custom_properties or {}).get(REVISION_PROPERTY)


def _ids(
    client: ModelRegistry, model_name: str, version: ModelVersion, *, created: bool
) -> RegisteredVersion:
    artifact = client.get_model_artifact(model_name, version.name)
    if artifact is None:
        raise RegistryError(f"{model_name} version {version.name} has no model artifact")
    return RegisteredVersion(
        registered_model_id=str(version.registered_model_id),
        model_version_id=str(version.id),
        model_version_name=version.name,
        model_artifact_id=str(artifact.id),
        created=created,
    )
