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
    assert meta["labels"]["opendatahub.io/genai-asset"] == "true"


def test_one_runtime_per_deployment_named_after_it_with_the_dashboard_annotations():
    # Deleting a deployment in the dashboard deletes the runtime it names: a shared one would
    # take every other model down with it.
    first = serving.ServingSettings(**BASE)
    second = serving.ServingSettings(**{**BASE, "name": "llama-3-3-70b"})
    for settings in (first, second):
        runtime, isvc = serving.serving_objects(settings)
        assert runtime["metadata"]["name"] == isvc["metadata"]["name"] == settings.name
        assert isvc["spec"]["predictor"]["model"]["runtime"] == settings.name
        annotations = runtime["metadata"]["annotations"]
        assert annotations["opendatahub.io/template-name"] == "vllm-cuda-runtime-template"
        assert annotations["opendatahub.io/serving-runtime-scope"] == "global"
        assert runtime["spec"]["annotations"]["opendatahub.io/kserve-runtime"] == "vllm"


@pytest.mark.parametrize(
    ("image", "folder"),
    [
        (serving.DEFAULT_RUNTIME_IMAGE, "/opt/app-root/template"),
        ("registry.redhat.io/rhaii/vllm-cuda-rhel9@sha256:" + "b" * 64, "/opt/app-root/template"),
        ("quay.io/modh/vllm:rhoai-2.25-cuda", "/app/data/template"),
        ("registry.redhat.io/rhoai/odh-vllm-cuda-rhel9@sha256:" + "c" * 64, "/app/data/template"),
    ],
)
def test_the_chat_template_follows_the_runtime_image(image, folder):
    settings = serving.ServingSettings(**{**BASE, "runtime_image": image})
    assert (
        f"--chat-template={folder}/tool_chat_template_llama3.2_json.jinja" in settings.vllm_args()
    )
    absolute = serving.ServingSettings(
        **{
            **BASE,
            "runtime_image": "docker.io/vllm/vllm-openai:v0.11.0",
            "chat_template": "/t/x.jinja",
        }
    )
    assert "--chat-template=/t/x.jinja" in absolute.vllm_args()


def test_several_gpus_run_vllm_tensor_parallel_with_shared_memory():
    one = serving.ServingSettings(**BASE)
    four = serving.ServingSettings(**{**BASE, "gpu_count": 4, "shm_size": "16Gi"})
    assert not any(a.startswith("--tensor-parallel-size") for a in one.vllm_args())
    assert "--tensor-parallel-size=4" in four.vllm_args()
    runtime = serving.serving_runtime(four)
    container = runtime["spec"]["containers"][0]
    assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in runtime[
        "spec"
    ]["volumes"]
    isvc = serving.inference_service(four)
    assert isvc["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    validate(runtime)
    validate(isvc)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu_request": "two"}, "not a Kubernetes resource quantity"),
        ({"memory_limit": "16GB"}, "not a Kubernetes resource quantity"),
        ({"gpu_count": -1}, "greater than or equal to 0"),
        ({"name": "Llama_3"}, "not a DNS-1035 label.*for example 'llama-3'"),
        ({"name": "3b-instruct"}, "not a DNS-1035 label.*'model-3b-instruct'"),
        ({"name": "a" * 54}, "longer than 53 characters"),
        (
            {"runtime_image": "docker.io/vllm/vllm-openai:v0.11.0"},
            "where docker.io/vllm/vllm-openai:v0.11.0 keeps vLLM's templates is not known",
        ),
        ({"min_replicas": 2, "max_replicas": 1}, "below min_replicas"),
        ({"storage_uri": "s3://b/p/"}, "either storage_key"),
        ({"storage_path": ""}, "storage_path is required"),
        ({"runtime_image": "quay.io/modh/vllm:latest"}, "pin the image"),
        ({"gpu_memory_utilization": 1.5}, "less than or equal to 1"),
        ({"tolerations": ({"operator": "Maybe"},)}, "Equal"),
        ({"extra_args": ("--max-model-len=4096",)}, "--max-model-len is set by max_model_len"),
        ({"extra_args": ("-tp", "2")}, "-tp is set by gpu_count"),
        ({"extra_args": ("--chat-template", "/x.jinja")}, "set by chat_template"),
        ({"extra_args": ("--served-model-name=x",)}, "set by the runtime"),
        ({"extra_args": ("--api-key=$(TOKEN)",)}, "which Kubernetes expands"),
        ({"extra_args": ("--max-num-seqs=8\n--port=1",)}, "control character"),
        ({"chat_template": "../../etc/passwd"}, "neither a template file name"),
        ({"chat_template": "/opt/app-root/../../etc/passwd"}, "without '..'"),
        ({"chat_template": "tool chat.jinja"}, "neither a template file name"),
        ({"tool_call_parser": "llama3_json --port 1"}, "not a vLLM tool-call parser name"),
    ],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ValidationError, match=message):
        serving.ServingSettings(**{**BASE, **overrides})
