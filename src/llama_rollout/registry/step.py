"""The registry stage's step: register a complete mirror as a model version, idempotently.

The same code on both targets: the registry is found by name on a cluster, or given by URL.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.registry.endpoint import DEFAULT_REGISTRIES_NAMESPACE, resolve_endpoint
from llama_rollout.registry.versions import Provenance, RegisteredVersion, connect, register_version
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.manifest import read_manifest, split_s3_uri


class RegistrationRequest(BaseModel):
    """What the register step is given: the mirror, the registry, the provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(default="", description="empty: the name the mirror recorded")
    model_uri: str
    data_connection: str = Field(default="", description="empty: DATA_CONNECTION_NAME's")
    registry_url: str = ""
    registry_name: str = ""
    registry_namespace: str = DEFAULT_REGISTRIES_NAMESPACE
    pipeline_run_id: str = ""


def register_step(request: RegistrationRequest) -> RegisteredVersion:
    """Register the mirror at ``model_uri`` (it must have its manifest) as a version.

    Raises:
        IncompleteModelError: the prefix has no manifest.
        RegistryError: the registry refused or is unreachable.
    """
    endpoint = resolve_endpoint(
        registry_url=request.registry_url,
        registry_name=request.registry_name,
        registry_namespace=request.registry_namespace,
    )
    connection = DataConnection.from_env(name=request.data_connection)
    manifest, manifest_sha256 = read_manifest(connection, request.model_uri)
    return register_version(
        connect(endpoint),
        model_name=request.model_name or manifest.model_name,
        model_uri=request.model_uri,
        storage_key=connection.name,
        storage_path=split_s3_uri(request.model_uri)[1].rstrip("/"),
        provenance=Provenance(
            source_uri=manifest.source,
            source_revision=manifest.source_revision,
            manifest_sha256=manifest_sha256,
            pipeline_run_id=request.pipeline_run_id,
            total_bytes=manifest.total_bytes,
            file_count=len(manifest.files),
        ),
    )
