"""An evaluation's scores on its ModelVersion, through the official client and the registry."""

from __future__ import annotations

import math

import pytest

from llama_rollout import registry
from llama_rollout.errors import RegistryError
from llama_rollout.registry.scores import record_scores, recorded_scores, score_properties
from tests.integration.registry.test_versions import register

pytestmark = pytest.mark.integration


def test_scores_are_recorded_and_a_new_evaluation_replaces_the_old(registry_url):
    client = registry.connect(registry.endpoint_for(registry_url))
    ids = register(client, "4" * 40)
    first = score_properties(
        {"task_success": 0.5, "tool.unhealthy_pods.arguments": 1.0, "greeting_accuracy": math.nan},
        dataset="cluster-health", dataset_sha256="d" * 64, passed=False,
        report_uri="s3://models/m/r/evals/1/report.html",
    )  # fmt: skip
    record_scores(client, "llama-small", ids.model_version_name, first)
    scores = recorded_scores(client, "llama-small", ids.model_version_name)
    assert scores == {
        "task_success": 0.5,
        "tool_unhealthy_pods_arguments": 1.0,
        "dataset": "cluster-health",
        "dataset_sha256": "d" * 64,
        "passed": False,
        "report_uri": "s3://models/m/r/evals/1/report.html",
    }, "a score that could not be measured is left out"
    version = client.get_model_version("llama-small", ids.model_version_name)
    assert version.custom_properties["source_revision"] == "4" * 40, "provenance is kept"

    second = score_properties({"argument_accuracy": 0.9}, dataset="other", dataset_sha256="e" * 64,
                              passed=True, report_uri="")  # fmt: skip
    record_scores(client, "llama-small", ids.model_version_name, second)
    scores = recorded_scores(client, "llama-small", ids.model_version_name)
    assert "task_success" not in scores and scores["argument_accuracy"] == 0.9
    assert scores["passed"] is True


def test_scores_for_a_version_that_is_not_there_are_refused(registry_url):
    client = registry.connect(registry.endpoint_for(registry_url))
    register(client, "3" * 40)
    with pytest.raises(RegistryError, match=r"llama-small has no version nope .* register step"):
        record_scores(client, "llama-small", "nope", {"eval_passed": True})
