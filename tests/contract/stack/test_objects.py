"""Llama Stack objects: the operator CR against its CRD, the fallback against Kubernetes' schemas."""

from __future__ import annotations

import hashlib

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from llama_rollout import stack
from llama_rollout.errors import ConfigurationError, RolloutError
from llama_rollout.stack.access import StackClients
from llama_rollout.stack.request import StackAccess
from llama_rollout.stack.step import StackRequest
from tests.crd_schema import validate
from tests.network_policy import Pod, Port, admits
from tests.operator_policies import LLAMA_STACK_OPERATOR_NAMESPACE, llama_stack_policy

KUBERNETES_VERSION = "1.31.0"  # OpenShift 4.18
RUNNER = "system:serviceaccount:ai:pipeline-runner-dspa"
BASE = {
    "namespace": "ai",
    "vllm_url": "http://llama-predictor.ai.svc.cluster.local:8080/v1",
    "clients": StackClients(pipeline=RUNNER),
}
VARIANTS = {
    "defaults": {},
    "token-and-env": {
        "vllm_token_secret": "llama-token",
        "env": {"LLAMA_STACK_LOGGING": "all=info"},
    },
    "scaled-no-tls-verify": {"replicas": 2, "vllm_tls_verify": False, "storage_size": "20Gi"},
    "operator-distribution": {"distribution_name": "rh-dev"},
    "admits-the-pipeline-namespace": {"allowed_namespaces": ("pipelines",)},
    "exports-traces": {"otlp_endpoint": "http://otel-collector.observability.svc:4318"},
}


@pytest.mark.parametrize("overrides", VARIANTS.values(), ids=VARIANTS.keys())
def test_operator_objects_validate(overrides):
    settings = stack.StackSettings(**{**BASE, **overrides})
    config_map, llsd = stack.stack_objects(settings, operator=True)
    validate(llsd)
    kubernetes_validate.validate(config_map, KUBERNETES_VERSION, strict=True)
    assert llsd["spec"]["server"]["userConfig"]["configMapName"] == config_map["metadata"]["name"]
    assert list(config_map["data"]) == ["config.yaml"]


def test_publishing_removes_every_object_the_stack_step_makes_on_either_path():
    from llama_rollout.stack.objects import owned_objects as removed_by_publishing

    settings = stack.StackSettings(**BASE)
    made = {
        (o["apiVersion"], o["kind"], o["metadata"]["name"])
        for operator in (True, False)
        for o in stack.stack_objects(settings, operator=operator)
    }
    assert made <= set(removed_by_publishing(settings.name))


