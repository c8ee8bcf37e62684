"""Deploying an InferenceService on the fake API: ready, and every failure explained."""

from __future__ import annotations

import re

import pytest

from llama_rollout import kube, serving
from llama_rollout.registry import endpoint_for as endpoint
from llama_rollout.registry.deployments import _RegistryRest
from tests.fake_kube import ResourceType

pytestmark = pytest.mark.integration
SETTINGS = serving.ServingSettings(
    name="llama", namespace="ai", storage_key="models-conn", storage_path="models/llama/abc"
)


DASHBOARD_CONNECTION = {
    "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"},
    "annotations": {
        "opendatahub.io/connection-type-ref": "s3",
        "openshift.io/display-name": "models",
    },
}


def connection_secret(name: str = "models-conn", **metadata) -> dict:
    meta = {**DASHBOARD_CONNECTION, **metadata}
    return {"metadata": {"name": name, "namespace": "ai", **meta}, "type": "Opaque",
            "data": {"AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}}  # fmt: skip


@pytest.fixture(autouse=True)
def data_connection(fake):
    fake.put("secrets", connection_secret())


def controller(after_polls: int, status: dict):
    """A controller that sets ``status`` once the object has been read ``after_polls`` times."""
    polls = {"n": 0}

    def hook(obj, fake):
        polls["n"] += 1
        if polls["n"] >= after_polls:
            obj["status"] = {**status, "observedGeneration": obj["metadata"]["generation"]}

    return hook


READY = {
    "conditions": [{"type": "Ready", "status": "True"}],
    "modelStatus": {"states": {"activeModelState": "Loaded"}, "transitionStatus": "UpToDate"},
    "url": "https://llama-ai.apps.example.com",
    "address": {"url": "http://llama-predictor.ai.svc.cluster.local"},
}


def pod(name: str, status: dict) -> dict:
    labels = {"serving.kserve.io/inferenceservice": "llama"}
    return {"metadata": {"name": name, "namespace": "ai", "labels": labels}, "status": status}


def test_ready_after_a_few_polls(cluster, fake):
    fake.on_read("inferenceservices", "llama", controller(3, READY), namespace="ai")
    url = serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01)
    assert url == "http://llama-predictor.ai.svc.cluster.local"
    assert (
        fake.get("servingruntimes", "llama", "ai")["spec"]["supportedModelFormats"][0]["name"]
        == "vLLM"
    )
    generation = fake.get("inferenceservices", "llama", "ai")["metadata"]["generation"]
    serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01)
    assert fake.get("inferenceservices", "llama", "ai")["metadata"]["generation"] == generation


def test_model_failed_to_load(cluster, fake):
    failed = {
        "conditions": [{"type": "Ready", "status": "False"}],
        "modelStatus": {
            "states": {"activeModelState": "FailedToLoad", "targetModelState": "FailedToLoad"},
            "transitionStatus": "BlockedByFailedLoad",
            "lastFailureInfo": {
                "reason": "ModelLoadFailed",
                "message": "config.json not found in /mnt/models",
            },
        },
    }
    fake.on_read("inferenceservices", "llama", controller(2, failed), namespace="ai")
    with pytest.raises(
        kube.NotReady,
        match=r"model failed to load \(BlockedByFailedLoad\): ModelLoadFailed: config.json not found",
    ):
        serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01)


@pytest.mark.parametrize(
    ("status", "logs", "expected"),
    [
        (
            {
                "containerStatuses": [
                    {
                        "name": "kserve-container",
                        "image": "vllm:x",
                        "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    }
                ]
            },
            "INFO starting\nValueError: --tool-call-parser llama4_json is not registered\n",
            r"CrashLoopBackOff \(3 restarts\); last log line: ValueError: --tool-call-parser llama4_json",
        ),
        (
            {
                "containerStatuses": [
                    {
                        "name": "kserve-container",
                        "image": "quay.io/modh/vllm:nope",
                        "restartCount": 0,
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": "Back-off pulling image",
                            }
                        },
                    }
                ]
            },
            "",
            r"cannot pull image quay.io/modh/vllm:nope \(ImagePullBackOff\)",
        ),
        (
            {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
                    }
                ]
            },
            "",
            r"cannot be scheduled \(Unschedulable\): 0/4 nodes are available: 4 Insufficient nvidia.com/gpu",
        ),
    ],
    ids=["crash-loop", "image-pull", "no-gpu"],
)
def test_pod_failures_are_named(cluster, fake, status, logs, expected):
    fake.put("pods", pod("llama-predictor-abc", status))
    fake.pod_logs[("ai", "llama-predictor-abc")] = logs
    with pytest.raises(kube.NotReady, match=expected):
        serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01, unschedulable_grace=0)


