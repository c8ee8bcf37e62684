"""`llama-rollout render`: the objects as YAML, valid against the CRDs, with clear errors."""

from __future__ import annotations

import re
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from llama_rollout.render import render
from tests.crd_schema import validate


@pytest.mark.parametrize(
    "assignments",
    [
        [],
        ["gpu_count=0", "tolerations=[]", "auth=false"],
        [
            "gpu_count=4",
            "node_selector={nvidia.com/gpu.product: H100}",
            "extra_args=[--enable-prefix-caching]",
            "cpu_request=4",
            "memory_limit=64Gi",
            "storage_path=models/llama/0123abc",
            "registered_model_id=3",
        ],
        [
            "storage_key=",
            "storage_path=",
            "storage_uri=s3://models/llama/abc/",
            "service_account=models-sa",
        ],
    ],
    ids=["defaults", "cpu-no-auth", "big-gpu", "storage-uri"],
)
def test_render_validates(assignments):
    objects = list(yaml.safe_load_all(render(assignments)))
    kinds = [o["kind"] for o in objects]
    assert kinds[:3] == ["ServingRuntime", "InferenceService", "NetworkPolicy"]
    for obj in objects:
        if obj["apiVersion"].startswith(("serving.kserve.io", "llamastack.io")):
            validate(obj)
        else:
            kubernetes_validate.validate(obj, "1.31.0", strict=True)
    if "stack.operator=false" in assignments:
        assert kinds[3:] == [
            "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "NetworkPolicy"
        ]  # fmt: skip
    else:
        assert kinds[3:] == ["ConfigMap", "LlamaStackDistribution"]
    stack_config = yaml.safe_load(objects[3]["data"]["config.yaml"])
    # The stack's auth is in the render, readable: who may call it, and its policies.
    assert "  config.yaml: |\n" in render(assignments)
    auth = stack_config["server"]["auth"]
    assert auth["provider_config"]["type"] == "kubernetes"
    assert any("pipeline-runner-dspa" in rule.get("when", "") for rule in auth["route_policy"])
    isvc = objects[1]["metadata"]
    host = f"{isvc['name']}-predictor.{isvc['namespace']}.svc.cluster.local"
    vllm = stack_config["providers"]["inference"][0]["config"]
    text = render(assignments)
    if "auth=false" in assignments:
        assert isvc["annotations"]["security.opendatahub.io/enable-auth"] == "false"
        assert vllm["base_url"] == f"http://{host}/v1"
        assert vllm["network"]["tls"]["verify"] is True
        assert "secretKeyRef" not in text, "no token to mount"
    else:
        # KServe's auth proxy: https on 8443 with a service-CA certificate, a token to pass.
        assert isvc["annotations"]["security.opendatahub.io/enable-auth"] == "true"
        assert vllm["base_url"] == f"https://{host}:8443/v1"
        assert vllm["network"]["tls"]["verify"] == (
            "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
        )
        assert "name: llama-stack-model-client-token" in text


def test_llama_3_3_70b_on_four_gpus():
    objects = list(
        yaml.safe_load_all(
            render(
                [
                    "name=llama-3-3-70b-instruct",
                    "display_name=Llama 3.3 70B Instruct",
                    "gpu_count=4",
                    "shm_size=16Gi",
                    "memory_request=160Gi",
                    "memory_limit=200Gi",
                    "storage_path=models/llama-3-3-70b-instruct/6f6073b423013f6a7d4d9f39144961bfbfbc386b",
                ]
            )
        )
    )
    runtime, isvc = objects[:2]
    for obj in objects[:2]:
        validate(obj)
    assert runtime["metadata"]["name"] == isvc["metadata"]["name"] == "llama-3-3-70b-instruct"
    assert "--tensor-parallel-size=4" in isvc["spec"]["predictor"]["model"]["args"]
    assert runtime["spec"]["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert isvc["metadata"]["annotations"]["openshift.io/display-name"] == "Llama 3.3 70B Instruct"


def test_set_types_follow_the_setting():
    isvc = list(yaml.safe_load_all(render(["gpu_count=2", "cpu_request=2", "auth=true"])))[1]
    resources = isvc["spec"]["predictor"]["model"]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2" and resources["requests"]["cpu"] == "2"
    assert isvc["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] == "true"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("gpu_count=-1", "gpu_count: Input should be greater than or equal to 0"),
        ("name=3b-instruct", "name: '3b-instruct' is not a DNS-1035 label.*'model-3b-instruct'"),
        ("gpu_count=true", "--set gpu_count: 'true' is not an integer: write digits"),
        ("gpu_count=1.5", "--set gpu_count: '1.5' is not an integer"),
        ("auth=yes", "--set auth: 'yes' is not a boolean: write true or false"),
        ("stack.operator=maybe", "--set stack.operator: 'maybe' is not a boolean"),
        ("gpu_memory_utilization=high", "--set gpu_memory_utilization: 'high' is not a number"),
        ("memory_request=lots", "not a Kubernetes resource quantity"),
        ("gpus=1", "unknown setting 'gpus'"),
        ("namespace", "is not KEY=VALUE"),
        ("stack.memory_limit=4GB", "invalid Llama Stack settings: memory_limit"),
        ("stack.replica=2", "unknown setting 'stack.replica'"),
    ],
)
def test_bad_settings_are_one_line_errors(assignment, message):
    result = subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", "render", "--set", assignment],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and re.search(message, result.stderr), result.stderr
