"""Every ServingRuntime and InferenceService the code can produce fits the real KServe CRDs."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from pydantic import ValidationError

from llama_rollout import serving
from tests.crd_schema import validate

BASE = {
    "name": "llama-3-2-3b",
    "namespace": "ai",
    "storage_key": "models-conn",
    "storage_path": "models/llama/abc",
}
MATRIX = {
    "defaults": {},
    "cpu-only-no-tolerations": {"gpu_count": 0, "tolerations": ()},
    "two-gpus-custom-toleration": {
        "gpu_count": 2,
        "tolerations": ({"key": "gpu-node", "operator": "Equal", "value": "a100", "effect": "NoExecute"},),
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
    },
    "auth-on": {"auth": True},
    "auth-off-scaled": {"auth": False, "min_replicas": 0, "max_replicas": 3},
    "storage-uri-with-service-account": {
        "storage_key": "", "storage_path": "", "storage_uri": "s3://models/llama/abc/", "service_account": "models-sa",
    },
    "registry-linked-extra-args": {
        "registered_model_id": "1", "model_version_id": "7", "registry_name": "modelregistry-public",
        "extra_args": ("--enable-prefix-caching", "--max-num-seqs=64"),
    },
    "no-tool-calling": {"enable_auto_tool_choice": False},
}  # fmt: skip


@pytest.mark.parametrize("overrides", MATRIX.values(), ids=MATRIX.keys())
def test_objects_validate_against_the_crds(overrides):
    settings = serving.ServingSettings(**{**BASE, **overrides})
    for obj in serving.serving_objects(settings):
        validate(obj)


def test_validator_catches_unknown_fields_and_bad_enums():
    settings = serving.ServingSettings(**BASE)
    isvc = serving.inference_service(settings)
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["model"]["gpuCount"] = 1
    with pytest.raises(jsonschema.ValidationError, match="gpuCount"):
        validate(bad)
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_inference_service_shape():
    settings = serving.ServingSettings(
        **BASE, registered_model_id="1", model_version_id="7", registry_name="reg"
    )
    isvc = serving.inference_service(settings)
    meta, predictor = isvc["metadata"], isvc["spec"]["predictor"]
    assert meta["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert meta["annotations"]["opendatahub.io/connections"] == "models-conn"
    assert meta["labels"]["modelregistry.opendatahub.io/model-version-id"] == "7"
    model = predictor["model"]
    assert model["storage"] == {"key": "models-conn", "path": "models/llama/abc"}
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert (
        "--tool-call-parser=llama3_json" in model["args"]
        and "--enable-auto-tool-choice" in model["args"]
    )
    assert predictor["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    runtime = serving.serving_runtime(settings)
    assert runtime["spec"]["containers"][0]["args"] == [
        "--port=8080",
        "--model=/mnt/models",
        "--served-model-name={{.Name}}",
    ]
    assert runtime["metadata"]["labels"] == {"opendatahub.io/dashboard": "true"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu_request": "two"}, "not a Kubernetes resource quantity"),
        ({"memory_limit": "16GB"}, "not a Kubernetes resource quantity"),
        ({"gpu_count": -1}, "greater than or equal to 0"),
        ({"name": "Llama_3"}, "not a DNS-1123 label"),
        ({"min_replicas": 2, "max_replicas": 1}, "below min_replicas"),
        ({"storage_uri": "s3://b/p/"}, "either storage_key"),
        ({"storage_path": ""}, "storage_path is required"),
        ({"runtime_image": "quay.io/modh/vllm:latest"}, "pin the image"),
        ({"gpu_memory_utilization": 1.5}, "less than or equal to 1"),
        ({"tolerations": ({"operator": "Maybe"},)}, "Equal"),
    ],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ValidationError, match=message):
        serving.ServingSettings(**{**BASE, **overrides})