def test_unschedulable_is_given_time_for_an_autoscaler(cluster, fake):
    unschedulable = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]}  # fmt: skip
    fake.put("pods", pod("llama-predictor-abc", unschedulable))

    def node_arrives(obj, fake):
        if len([r for r in fake.requests if "/pods" in r]) >= 3:
            fake.objects.pop(("pods", "ai", "llama-predictor-abc", ""), None)
            obj["status"] = {**READY, "observedGeneration": obj["metadata"]["generation"]}

    fake.on_read("inferenceservices", "llama", node_arrives, namespace="ai")
    assert serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01, unschedulable_grace=60)
    with pytest.raises(kube.NotReady, match=r"last state: .*cannot be scheduled \(Unschedulable\)"):
        fake.put("pods", pod("llama-predictor-abc", unschedulable))
        fake.read_hooks.clear()
        fake.get("inferenceservices", "llama", "ai")["status"] = {}
        serving.deploy(cluster, SETTINGS, timeout=0.2, interval=0.01, unschedulable_grace=60)


def test_deadline_reports_the_last_state(cluster, fake):
    loading = {
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "PredictorNotReady",
                "message": "downloading",
            }
        ],
        "modelStatus": {
            "states": {"activeModelState": "Pending"},
            "transitionStatus": "InProgress",
        },
    }
    fake.on_read("inferenceservices", "llama", controller(1, loading), namespace="ai")
    with pytest.raises(
        kube.NotReady,
        match=r"not ready after 0s; last state: Ready=False \(PredictorNotReady: downloading\) model Pending/InProgress",
    ):
        serving.deploy(cluster, SETTINGS, timeout=0.05, interval=0.01)


def test_unknown_namespace_fails_before_anything_is_applied(cluster, fake):
    settings = SETTINGS.model_copy(update={"namespace": "nowhere"})
    with pytest.raises(kube.KubeError, match="namespace 'nowhere' does not exist"):
        serving.deploy(cluster, settings, timeout=1, interval=0.01)
    assert not any(r.startswith(("PATCH", "POST")) for r in fake.requests)


def test_missing_kserve_fails_before_anything_is_applied(cluster, fake):
    fake.without("serving.kserve.io")
    with pytest.raises(kube.KubeError, match="does not serve ServingRuntime"):
        serving.deploy(cluster, SETTINGS, timeout=1, interval=0.01)
    assert not any(r.startswith(("PATCH", "POST")) for r in fake.requests)


def test_forbidden_apply_names_the_permission(cluster, fake):
    fake.forbidden.add(("patch", "servingruntimes"))
    with pytest.raises(
        kube.PermissionDenied,
        match=r"lacks permission to patch servingruntimes \(API group serving.kserve.io\) in namespace ai",
    ):
        serving.deploy(cluster, SETTINGS, timeout=1, interval=0.01)


def test_model_without_manifest_fails_before_anything_is_applied(cluster, fake, s3_connection):
    from llama_rollout.errors import IncompleteModelError

    settings = SETTINGS.model_copy(
        update={"storage_key": "test-models", "storage_path": "models/ghost/abc"}
    )
    with pytest.raises(IncompleteModelError, match=r"has no llama-rollout-manifest\.json"):
        serving.serve_on_openshift(
            settings,
            model_uri="s3://models/models/ghost/abc/",
            registry=None,
            kube=cluster,
            timeout=1,
        )
    assert not any(r.startswith(("PATCH", "POST")) for r in fake.requests)


