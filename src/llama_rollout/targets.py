"""Where a stage runs: on OpenShift AI (the product), or on the embedded stack of one laptop."""

from __future__ import annotations

from enum import StrEnum

from llama_rollout.errors import ConfigurationError


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
