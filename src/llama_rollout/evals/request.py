"""The evaluation stage's request and result: the step's parameters, declared once.

Each field is a parameter of the ``evaluate`` component, and (unless an earlier step gives it)
of the pipeline, under the pipeline's name where it differs; the harness's, the gate's and
lm-eval's settings declare theirs beside their fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llama_rollout.evals.gate import Thresholds
from llama_rollout.evals.harness import HarnessSettings
from llama_rollout.evals.quality import QualitySettings
from llama_rollout.model_access import EnableAuth
from llama_rollout.registry.endpoint import RegistryReference
from llama_rollout.stack.request import McpTokenSecret, McpUrl
from llama_rollout.step_parameters import parameter
from llama_rollout.targets import DeployNamespace
from llama_rollout.weights.connection import DataConnectionName


class Recording(BaseModel):
    """Where the evaluation is recorded besides the step's own files: beside the model in S3,
    and on its ModelVersion in the registry. Empty fields record nothing there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_uri: str = parameter("", description="the evaluated mirror (``s3://BUCKET/PREFIX/``).")
    run_id: str = parameter(
        "", description="the pipeline run: the files' folder, and the journal's."
    )
    data_connection: DataConnectionName
    model_name: str = parameter("", description="the RegisteredModel the scores go on.")
    model_version_name: str = parameter("", description="the ModelVersion the scores go on.")
    registry: RegistryReference = Field(default_factory=RegistryReference)


class EvaluationRequest(BaseModel):
    """What the evaluate step is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the earlier steps.
    llama_stack_url: str = parameter(description="Llama Stack's base URL, without /v1.")
    model_id: str = parameter(description="the Llama Stack model id, e.g. vllm/llama-3-2-3b.")
    serving_url: str = parameter("", description="vLLM's OpenAI-compatible /v1 (for lm-eval).")
    serving_model: str = parameter("", description="the served model name (for lm-eval).")
    caller: str = parameter(
        "",
        description="the principal Llama Stack knows this run's steps by (from "
        "``deploy_llama_stack``): what its audit trail names as the evaluation's caller.",
    )
    # The pipeline's.
    mcp_url: McpUrl
    mcp_token_secret: McpTokenSecret
    namespace: DeployNamespace  # where the MCP token's Secret is
    dataset: str = parameter(
        "cluster-health",
        pipeline="eval_dataset",
        description="the evaluation dataset: ``cluster-health`` (the bundled snapshot's facts), "
        "``cluster-health-live`` (grounded answers, for live clusters), or a YAML file in the "
        "image.",
    )
    cases: tuple[str, ...] = parameter(
        (), pipeline="eval_cases", description="a subset of the dataset's case ids; empty for all."
    )
    harness: HarnessSettings = HarnessSettings()
    thresholds: Thresholds = Thresholds()
    # lm-eval's general quality, straight against vLLM; off unless tasks are named.
    quality: QualitySettings = QualitySettings(tasks=())
    # vLLM's token auth: lm-eval then calls it with the step's service-account token.
    serving_auth: EnableAuth
    # pydantic's mypy plugin takes a field whose default is in Annotated for a required one.
    recording: Recording = Field(default_factory=Recording)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _quality_has_a_server(self) -> EvaluationRequest:
        if self.quality.tasks and not (self.serving_url and self.serving_model):
            raise ValueError("lm-eval tasks are named but no serving_url and serving_model")
        return self


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation found, and where its files are."""

    passed: bool
    metrics: dict[str, float]
    missed: tuple[str, ...]
    dataset: str
    dataset_sha256: str
    files: dict[str, Path] = field(default_factory=dict)  # results, report, summary
    uris: dict[str, str] = field(default_factory=dict)  # the same files in S3, when recorded
