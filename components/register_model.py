"""Step 3: record the mirrored model in the Kubeflow Model Registry."""

from typing import NamedTuple

from components import step_component


@step_component("llama_rollout.registry.request:RegistrationRequest")
def register_model(
    model_uri: str,
    model_name: str = "",
    pipeline_run_id: str = "",
    s3_prefix: str = "models",
    data_connection: str = "llama-rollout-models",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
) -> NamedTuple(
    "RegisteredVersion",
    registered_model_id=str,
    model_version_id=str,
    model_version_name=str,
    model_artifact_id=str,
):
    """Register the model version of a complete mirror (one with a manifest); idempotent.

    Returns:
        registered_model_id, model_version_id, model_version_name, model_artifact_id.
    """
    arguments = dict(locals())  # first: exactly the arguments
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.registry.request import RegistrationRequest
    from llama_rollout.registry.step import register
    from llama_rollout.step_parameters import request_from

    configure_step_logging()
    registered = register(request_from(RegistrationRequest, arguments))
    journal.note(
        journal.RegisterModelNote(
            model_name=model_name,
            model_version_name=registered.model_version_name,
            model_version_id=registered.model_version_id,
            registered_model_id=registered.registered_model_id,
        ),
        s3_prefix=s3_prefix,
        run_id=pipeline_run_id,
    )
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