@pytest.mark.parametrize("overrides", [v for k, v in VARIANTS.items() if "distribution" not in k])
def test_fallback_objects_validate(overrides):
    settings = stack.StackSettings(**{**BASE, **overrides})
    objects = stack.stack_objects(settings, operator=False)
    assert [o["kind"] for o in objects] == [
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    deployment = objects[2]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    instrumented = ["opentelemetry-instrument"] if overrides.get("otlp_endpoint") else []
    assert container["command"][: len(instrumented) + 4] == [
        *instrumented, "llama", "stack", "run", "/etc/llama-stack/config.yaml",
    ]  # fmt: skip
    assert objects[3]["metadata"]["name"] == "llama-stack-service"


def test_validators_catch_mistakes():
    settings = stack.StackSettings(**BASE)
    llsd = stack.llama_stack_distribution(settings, "0" * 64)
    llsd["spec"]["server"]["containerSpec"]["ports"] = [8321]
    with pytest.raises(jsonschema.ValidationError, match="ports"):
        validate(llsd)
    deployment = stack.fallback_objects(settings, "0" * 64)[1]
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_config_has_no_secret_and_uses_base_url():
    settings = stack.StackSettings(**BASE, vllm_token_secret="llama-token")
    config = yaml.safe_load(stack.config_map(settings)["data"]["config.yaml"])
    vllm = config["providers"]["inference"][0]
    assert vllm["provider_type"] == "remote::vllm"
    assert vllm["config"]["base_url"] == BASE["vllm_url"] and "url" not in vllm["config"]
    assert vllm["config"]["api_token"] == "${env.VLLM_API_TOKEN:=fake}"
    assert "responses" in config["apis"] and "agents" not in config["apis"]
    assert {"vector_io", "tool_runtime"} <= set(config["apis"])
    env = stack.stack_objects(settings, operator=True)[1]["spec"]["server"]["containerSpec"]["env"]
    assert {
        "name": "VLLM_API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "llama-token", "key": "token"}},
    } in env


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("0.7.3", True),
        ("0.7.0", True),
        ("v0.7.10", True),
        ("0.6.2", False),
        ("0.3.5", False),
        ("0.8.0", False),
        ("1.0.0", False),
    ],
)
def test_version_guard(version, ok):
    if ok:
        stack.check_version(version)
    else:
        with pytest.raises(
            stack.StackVersionError,
            match=r"not supported: this project writes the config format of >= 0\.7\.0, < 0\.8\.0",
        ):
            stack.check_version(version)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vllm_url": "http://llama:8080"}, "must be http"),
        ({"memory_limit": "4GB"}, "resource quantity"),
        (
            {"distribution_image": "llamastack/distribution-starter:latest"},
            "pin the image",
        ),
        ({"distribution_name": "starter", "distribution_image": "quay.io/x/y:1"}, "not both"),
        ({"name": "Llama"}, "DNS-1123"),
    ],
)
def test_bad_settings(overrides, message):
    with pytest.raises(ValidationError, match=message):
        stack.StackSettings(**{**BASE, **overrides})


def test_named_distribution_needs_the_operator():
    with pytest.raises(RolloutError, match="needs the Llama Stack operator"):
        stack.stack_objects(stack.StackSettings(**BASE, distribution_name="rh-dev"), operator=False)


def test_the_config_digest_is_in_the_pod_template_on_both_paths():
    settings = stack.StackSettings(**BASE)
    changed = settings.model_copy(update={"vllm_max_tokens": 1024})
    for operator in (True, False):
        envs = []
        for s in (settings, changed):
            objects = stack.stack_objects(s, operator=operator)
            digest = hashlib.sha256(objects[0]["data"]["config.yaml"].encode()).hexdigest()
            workload = objects[1] if operator else objects[2]
            env = (
                workload["spec"]["server"]["containerSpec"]["env"]
                if operator
                else workload["spec"]["template"]["spec"]["containers"][0]["env"]
            )
            assert {"name": stack.CONFIG_DIGEST_ENV, "value": digest} in env
            envs.append(env)
        assert envs[0] != envs[1]


CALLERS = {
    "a pipeline step elsewhere": Pod("pipelines", {"app.kubernetes.io/part-of": "llama-stack"}),
    "a pipeline step here": Pod("ai", {"app.kubernetes.io/part-of": "llama-stack",
                                       "pipelines.kubeflow.org/v2_component": "true"}),
    "Lightspeed": Pod("openshift-lightspeed", {"app.kubernetes.io/name": "lightspeed-service-api"}),
    "an unlabelled pod here": Pod("ai", {"app": "notebook"}),
    "an unlabelled pod elsewhere": Pod("team-b", {"app": "notebook"}),
}  # fmt: skip
NAMESPACES = {
    ns: {"kubernetes.io/metadata.name": ns} for ns in {p.namespace for p in CALLERS.values()}
}