def test_serve_on_openshift_end_to_end_on_the_fake_cluster(
    cluster, fake, s3_connection, make_model, registry_url
):
    """Deploy, preflight against a server that parses tool calls, record in the registry."""
    from fastapi import FastAPI

    from llama_rollout import registry, weights
    from llama_rollout.weights import source
    from tests.servers import serve_app

    folder = make_model(shards=1, shard_bytes=1024)
    model = weights.mirror(
        source.resolve(source.parse_source_uri(f"file://{folder}")),
        s3_connection,
        model_name="llama",
    )
    ids = registry.register_version(
        registry.connect(endpoint(registry_url)), model_name="llama", model_uri=model.uri, storage_key="test-models",
        storage_path=model.storage_path,
        provenance=registry.Provenance("file://x", model.manifest.source_revision, model.manifest_sha256),
    )  # fmt: skip
    vllm = FastAPI()

    @vllm.post("/v1/chat/completions")
    def chat() -> dict:
        call = {
            "id": "1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        return {
            "choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]
        }

    fake.put("secrets", connection_secret("test-models"))
    with serve_app(vllm) as vllm_url:
        ready = {**READY, "address": {"url": vllm_url}}
        fake.on_read("inferenceservices", "llama", controller(2, ready), namespace="ai")
        settings = SETTINGS.model_copy(
            update={"storage_key": "test-models", "storage_path": model.storage_path,
                    "registered_model_id": ids.registered_model_id, "model_version_id": ids.model_version_id}
        )  # fmt: skip
        url, served = serving.serve_on_openshift(
            settings,
            model_uri=model.uri,
            registry=endpoint(registry_url),
            kube=cluster,
            timeout=10,
            interval=0.01,
        )
    assert (url, served) == (f"{vllm_url}/v1", "llama")
    labels = fake.get("inferenceservices", "llama", "ai")["metadata"]["labels"]
    assert labels["modelregistry.opendatahub.io/model-version-id"] == ids.model_version_id
    rest = _RegistryRest(endpoint(registry_url))
    environment = rest.find("serving_environment", name="ai")
    uid = fake.get("inferenceservices", "llama", "ai")["metadata"]["uid"]
    # Named as odh-model-controller names its records, so that it adopts this one.
    service = rest.find(
        "inference_service", name=f"llama/{uid}", parentResourceId=environment["id"]
    )
    assert (
        service["desiredState"] == "DEPLOYED" and service["modelVersionId"] == ids.model_version_id
    )


