"""Where a stage runs: on OpenShift AI (the product), or on the embedded stack of one laptop."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from llama_rollout.errors import ConfigurationError
from llama_rollout.step_parameters import parameter

# The data science project a stage deploys in (its objects, and where it finds the others').
DeployNamespace = Annotated[
    str,
    parameter(
        "self-healing-platform",
        pipeline="namespace",
        description="where to serve; empty for the pipeline's own namespace.",
    ),
]


class Target(StrEnum):
    OPENSHIFT = "openshift"
    LOCAL = "local"

    @classmethod
    def parse(cls, value: str) -> Target:
        """The target named ``value``, or a ConfigurationError that lists the targets."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise ConfigurationError(
                f"unknown target {value!r}", hint=f"use one of {names}"
            ) from None
