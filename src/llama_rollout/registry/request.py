"""The registry stage's request and result: the register step's parameters, declared once,
and the ids of the version it registered."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.registry.endpoint import RegistryReference
from llama_rollout.step_parameters import parameter
from llama_rollout.weights.connection import DataConnectionName


class RegistrationRequest(BaseModel):
    """What the register step is given: the mirror, the registry, the provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the earlier steps.
    model_name: str = parameter(
        "", description="the RegisteredModel name; empty for the name the mirror recorded."
    )
    model_uri: str = parameter(description="``s3://BUCKET/PREFIX/`` from ``mirror_weights``.")
    pipeline_run_id: str = parameter(
        "", description="recorded as provenance, and the run of the journal."
    )
    # The pipeline's (empty: the environment's DATA_CONNECTION_NAME, for the CLI).
    data_connection: DataConnectionName
    registry: RegistryReference = Field(default_factory=RegistryReference)


@dataclass(frozen=True)
class RegisteredVersion:
    """The registry ids of one model version."""

    registered_model_id: str
    model_version_id: str
    model_version_name: str
    model_artifact_id: str
    created: bool
