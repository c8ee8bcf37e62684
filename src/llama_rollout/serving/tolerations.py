"""A pod toleration, as Kubernetes checks one: the GPU node taint the predictor tolerates."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from llama_rollout.errors import quoted
from llama_rollout.k8s_types import label_key_problem, label_value_problem

TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")


class TolerationEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(BaseModel):
    """A pod toleration (the GPU node taint is usually ``nvidia.com/gpu:NoSchedule``), checked
    as Kubernetes checks one (k8s.io/kubernetes validation: ValidateTolerations)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"  # Kubernetes' default
    value: str | None = None
    effect: TolerationEffect | None = None
    toleration_seconds: StrictInt | None = Field(
        default=None, alias="tolerationSeconds", ge=0, le=2**63 - 1
    )

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        # Named here, quoted short: pydantic's own error would put the whole key in its path.
        if isinstance(data, dict):
            for field in data:
                if field not in TOLERATION_FIELDS and field not in cls.model_fields:
                    raise ValueError(
                        f"{quoted(field, 40)} is not a toleration field: a toleration has "
                        f"{', '.join(TOLERATION_FIELDS)}"
                    )
            # Empty is Kubernetes' default: operator Equal, and every effect.
            data = {k: v for k, v in data.items() if not (k in ("operator", "effect") and v == "")}
        return data

    @model_validator(mode="after")
    def _as_kubernetes_checks_it(self) -> Toleration:
        if self.key and (problem := label_key_problem(self.key)):
            raise ValueError(f"key {problem}: give the taint's key, e.g. nvidia.com/gpu")
        if not self.key and self.operator != "Exists":
            raise ValueError(
                "a toleration without a key matches every taint, so its operator must be Exists"
            )
        if self.operator == "Exists" and self.value:
            raise ValueError(
                "a toleration with operator Exists cannot have a value: drop the value, or use "
                "operator Equal"
            )
        if self.operator == "Equal" and (problem := label_value_problem(self.value or "")):
            raise ValueError(f"value {problem}: give the taint's value")
        if self.toleration_seconds is not None and self.effect is not TolerationEffect.NO_EXECUTE:
            raise ValueError(
                "tolerationSeconds is only for effect NoExecute (how long a pod stays on a node "
                "that gets the taint): set effect NoExecute, or leave tolerationSeconds out"
            )
        return self

    def manifest(self) -> dict[str, str | int]:
        return {
            k: v if isinstance(v, int) else str(v)
            for k, v in self.model_dump(exclude_none=True, by_alias=True).items()
        }
