"""The registry stage's step: register a complete mirror as a model version, idempotently.

The same code on both targets: the registry is found by name on a cluster, or given by URL.
"""

from __future__ import annotations

from llama_rollout.registry.request import RegisteredVersion, RegistrationRequest
from llama_rollout.registry.versions import Provenance, connect, register_version
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.manifest import read_manifest, split_s3_uri


def register(request: RegistrationRequest) -> RegisteredVersion:
    """Register the mirror at ``model_uri`` (it must have its manifest) as a version.

    Raises:
        IncompleteModelError: the prefix has no manifest.
        RegistryError: the registry refused or is unreachable.
    """
    endpoint = request.registry.endpoint()
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
