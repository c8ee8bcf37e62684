"""An evaluation's scores on the ModelVersion it evaluated, as customProperties.

Each score is ``eval_<name>`` (a float); with it the dataset's name and digest, the gate's
verdict, and where the report is, so that the dashboard's version page and a notebook can
compare versions without opening any file. A score that could not be measured (no case of its
kind) is left out: JSON has no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llama_rollout.errors import RegistryError
from llama_rollout.registry.versions import client_errors

if TYPE_CHECKING:
    from model_registry import ModelRegistry

PREFIX = "eval_"


def score_properties(
    metrics: Mapping[str, float],
    *,
    dataset: str,
    dataset_sha256: str,
    passed: bool,
    report_uri: str,
) -> dict[str, Any]:
    """The customProperties that record one evaluation."""
    properties: dict[str, Any] = {
        f"{PREFIX}{name.replace('.', '_')}": float(value)
        for name, value in metrics.items()
        if not math.isnan(value)
    }
    properties |= {
        f"{PREFIX}dataset": dataset,
        f"{PREFIX}dataset_sha256": dataset_sha256,
        f"{PREFIX}passed": passed,
        f"{PREFIX}report_uri": report_uri,
    }
    return properties


def record_scores(
    client: ModelRegistry, model_name: str, version_name: str, properties: Mapping[str, Any]
) -> None:
    """Replace the version's previous ``eval_*`` properties with ``properties``."""
    replace_properties(client, model_name, version_name, PREFIX, properties, "evaluation")


def replace_properties(
    client: ModelRegistry,
    model_name: str,
    version_name: str,
    prefix: str,
    properties: Mapping[str, Any],
    what: str,
) -> None:
    """Replace the version's ``prefix*`` customProperties with ``properties``; the others stay."""
    with client_errors(f"recording the {what} of {model_name} version {version_name}"):
        version = client.get_model_version(model_name, version_name)
        if version is None:
            raise RegistryError(
                f"{model_name} has no version {version_name} to record the {what} on",
                hint="run the register step first; every later step follows it",
            )
        kept = {
            k: v for k, v in (version.custom_properties or {}).items() if not k.startswith(prefix)
        }
        version.custom_properties = {**kept, **properties}
        client.update(version)


def recorded_scores(client: ModelRegistry, model_name: str, version_name: str) -> dict[str, Any]:
    """The ``eval_*`` properties of a version, without the prefix (empty if never evaluated)."""
    with client_errors(f"reading the evaluation of {model_name} version {version_name}"):
        version = client.get_model_version(model_name, version_name)
    properties = (version.custom_properties or {}) if version else {}
    return {k.removeprefix(PREFIX): v for k, v in properties.items() if k.startswith(PREFIX)}
