"""Deploying Llama Stack on the fake API: operator path, fallback path, readiness and failures."""

from __future__ import annotations

import copy
import hashlib
import inspect

import pytest
import yaml

from llama_rollout import kube, stack
from llama_rollout.stack.access import StackClients
from llama_rollout.stack.openshift import deploy_stack
from llama_rollout.stack.request import StackAccess, StackRequest

pytestmark = pytest.mark.integration
SETTINGS = stack.StackSettings(
    namespace="ai",
    vllm_url="http://llama-predictor.ai.svc.cluster.local:8080/v1",
    clients=StackClients(pipeline="system:serviceaccount:ai:pipeline-runner-dspa"),
)


def after(polls: int, change):
    """A controller that applies ``change(obj[, fake])`` from the ``polls``-th read on."""
    seen = {"n": 0}

    def hook(obj, fake):
        seen["n"] += 1
        if seen["n"] >= polls:
            if len(inspect.signature(change).parameters) == 2:
                change(obj, fake)
            else:
                change(obj)

    return hook


def rolled_out(obj):
    replicas = obj["spec"].get("replicas", 1)
    obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                     "updatedReplicas": replicas, "availableReplicas": replicas}  # fmt: skip


def ready_llsd(obj, fake):
    """The operator: the CR Ready, and its Deployment rolled out with the CR's env."""
    obj["status"] = {"phase": "Ready", "serviceURL": "http://llama-stack-service.ai.svc.cluster.local:8321",
                     "version": {"llamaStackServerVersion": "0.7.3"}}  # fmt: skip
    container = {"name": "llama-stack", "env": obj["spec"]["server"]["containerSpec"]["env"]}
    deployment = {
        "metadata": {"name": obj["metadata"]["name"], "namespace": "ai", "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
    }
    rolled_out(deployment)
    fake.put("deployments", deployment)


def test_operator_path(cluster, fake):
    fake.on_read("llamastackdistributions", "llama-stack", after(3, ready_llsd), namespace="ai")
    url = deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    assert url == "http://llama-stack-service.ai.svc.cluster.local:8321"
    config_map = fake.get("configmaps", "llama-stack-config", "ai")
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert config["providers"]["inference"][0]["config"]["base_url"] == SETTINGS.vllm_url
    llsd = fake.get("llamastackdistributions", "llama-stack", "ai")
    assert llsd["spec"]["server"]["userConfig"]["configMapName"] == "llama-stack-config"
    assert "network" not in llsd["spec"], "same namespace: the operator's defaults admit the step"
    digest = hashlib.sha256(config_map["data"]["config.yaml"].encode()).hexdigest()
    env = {e["name"]: e.get("value") for e in llsd["spec"]["server"]["containerSpec"]["env"]}
    assert env[stack.CONFIG_DIGEST_ENV] == digest


def without_spec_field(fake, parent: str, field: str) -> None:
    """The served LLSD schema as an older operator's CRD has it: ``spec.<parent>.<field>`` gone."""
    key = ("llamastack.io", "v1alpha1", "LlamaStackDistribution")
    schema = fake.schemas[key]
    spec = copy.deepcopy(schema["properties"]["spec"])
    del spec["properties"][parent]["properties"][field]
    fake.schemas[key] = {**schema, "properties": {**schema["properties"], "spec": spec}}


def test_an_operator_that_cannot_run_0_7_gets_the_deployment_path(cluster, fake, caplog):
    # The RHOAI 2.x operator's CRD: no spec.network (2.22) or no spec.server.workers (2.25).
    without_spec_field(fake, "server", "workers")
    fake.on_read("deployments", "llama-stack", after(1, rolled_out), namespace="ai")
    url = deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    assert url == "http://llama-stack-service.ai.svc.cluster.local:8321"
    assert fake.get("llamastackdistributions", "llama-stack", "ai") is None
    assert fake.get("deployments", "llama-stack", "ai")["spec"]["template"]["spec"]["containers"][
        0
    ]["command"][:3] == ["llama", "stack", "run"]
    assert "llama_stack.core.server.server with a run.yaml" in caplog.text


def test_the_namespaces_of_the_stack_s_clients_are_admitted(cluster, fake):
    request = StackRequest(
        serving_url=SETTINGS.vllm_url, serving_model="llama", revision="abcdef0123",
        mcp_url="http://mcp:3000/mcp", name="llama-stack",
        access=StackAccess(workbench_service_account="team-b:explorer"),
    )  # fmt: skip
    settings = request.settings("ai", "system:serviceaccount:pipelines:pipeline-runner-dspa")
    name = settings.name
    fake.put("secrets", model_client_token())
    fake.on_read("llamastackdistributions", name, after(1, ready_llsd), namespace="ai")
    deploy_stack(cluster, settings, timeout=10, interval=0.01)
    llsd = fake.get("llamastackdistributions", name, "ai")
    assert llsd["spec"]["network"] == {
        "allowedFrom": {"namespaces": ["openshift-lightspeed", "pipelines", "team-b"]}
    }


def model_client_token(token: str = "c2EtdG9rZW4=") -> dict:
    """manifests/pipeline-runner's token Secret, filled by the token controller."""
    return {"metadata": {"name": "llama-stack-model-client-token", "namespace": "ai",
                         "annotations": {"kubernetes.io/service-account.name": "llama-stack-model-client"}},
            "type": "kubernetes.io/service-account-token", "data": {"token": token} if token else {}}  # fmt: skip


def test_with_vllm_auth_on_the_stack_gets_its_token_secret_or_nothing_is_applied(cluster, fake):
    request = StackRequest(
        serving_url="https://llama-predictor.ai.svc.cluster.local:8443/v1", serving_model="llama",
        revision="abcdef0123", mcp_url="http://mcp:3000/mcp", name="llama-stack",
    )  # fmt: skip
    settings = request.settings("ai", "system:serviceaccount:ai:pipeline-runner-dspa")
    with pytest.raises(
        kube.KubeError, match=r"no Secret ai/llama-stack-model-client-token"
    ) as caught:
        deploy_stack(cluster, settings, timeout=10, interval=0.01)
    assert "oc apply -k manifests/pipeline-runner -n ai" in caught.value.hint
    fake.put("secrets", model_client_token(token=""))
    with pytest.raises(kube.KubeError, match=r"has no key token"):
        deploy_stack(cluster, settings, timeout=10, interval=0.01)
    assert fake.get("llamastackdistributions", settings.name, "ai") is None, "nothing applied"
    assert fake.get("configmaps", f"{settings.name}-config", "ai") is None
    fake.put("secrets", model_client_token())
    fake.on_read("llamastackdistributions", settings.name, after(1, ready_llsd), namespace="ai")
    deploy_stack(cluster, settings, timeout=10, interval=0.01)
    llsd = fake.get("llamastackdistributions", settings.name, "ai")
    env = {e["name"]: e for e in llsd["spec"]["server"]["containerSpec"]["env"]}
    assert (
        env["VLLM_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
        == "llama-stack-model-client-token"
    )


def test_a_changed_config_rolls_the_pods_and_old_pods_do_not_count(cluster, fake):
    fake.without("llamastack.io")
    fake.on_read("deployments", "llama-stack", after(1, rolled_out), namespace="ai")
    deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    first = copy.deepcopy(fake.get("deployments", "llama-stack", "ai"))
    fake.read_hooks.clear()  # the controller is slow now: the old status stays
    changed = SETTINGS.model_copy(update={"vllm_max_tokens": 1024})
    with pytest.raises(kube.NotReady, match="new spec to be observed"):
        deploy_stack(cluster, changed, timeout=0.05, interval=0.01)
    second = fake.get("deployments", "llama-stack", "ai")
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    env = lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"]  # noqa: E731
    assert env(first) != env(second), "the config digest is in the pod template"


def test_fallback_path_without_the_operator(cluster, fake):
    fake.without("llamastack.io")

    fake.on_read("deployments", "llama-stack", after(2, rolled_out), namespace="ai")
    url = deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    assert url == "http://llama-stack-service.ai.svc.cluster.local:8321"
    assert fake.get("persistentvolumeclaims", "llama-stack-pvc", "ai")["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    assert fake.get("services", "llama-stack-service", "ai")["spec"]["ports"][0]["port"] == 8321
    assert not any(key[0] == "llamastackdistributions" for key in fake.objects)
    assert (
        fake.get("deployments", "llama-stack", "ai")["spec"]["template"]["spec"]["volumes"][0][
            "configMap"
        ]["name"]
        == "llama-stack-config"
    )


def test_failed_phase_names_the_condition(cluster, fake):
    def failed(obj):
        obj["status"] = {"phase": "Failed", "conditions": [
            {"type": "DeploymentReady", "status": "False", "reason": "DeploymentFailed", "message": "pods failing"},
            {"type": "HealthCheck", "status": "False", "reason": "Unhealthy", "message": "GET /v1/health refused"},
        ]}  # fmt: skip

    fake.on_read("llamastackdistributions", "llama-stack", after(1, failed), namespace="ai")
    with pytest.raises(
        kube.NotReady, match=r"phase Failed .*HealthCheck Unhealthy: GET /v1/health refused"
    ):
        deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)


@pytest.mark.parametrize(
    ("waiting", "log", "expected"),
    [
        (
            {"reason": "CrashLoopBackOff"},
            "ValueError: Provider `remote::vllm` config: base_url must end in /v1\n",
            r"CrashLoopBackOff .* last log line: ValueError: Provider `remote::vllm` config",
        ),
        (
            {"reason": "ImagePullBackOff", "message": "manifest unknown"},
            "",
            r"cannot pull image .*manifest unknown",
        ),
    ],
    ids=["config-rejected", "image-pull"],
)
def test_pod_failures(cluster, fake, waiting, log, expected):
    labels = {"app.kubernetes.io/instance": "llama-stack"}
    fake.put("pods", {"metadata": {"name": "llama-stack-abc", "namespace": "ai", "labels": labels}, "status": {
        "containerStatuses": [{"name": "llama-stack", "image": stack.DEFAULT_IMAGE, "restartCount": 2, "state": {"waiting": waiting}}],
    }})  # fmt: skip
    fake.pod_logs[("ai", "llama-stack-abc")] = log
    with pytest.raises(kube.NotReady, match=expected):
        deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)


def test_deadline_and_unknown_namespace(cluster, fake):
    fake.on_read(
        "llamastackdistributions",
        "llama-stack",
        after(1, lambda o: o.update(status={"phase": "Initializing"})),
        namespace="ai",
    )
    with pytest.raises(kube.NotReady, match="last state: phase Initializing"):
        deploy_stack(cluster, SETTINGS, timeout=0.05, interval=0.01)
    before = len([r for r in fake.requests if r.startswith(("PATCH", "POST"))])
    with pytest.raises(kube.KubeError, match="namespace 'elsewhere' does not exist"):
        deploy_stack(
            cluster,
            SETTINGS.model_copy(update={"namespace": "elsewhere"}),
            timeout=1,
            interval=0.01,
        )
    assert len([r for r in fake.requests if r.startswith(("PATCH", "POST"))]) == before


def test_an_operator_without_allowed_from_is_named_with_the_policy_to_add(cluster, fake, caplog):
    without_spec_field(fake, "network", "allowedFrom")
    fake.on_read("llamastackdistributions", "llama-stack", after(1, ready_llsd), namespace="ai")
    admits_lightspeed = SETTINGS.model_copy(
        update={"allowed_namespaces": ("openshift-lightspeed",)}
    )
    deploy_stack(cluster, admits_lightspeed, timeout=10, interval=0.01)
    assert (
        "has no spec.network.allowedFrom.namespaces: its NetworkPolicy will refuse "
        "openshift-lightspeed; add a NetworkPolicy in ai admitting them to the pods "
        "app.kubernetes.io/instance=llama-stack on port 8321"
    ) in caplog.text
    caplog.clear()
    deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    assert "allowedFrom" not in caplog.text, "nothing to admit, nothing to say"


def test_the_fallback_applies_its_network_policy(cluster, fake):
    fake.without("llamastack.io")
    fake.on_read("deployments", "llama-stack", after(1, rolled_out), namespace="ai")
    admits_lightspeed = SETTINGS.model_copy(
        update={"allowed_namespaces": ("openshift-lightspeed",)}
    )
    deploy_stack(cluster, admits_lightspeed, timeout=10, interval=0.01)
    policy = fake.get("networkpolicies", "llama-stack-network-policy", "ai")
    pod_labels = fake.get("deployments", "llama-stack", "ai")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert policy["spec"]["podSelector"] == {"matchLabels": pod_labels}
    assert {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": "openshift-lightspeed"}
        }
    } in (policy["spec"]["ingress"][0]["from"])


def test_the_mcp_server_s_token_is_read_before_anything_is_applied(cluster, fake):
    from llama_rollout.stack.openshift import serve

    request = StackRequest(
        serving_url="http://llama-predictor.ai.svc.cluster.local:8080/v1", serving_model="llama",
        revision="abcdef0123", mcp_url="http://mcp:3000/mcp", namespace="ai", serving_auth=False,
        mcp_token_secret="cluster-health-mcp-token",
    )  # fmt: skip
    with pytest.raises(kube.KubeError, match=r"no token in Secret ai/cluster-health-mcp-token"):
        serve(request, kube=cluster)
    assert fake.get("llamastackdistributions", "llama-stack-abcdef0", "ai") is None
    assert fake.get("configmaps", "llama-stack-abcdef0-config", "ai") is None
