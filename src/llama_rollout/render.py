"""Every Kubernetes object the pipeline would apply on the cluster, without a cluster.

For review, and for teams that deploy through GitOps: ``llama-rollout render --set KEY=VALUE``
prints them as one YAML stream. Defaults match the pipeline's parameters; the mirrored model's
location (``storage_path``, the revision folder the mirror step reports) is usually the one
value to set.
"""

from __future__ import annotations

from typing import Any

import yaml

from llama_rollout import serving
from llama_rollout.errors import ConfigurationError

DEFAULTS: dict[str, Any] = {
    "name": "smollm2-135m-instruct",
    "namespace": "llama-rollout",
    "storage_key": "llama-rollout-models",
    "storage_path": "models/smollm2-135m-instruct",
}


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["gpu_count=2", "tolerations=[]"]`` -> typed values for the serving settings.

    Values of text settings stay text; the others are read as YAML (numbers, booleans, lists,
    objects).
    """
    fields = serving.ServingSettings.model_fields
    values: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(f"--set {item!r} is not KEY=VALUE")
        if key not in fields:
            raise ConfigurationError(
                f"unknown setting {key!r}", hint=f"known settings: {', '.join(sorted(fields))}"
            )
        if fields[key].annotation is str:
            values[key] = raw
        else:
            try:
                values[key] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigurationError(f"--set {key}: {raw!r} is not a value ({exc})") from exc
    return values


def render(assignments: list[str]) -> str:
    """The YAML stream of every object, for the settings ``DEFAULTS`` + ``assignments``."""
    settings = serving.settings_from(**{**DEFAULTS, **parse_assignments(assignments)})
    objects = serving.serving_objects(settings)
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)


__all__ = ["DEFAULTS", "parse_assignments", "render"]
