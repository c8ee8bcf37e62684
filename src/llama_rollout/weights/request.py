"""The weights stage's requests: the resolve and mirror steps' parameters, declared once, and
the resolve step's result (the mirror's, ``MirroredModel``, is the mirror's own, in ``plan``).

Each field is a parameter of the step's component, and (unless an earlier step gives it) of
the pipeline, under the pipeline's name where it differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from llama_rollout.publish.request import LightspeedProvider
from llama_rollout.registry.endpoint import RegistryReference
from llama_rollout.step_parameters import parameter
from llama_rollout.targets import DeployNamespace
from llama_rollout.weights.model_files import SourceFile


class ResolveRequest(BaseModel):
    """The resolve step: the source to pin, and the live version to compare it with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_uri: str = parameter(
        "hf://meta-llama/Llama-3.2-3B-Instruct",
        description="``hf://ORG/REPO[@REVISION]`` or ``file:///PATH``.",
    )
    model_name: str = parameter(
        "", description="registered model name; empty to derive it from the repository name."
    )
    force: bool = parameter(
        False,
        description="run every step even when the source's revision is live, served and published.",
    )
    provider: LightspeedProvider
    namespace: DeployNamespace
    registry: RegistryReference = Field(default_factory=RegistryReference)


class MirrorRequest(BaseModel):
    """The mirror step: the pinned source, and the model's folder under the run's prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pinned_uri: str = parameter(
        description="the source at its resolved revision (from ``resolve_source``)."
    )
    model_name: str = parameter(description="the model's folder under ``s3_prefix``.")


class HubAccess(BaseModel):
    """What the pipeline mounts into the steps that read the hub: not a step's parameter, the
    name of the Secret whose ``HF_TOKEN`` they get."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hf_token_secret: str = parameter(
        "hf-token",
        description="name of a Secret with key ``HF_TOKEN`` (may be empty for public repos).",
    )


@dataclass(frozen=True)
class ResolvedModel:
    """A source pinned to a revision, and the name the model goes by everywhere."""

    pinned_uri: str
    revision: str
    model_name: str
    files: tuple[SourceFile, ...]
    skipped: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def file_count(self) -> int:
        return len(self.files)
