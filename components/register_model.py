"""Step 3: record the mirrored model in the Kubeflow Model Registry."""

from typing import NamedTuple

from components import runtime_component


@runtime_component
def register_model(
    model_name: str,
    model_uri: str,
    registry_url: str,
    registry_name: str,
    registry_namespace: str,
    data_connection: str,
    pipeline_run_id: str,
    s3_prefix: str,
) -> NamedTuple(
    "RegisteredVersion",
    registered_model_id=str,
    model_version_id=str,
    model_version_name=str,
    model_artifact_id=str,
):
    """Register the model version of a complete mirror (one with a manifest); idempotent.

    Args:
        model_name: the RegisteredModel name.
        model_uri: ``s3://BUCKET/PREFIX/`` from ``mirror_weights``.
        registry_url: the registry's REST URL, ``http(s)://HOST[:PORT]``; empty to find the
            registry named ``registry_name`` on the cluster.
        registry_name: the registry's name as the dashboard shows it (its ModelRegistry).
        registry_namespace: where the ModelRegistry lives (``rhoai-model-registries``).
        data_connection: the data connection Secret name, recorded as ``storage_key``.
        pipeline_run_id: recorded as provenance, and the run of the journal.
        s3_prefix: the models' folder in the bucket (the run's journal is under it).

    Returns:
        registered_model_id, model_version_id, model_version_name, model_artifact_id.
    """
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.registry.step import RegistrationRequest, register_step

    configure_step_logging()
    registered = register_step(
        RegistrationRequest(
            model_name=model_name, model_uri=model_uri, data_connection=data_connection,
            registry_url=registry_url, registry_name=registry_name,
            registry_namespace=registry_namespace, pipeline_run_id=pipeline_run_id,
        )
    )  # fmt: skip
    journal.note(journal.Step.REGISTER_MODEL, journal.RegisterModelNote(
        model_name=model_name, model_version_name=registered.model_version_name,
        model_version_id=registered.model_version_id,
        registered_model_id=registered.registered_model_id),
        s3_prefix=s3_prefix, run_id=pipeline_run_id)  # fmt: skip
    outputs = namedtuple(
        "RegisteredVersion",
        ["registered_model_id", "model_version_id", "model_version_name", "model_artifact_id"],
    )
    return outputs(
        registered.registered_model_id,
        registered.model_version_id,
        registered.model_version_name,
        registered.model_artifact_id,
    )
