"""A CRD's structural schema as the API server enforces it, for objects no server will see.

The embedded target has no API server, yet what it writes must be what a cluster would take:
the openAPIV3Schema becomes a JSON Schema in which every object with ``properties`` rejects
unknown fields (unless it preserves them), and ``x-kubernetes-int-or-string`` admits both
types; jsonschema then checks types, required fields, enums, patterns and bounds. Not checked:
the CEL rules (``x-kubernetes-validations``), which need a CEL interpreter, and
``metadata``, which the API server validates itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from llama_rollout.errors import ConfigurationError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


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


def load_crd(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    return cast("dict[str, Any]", document)  # a CRD file holds one mapping


def structural_validator(crd: dict[str, Any], version: str) -> Validator:
    """A jsonschema validator for ``version`` of ``crd``, as strict as the API server."""
    import jsonschema

    for served in crd["spec"]["versions"]:
        if served["name"] == version and served.get("served", True):
            schema = _structural(served["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}
            return jsonschema.Draft7Validator(schema)
    raise LookupError(f"CRD {crd['metadata']['name']} serves no version {version}")


def check_against(crd: dict[str, Any], obj: dict[str, Any]) -> None:
    """Raise a ConfigurationError listing every way ``obj`` breaks its CRD's schema."""
    validator = structural_validator(crd, obj["apiVersion"].rpartition("/")[2])
    problems = sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(obj)
    )
    if problems:
        raise ConfigurationError(
            f"{obj['kind']} {obj['metadata'].get('name', '')} does not fit the CRD "
            f"{crd['metadata']['name']}: {'; '.join(problems[:5])}",
            hint="an API server would refuse it the same way; fix the fields named",
        )