@pytest.mark.parametrize(
    "allowed", [("ai",), ("openshift-lightspeed",), ("openshift-lightspeed", "pipelines")]
)
def test_the_fallback_policy_admits_whom_the_operator_policy_admits(allowed):
    settings = stack.StackSettings(**BASE, allowed_namespaces=allowed)
    llsd = stack.stack_objects(settings, operator=True)[1]
    operator_policy = llama_stack_policy(llsd)
    fallback_policy = stack.stack_objects(settings, operator=False)[-1]
    operator_pod = Pod("ai", {"app": "llama-stack", "app.kubernetes.io/instance": "llama-stack"})
    fallback_pod = Pod(
        "ai",
        stack.stack_objects(settings, operator=False)[2]["spec"]["template"]["metadata"]["labels"],
    )
    port = Port(stack.PORT)
    for caller, source in CALLERS.items():
        by_operator = admits([operator_policy], NAMESPACES, source, operator_pod, port)
        by_fallback = admits([fallback_policy], NAMESPACES, source, fallback_pod, port)
        # Ours admits the namespaces alone; the operator's, besides them, a pod that wears its
        # label from anywhere (which no pod of the project does, and the token check refuses).
        labelled = source.labels.get("app.kubernetes.io/part-of") == "llama-stack"
        assert by_fallback == (source.namespace in allowed), caller
        assert by_operator == (by_fallback or labelled), caller
    # The policy is about the stack's port only, and the operator's namespace has no
    # counterpart without the operator.
    assert not admits(
        [fallback_policy], NAMESPACES, CALLERS["a pipeline step here"], fallback_pod, Port(8080)
    )
    operator_namespace = Pod(LLAMA_STACK_OPERATOR_NAMESPACE)
    labels = {
        LLAMA_STACK_OPERATOR_NAMESPACE: {
            "kubernetes.io/metadata.name": LLAMA_STACK_OPERATOR_NAMESPACE
        }
    }
    assert admits([operator_policy], labels, operator_namespace, operator_pod, port)
    assert not admits([fallback_policy], labels, operator_namespace, fallback_pod, port)


@pytest.mark.parametrize(
    ("endpoint", "admitted"), [("llama-stack", ("openshift-lightspeed", "ai")), ("vllm", ("ai",))]
)
def test_the_stack_admits_lightspeed_only_when_lightspeed_calls_it(endpoint, admitted):
    request = StackRequest(
        serving_url=BASE["vllm_url"], serving_model="llama", revision="abcdef0123", mcp_url="http://mcp:3000/mcp",
        lightspeed_endpoint=endpoint,
    )  # fmt: skip
    settings = request.settings("ai", RUNNER)
    assert settings.allowed_namespaces == admitted
    llsd = stack.stack_objects(settings, operator=True)[1]
    assert llsd["spec"].get("network", {}).get("allowedFrom", {}).get("namespaces", []) == list(
        admitted
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"replicas": 0}, r"replicas\n.*0 replicas: give 1 to 100 \(with none, the stack never becomes ready"),
        ({"replicas": 101}, "give 1 to 100"),
        ({"vllm_max_tokens": 10_485_761}, r"vllm_max_tokens\n.*less than or equal to 10485760"),
        ({"distribution_image": "docker.io/llamastack/distribution-starter:0.7.3 x"}, r"distribution_image\n.*has a space"),
        ({"distribution_image": "quay.io/x:!!bad"}, "its tag '!!bad' is not"),
        ({"distribution_image": "docker.io/llamastack/distribution-starter:0.2.0"}, r"runs Llama Stack 0\.2\.0, and this project writes the config format of >= 0\.7\.0, < 0\.8\.0"),
        ({"distribution_image": "llamastack/distribution-starter:v0.8.1"}, r"runs Llama Stack 0\.8\.1"),
        ({"distribution_name": "../x"}, r"distribution_name\n.*'../x' is not a distribution name"),
        ({"distribution_name": "Starter"}, "not a distribution name"),
    ],
)  # fmt: skip
def test_values_the_cluster_or_the_step_would_refuse_are_refused_here(overrides, message):
    with pytest.raises(ValidationError, match=message):
        stack.StackSettings(**{**BASE, **overrides})


