"""Every ServingRuntime and InferenceService the code can produce fits the real KServe CRDs."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest
from pydantic import ValidationError

from llama_rollout import serving
from llama_rollout.errors import ConfigurationError
from llama_rollout.k8s_types import versioned_name
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
    *custom, policy = serving.serving_objects(settings)
    for obj in custom:
        validate(obj)
    kubernetes_validate.validate(policy, "1.31.0", strict=True)


def test_publishing_removes_every_object_the_serving_step_makes():
    from llama_rollout.serving.objects import owned_objects as removed_by_publishing

    settings = serving.ServingSettings(**BASE)
    made = {
        (o["apiVersion"], o["kind"], o["metadata"]["name"])
        for o in serving.serving_objects(settings)
    }
    assert made == set(removed_by_publishing(settings.name))


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
        runtime, isvc, _ = serving.serving_objects(settings)
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
        ({"extra_args": ("--lora-modules=$(MODULES)",)}, "which Kubernetes expands"),
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gpu_count": 17}, r"gpu_count\n.*less than or equal to 16"),
        ({"max_model_len": 10_485_761}, r"max_model_len\n.*less than or equal to 10485760"),
        ({"min_replicas": 101, "max_replicas": 100}, r"min_replicas\n.*less than or equal to 100"),
        ({"max_replicas": 101}, r"max_replicas\n.*less than or equal to 100"),
        ({"runtime_image": "quay.io/x:1 --privileged"}, "has a space or a control character"),
        ({"runtime_image": "quay.io/x@sha256:abc"}, "the digest 'sha256:abc' of image"),
        ({"runtime_image": "Quay.io/X/Y:1"}, "has upper-case letters"),
        ({"tolerations": ({"key": "bad key!"},)}, r"key 'bad key!' is not a label key"),
        ({"tolerations": ({"operator": "Equal", "value": "a"},)}, "operator must be Exists"),
        ({"tolerations": ({"key": "k", "operator": "Equal", "value": "a b"},)}, "not a label value"),
        ({"tolerations": ({"key": "k", "effect": "NoExecuteNow"},)}, "'NoSchedule', 'PreferNoSchedule' or 'NoExecute'"),
        ({"tolerations": ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},)}, "only for effect NoExecute"),
        ({"tolerations": ({"key": "k", "effect": "NoExecute", "tolerationSeconds": -1},)}, "greater than or equal to 0"),
        ({"tolerations": ({"key": "k", "effect": "NoExecute", "tolerationSeconds": 1.5},)}, "valid integer"),
        ({"tolerations": ({"key": "k", "tolerationseconds": 5},)}, "'tolerationseconds' is not a toleration field: a toleration has key, operator"),
        ({"node_selector": {"": "x"}}, "the empty key is not a label key"),
        ({"node_selector": {"a b": "c"}}, "'a b' is not a label key"),
        ({"node_selector": {"k": "v\n"}}, r"the value of 'k': 'v\\n' is not a label value"),
        ({"node_selector": {"k": "v" * 64}}, "is not a label value"),
        ({"node_selector": {"k": 1}}, "is not text"),
        ({"extra_args": ("",)}, "extra vLLM argument 1 is empty"),
        ({"extra_args": ("--enable-prefix-caching", "  ")}, "extra vLLM argument 2 is empty"),
        ({"extra_args": ("--api-key", "sk-0123456789")}, "'--api-key' would keep a secret in a pipeline parameter: set enable_auth=true"),
        ({"extra_args": ("--api-key=sk-0123456789",)}, "'--api-key' would keep a secret"),
        ({"extra_args": ("--api_key=sk-0123456789",)}, "'--api-key' would keep a secret"),
        ({"extra_args": ("--hf-token=hf_0123456789",)}, "'--hf-token' would keep a secret"),
        ({"extra_args": ("--max_model_len=99",)}, "--max-model-len is set by max_model_len"),
        ({"extra_args": ("--max-model=99",)}, r"'--max-model' \(short for --max-model-len\) is set by max_model_len"),
        ({"storage_path": "../../etc"}, "'../../etc' is not a prefix in the bucket"),
        ({"storage_path": "models//m"}, "not a prefix in the bucket"),
        ({"storage_path": "/models/m"}, "not a prefix in the bucket"),
        ({"chat_template": "x" * 300}, r"\(300 characters\) is neither a template file name"),
        ({"served_model": "Bad Model"}, "the served model name 'Bad Model' is not a DNS-1035 label"),
    ],
)  # fmt: skip
def test_values_a_cluster_would_refuse_are_refused_here(overrides, message):
    with pytest.raises(ValidationError, match=message) as caught:
        serving.ServingSettings(**{**BASE, **overrides})
    shown = str(caught.value)
    assert "sk-0123456789" not in shown and "hf_0123456789" not in shown


def test_a_secret_in_the_runtime_image_is_neither_accepted_nor_shown():
    image = "https://u:PLANTED-0123456789abcdef@quay.io/x:1"
    with pytest.raises(ConfigurationError) as caught:
        serving.settings_from(**{**BASE, "runtime_image": image})
    for shown in (str(caught.value), str(caught.value.__cause__)):
        assert "PLANTED" not in shown and "0123456789abcdef" not in shown
    assert "runtime_image: an image reference carries no credentials" in str(caught.value)
    assert "pull secret" in str(caught.value)


@pytest.mark.parametrize(
    "image",
    ["quay.io/x:tag\n", "quay.io/x@sha256:abc", "https://quay.io/x:1", "quay.io/x:" + "t" * 200],
)
def test_a_bad_runtime_image_is_reported_once_as_itself_not_as_a_chat_template_problem(image):
    with pytest.raises(ValidationError) as caught:
        serving.ServingSettings(**{**BASE, "runtime_image": image})
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("runtime_image",)]
    assert "chat_template" not in str(caught.value)


def test_a_model_name_is_reported_once_by_its_own_name_and_limit():
    # The serving step names the InferenceService <model>-<revision[:7]> and serves the model
    # under its own name: a bad model name is one problem, said without the suffix.
    for model, says in (("BAD VALUE", "'BAD VALUE' is not a DNS-1035 label"),
                        ("a" * 46, "longer than 45 characters, the most a model name can have")):  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            serving.ServingSettings(
                **{**BASE, "name": versioned_name(model, "0" * 40), "served_model": model}
            )
        errors = caught.value.errors()
        assert [e["loc"] for e in errors] == [("name",)], errors
        assert says in errors[0]["msg"] and "0000000" not in errors[0]["msg"]
        assert "served_model" not in str(caught.value).split("\n", 1)[1]


def test_toleration_seconds_is_a_toleration_field_kubernetes_takes():
    toleration = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}  # fmt: skip
    settings = serving.ServingSettings(**{**BASE, "tolerations": (toleration,)})
    isvc = serving.inference_service(settings)
    assert isvc["spec"]["predictor"]["tolerations"] == [toleration]
    validate(isvc)


@pytest.mark.parametrize("name", ["tolerations", "node_selector"])
def test_a_json_parameter_with_a_key_given_twice_is_refused(name):
    text = '[{"key": "a", "key": "b"}]' if name == "tolerations" else '{"k": "v", "k": "w"}'
    kind = list if name == "tolerations" else dict
    with pytest.raises(ConfigurationError, match=rf"{name}: the key '(key|k)' is given twice"):
        serving.json_setting(name, text, kind)
    with pytest.raises(ConfigurationError, match=f"{name} is nested too deeply"):
        serving.json_setting(name, "[" * 5000 + "]" * 5000, kind)
    with pytest.raises(ConfigurationError, match=r"must be a JSON .*\(2000 characters\)"):
        serving.json_setting(name, '"' + "x" * 1998 + '"', kind)


@pytest.mark.parametrize(
    "given, written",
    [
        # No operator is Kubernetes' Equal (types.go: "Defaults to Equal"), not Exists.
        ({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
         {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
        ({"key": "dedicated"}, {"key": "dedicated", "operator": "Equal"}),
        ({"key": "a", "operator": ""}, {"key": "a", "operator": "Equal"}),
        # An empty effect is every effect.
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": ""},
         {"key": "nvidia.com/gpu", "operator": "Exists"}),
    ],
)  # fmt: skip
def test_a_toleration_means_what_kubernetes_makes_of_it(given, written):
    from llama_rollout.serving.tolerations import Toleration

    toleration = Toleration.model_validate(given)
    assert toleration.model_dump(mode="json", by_alias=True, exclude_none=True) == written


@pytest.mark.parametrize("given", [{}, {"effect": "NoSchedule"}, {"value": "x"}])
def test_a_toleration_without_a_key_must_say_exists(given):
    """Kubernetes refuses these (validation.go: an empty key needs Exists); they are not a
    toleration of every taint."""
    from pydantic import ValidationError

    from llama_rollout.serving.tolerations import Toleration

    with pytest.raises(ValidationError, match="its operator must be Exists"):
        Toleration.model_validate(given)


@pytest.mark.parametrize(("auth", "port", "url"), [
    (True, 8443, "https://llama-predictor.ai.svc.cluster.local:8443/v1"),
    (False, 8080, "http://llama-predictor.ai.svc.cluster.local/v1"),
])  # fmt: skip
def test_with_auth_on_only_the_auth_proxy_s_port_is_open_and_the_url_is_its_https(auth, port, url):
    settings = serving.ServingSettings(**{**BASE, "name": "llama", "namespace": "ai", "auth": auth})
    policy = serving.objects.network_policy(settings)
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == [port]
    isvc = serving.objects.inference_service(settings)
    assert (
        isvc["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] == str(auth).lower()
    )
    assert serving.objects.predictor_url(settings) == url