def test_a_missing_chat_template_is_named_with_the_fix(cluster, fake):
    fake.put("pods", pod("llama-predictor-0", {
        "containerStatuses": [{
            "name": "kserve-container", "image": serving.DEFAULT_RUNTIME_IMAGE, "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        }]
    }))  # fmt: skip
    fake.pod_logs[("ai", "llama-predictor-0")] = (
        "vllm.exceptions.VLLMValidationError: The supplied chat template "
        "(/opt/app-root/template/tool_chat_template_llama3.2_json.jinja) looks like a file path, "
        "but it failed to be opened. Reason: [Errno 2] No such file or directory\n"
    )
    with pytest.raises(
        kube.NotReady,
        match=r"no chat template at /opt/app-root/template/tool_chat.*set chat_template",
    ):
        serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01)


@pytest.mark.parametrize(
    ("metadata", "fix"),
    [
        ({"labels": {"opendatahub.io/dashboard": "true"}},
         "oc label secret models-conn -n ai opendatahub.io/managed=true"),
        ({"labels": {}}, "oc label secret models-conn -n ai opendatahub.io/dashboard=true opendatahub.io/managed=true"),
        ({"annotations": {"opendatahub.io/connection-type": "s3"}},
         "oc annotate secret models-conn -n ai opendatahub.io/connection-type-protocol=s3"),
    ],
    ids=["not-managed", "hand-made", "old-annotation-only"],
)  # fmt: skip
def test_a_hand_made_data_connection_is_refused_before_anything_is_applied(
    cluster, fake, metadata, fix
):
    from llama_rollout.errors import ConfigurationError

    fake.put("secrets", connection_secret(**metadata))
    with pytest.raises(ConfigurationError, match=re.escape(fix)):
        serving.deploy(cluster, SETTINGS, timeout=1, interval=0.01)
    assert not [r for r in fake.requests if r.startswith(("PATCH", "POST"))]


def test_a_missing_data_connection_is_named(cluster, fake):
    from llama_rollout.errors import ConfigurationError

    del fake.objects[("secrets", "ai", "models-conn", "")]
    with pytest.raises(
        ConfigurationError, match="data connection 'models-conn' does not exist in namespace 'ai'"
    ):
        serving.deploy(cluster, SETTINGS, timeout=1, interval=0.01)


def test_the_secret_is_read_as_metadata_only(cluster, fake):
    fake.on_read("inferenceservices", "llama", controller(1, READY), namespace="ai")
    serving.deploy(cluster, SETTINGS, timeout=10, interval=0.01)
    reads = [
        accept for request, accept in zip(fake.requests, fake.accepts, strict=True)
        if "/secrets/" in request
    ]  # fmt: skip
    assert reads and all("as=PartialObjectMetadata" in a for a in reads)


def registered(registry_url: str):
    from llama_rollout import registry

    return registry.register_version(
        registry.connect(endpoint(registry_url)), model_name="llama",
        model_uri="s3://models/models/llama/abc/", storage_key="models-conn",
        storage_path="models/llama/abc", provenance=registry.Provenance("file://x", "abc", "0" * 64),
    )  # fmt: skip


def registry_records(registry_url: str) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{registry_url}/api/model_registry/v1/inference_services") as r:
        return json.load(r)["items"]


def test_the_registry_controller_records_the_deployment_not_the_step(cluster, fake, registry_url):
    ids = registered(registry_url)
    settings = SETTINGS.model_copy(update={
        "registered_model_id": ids.registered_model_id, "model_version_id": ids.model_version_id,
        "registry_name": "public", "registry_namespace": "rhoai-model-registries",
    })  # fmt: skip
    fake.types.append(
        ResourceType("modelregistry.opendatahub.io", "v1beta1", "modelregistries", "ModelRegistry")
    )

    def controller_records(obj, fake):
        labels = obj["metadata"]["labels"]
        if labels.get("modelregistry.opendatahub.io/registered-model-id"):
            labels["modelregistry.opendatahub.io/inference-service-id"] = "77"

    fake.on_read("inferenceservices", "llama", controller_records, namespace="ai")
    fake.put("inferenceservices", {**serving.inference_service(settings), "status": {}})
    record = serving.record_in_registry(
        cluster, settings, endpoint(registry_url), grace=5, interval=0.01
    )
    assert record == "77"
    assert registry_records(registry_url) == [], "a second record, that would stay DEPLOYED"
    labels = fake.get("inferenceservices", "llama", "ai")["metadata"]["labels"]
    assert labels["modelregistry.opendatahub.io/name"] == "public"
    assert labels["modelregistry.opendatahub.io/namespace"] == "rhoai-model-registries"


def test_without_the_controller_s_label_the_step_records_it(cluster, fake, registry_url):
    ids = registered(registry_url)
    settings = SETTINGS.model_copy(update={
        "registered_model_id": ids.registered_model_id, "model_version_id": ids.model_version_id,
        "registry_name": "public",
    })  # fmt: skip
    fake.types.append(
        ResourceType("modelregistry.opendatahub.io", "v1beta1", "modelregistries", "ModelRegistry")
    )
    created = fake.put("inferenceservices", {**serving.inference_service(settings), "status": {}})
    record = serving.record_in_registry(
        cluster, settings, endpoint(registry_url), grace=0.2, interval=0.01
    )
    (service,) = registry_records(registry_url)
    assert service["id"] == record and service["name"] == f"llama/{created['metadata']['uid']}"
    assert (service["desiredState"], service["runtime"]) == ("DEPLOYED", "llama")