@pytest.mark.parametrize(
    "image",
    [stack.DEFAULT_IMAGE, "docker.io/llamastack/distribution-starter:0.7.0", "quay.io/acme/stack:0.2.0",
     "llamastack/distribution-starter@sha256:" + "a" * 64],
)  # fmt: skip
def test_images_of_supported_or_unknown_releases_are_accepted(image):
    assert stack.StackSettings(**BASE, distribution_image=image).distribution_image == image


def test_a_secret_in_the_stack_image_is_neither_accepted_nor_shown():
    image = "https://u:PLANTED-0123456789abcdef@docker.io/llamastack/distribution-starter:0.7.3"
    with pytest.raises(ConfigurationError) as caught:
        stack.settings_from(**BASE, distribution_image=image)
    for shown in (str(caught.value), str(caught.value.__cause__)):
        assert "PLANTED" not in shown and "0123456789abcdef" not in shown
    assert "distribution_image: an image reference carries no credentials" in str(caught.value)


def test_a_stack_name_too_long_for_its_versions_is_said_with_its_own_limit():
    request = StackRequest(
        serving_url=BASE["vllm_url"], serving_model="llama", revision="0" * 40,
        mcp_url="http://mcp:3000/mcp", name="l" * 56,
    )  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        request.settings("ai", RUNNER)
    [error] = caught.value.__cause__.errors()
    assert error["loc"] == ("name",)
    assert "-0000000" not in error["msg"]
    assert f"'{'l' * 56}' (56 characters) is longer than 55 characters" in error["msg"]
    assert (
        request.model_copy(update={"name": "l" * 55}).settings("ai", RUNNER).name
        == "l" * 55 + "-0000000"
    )


