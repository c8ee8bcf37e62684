"""Validate objects against the real CRDs' structural schemas, as the API server would.

The openAPIV3Schema of a CRD becomes a JSON Schema in which every object with ``properties``
rejects unknown fields (unless it preserves them), and ``x-kubernetes-int-or-string`` admits
both types; jsonschema then checks types, required fields and enums.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parent / "data" / "crds"


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _structural(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _crds() -> list[dict[str, Any]]:
    return [yaml.load(path.read_text(), Loader=_Loader) for path in sorted(CRDS.glob("*.yaml"))]


@functools.cache
def validator_for(api_version: str, kind: str) -> jsonschema.Validator:
    group, version = api_version.split("/")
    for crd in _crds():
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for v in crd["spec"]["versions"]:
                if v["name"] == version and v.get("served", True):
                    schema = _structural(v["schema"]["openAPIV3Schema"])
                    # metadata is validated by the API server itself, not by the CRD schema
                    schema["properties"]["metadata"] = {"type": "object"}
                    return jsonschema.Draft7Validator(schema)
    raise LookupError(f"no CRD for {kind} {api_version} in {CRDS}")


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``obj`` does not fit its CRD."""
    validator_for(obj["apiVersion"], obj["kind"]).validate(obj)
