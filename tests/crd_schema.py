"""Validate objects against the real CRDs' structural schemas, as the API server would
(``llama_rollout.kube.schemas``), with the CRDs kept in tests/data."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from llama_rollout.kube.schemas import load_crd, structural_validator

CRDS = Path(__file__).resolve().parent / "data" / "crds"


@functools.cache
def validator_for(api_version: str, kind: str) -> Any:
    group, version = api_version.split("/")
    for path in sorted(CRDS.glob("*.yaml")):
        crd = load_crd(path)
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            return structural_validator(crd, version)
    raise LookupError(f"no CRD for {kind} {api_version} in {CRDS}")


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``obj`` does not fit its CRD."""
    validator_for(obj["apiVersion"], obj["kind"]).validate(obj)