def test_the_stack_checks_tokens_with_the_api_server_and_admits_its_clients_alone():
    request = StackRequest(
        serving_url=BASE["vllm_url"], serving_model="llama", revision="abcdef0123",
        mcp_url="http://mcp:3000/mcp",
        access=StackAccess(workbench_service_account="notebook", lightspeed_service_account="ls"),
    )  # fmt: skip
    config_map = stack.stack_objects(request.settings("ai", RUNNER), operator=True)[0]
    auth = yaml.safe_load(config_map["data"]["config.yaml"])["server"]["auth"]
    assert auth["provider_config"] == {
        "type": "kubernetes",
        "api_server_url": "https://kubernetes.default.svc",
        "claims_mapping": {"username": "roles", "groups": "roles"},
        "tls_cafile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    }
    named = {rule.get("when", "anyone") for rule in auth["route_policy"]}
    assert named == {
        "anyone",
        f"user with {RUNNER} in roles",
        "user with system:serviceaccount:ai:ls in roles",
        "user with system:serviceaccount:ai:notebook in roles",
        "user with llama-stack-auditors in roles",
    }
    assert auth["route_policy"][0] == {
        "permit": {"paths": ["/v1/health", "/v1/version"]},
        "description": "health and version: anyone",
    }
    callers = {
        r["when"] for r in auth["access_policy"] if r["permit"].get("resource") == "model::*"
    }
    assert "user with llama-stack-auditors in roles" not in callers and len(callers) == 3
    assert auth["access_policy"][-1]["when"] == "user is owner"


def test_who_may_call_the_stack_follows_the_parameters():
    def clients(**access):
        return StackAccess(**access).clients("ai", RUNNER, lightspeed=True)

    assert clients().lightspeed == "system:serviceaccount:ai:lightspeed-model-client"
    assert clients().workbench == ""
    assert clients(workbench_service_account="team:nb").workbench == "system:serviceaccount:team:nb"
    assert StackAccess().clients("ai", RUNNER, lightspeed=False).lightspeed == ""
    assert clients(auditors="").auditors == ""
    for bad in ("Team:nb", "a:b:c", "nb/x", ":"):
        with pytest.raises(ValidationError, match="NAME or NAMESPACE:NAME"):
            StackAccess(workbench_service_account=bad)


def test_a_fallback_stack_with_no_client_namespace_admits_no_one():
    # A rule without peers would admit every source: the policy has no rule instead.
    settings = stack.StackSettings(**BASE)
    assert settings.allowed_namespaces == ()
    policy = stack.stack_objects(settings, operator=False)[-1]
    assert policy["spec"]["ingress"] == []
    pod = Pod("ai", policy["spec"]["podSelector"]["matchLabels"])
    for caller, source in CALLERS.items():
        assert not admits([policy], NAMESPACES, source, pod, Port(stack.PORT)), caller


def test_the_stack_exports_traces_where_told_and_the_operator_s_command_stands_otherwise():
    quiet = stack.StackSettings(**BASE)
    told = stack.StackSettings(
        **BASE, otlp_endpoint="http://otel-collector.observability.svc:4318/"
    )
    for settings in (quiet, told):
        _, llsd = stack.stack_objects(settings, operator=True)
        container = llsd["spec"]["server"]["containerSpec"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if settings is quiet:
            assert "command" not in container, "the operator's own start script stands"
            assert not [name for name in env if name.startswith("OTEL_")]
            continue
        # The operator's start command for a mounted config, under the instrumentation.
        assert container["command"] == [
            "opentelemetry-instrument", "uvicorn", "llama_stack.core.server.server:create_app",
            "--factory", "--host", "0.0.0.0", "--port", "$(LLS_PORT)", "--workers", "$(LLS_WORKERS)",
        ]  # fmt: skip
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability.svc:4318"
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf", "the images have no gRPC"
        assert env["OTEL_SERVICE_NAME"] == settings.name
        assert "OTEL_EXPORTER_OTLP_CERTIFICATE" not in env, "an http collector needs no CA"
    secure = stack.StackSettings(
        **BASE, otlp_endpoint="https://otel-collector.observability.svc:4318"
    )
    _, llsd = stack.stack_objects(secure, operator=True)
    env = {e["name"]: e.get("value") for e in llsd["spec"]["server"]["containerSpec"]["env"]}
    assert env["OTEL_EXPORTER_OTLP_CERTIFICATE"].endswith("/serviceaccount/service-ca.crt")


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("otel-collector:4318", r"the collector 'otel-collector:4318' is not an http\(s\) URL"),
        ("http://admin:hunter2@collector:4318", r"carries credentials"),
        ("http://collector:4317", r"OTLP's gRPC port, and the stack exports over HTTP"),
        ("http://collector:4318/v1/traces", r"ends in a signal's path"),
    ],
)
def test_a_collector_that_is_no_url_is_refused_and_its_password_not_shown(endpoint, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        stack.settings_from(**BASE, otlp_endpoint=endpoint)
    assert "hunter2" not in str(caught.value)


STEP = {"serving_url": "https://llama-predictor.ai.svc.cluster.local:8443/v1",
        "serving_model": "llama", "revision": "a" * 40}  # fmt: skip


def test_with_auth_on_the_stack_calls_vllm_with_its_own_token_and_trusts_the_service_ca():
    on = StackRequest(**STEP).settings("ai", RUNNER)
    assert on.vllm_token_secret == "llama-stack-model-client-token"
    assert on.vllm_tls_verify == "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
    env = {e["name"]: e for e in on.container_env("d")}
    assert env["VLLM_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "llama-stack-model-client-token", "key": "token",
    }  # fmt: skip
    off = StackRequest(**STEP | {"serving_url": "http://llama-predictor/v1"}, serving_auth=False)
    plain = off.settings("ai", RUNNER)
    assert (plain.vllm_token_secret, plain.vllm_tls_verify) == ("", True)
    assert "VLLM_API_TOKEN" not in {e["name"] for e in plain.container_env("d")}
    with pytest.raises(ValidationError, match="vllm_token_secret is empty while enable_auth is on"):
        StackRequest(**STEP, vllm_token_secret="")
