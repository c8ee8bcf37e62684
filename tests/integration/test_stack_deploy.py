"""Deploying Llama Stack on the fake API: operator path, fallback path, readiness and failures."""

from __future__ import annotations

import pytest
import yaml

from llama_rollout import kube, stack
from llama_rollout.stack_deploy import deploy_stack

pytestmark = pytest.mark.integration
SETTINGS = stack.StackSettings(
    namespace="ai", vllm_url="http://llama-predictor.ai.svc.cluster.local:8080/v1"
)


def after(polls: int, change):
    seen = {"n": 0}

    def hook(obj, fake):
        seen["n"] += 1
        if seen["n"] >= polls:
            change(obj)

    return hook


def ready_llsd(obj):
    obj["status"] = {"phase": "Ready", "serviceURL": "http://llama-stack-service.ai.svc.cluster.local:8321",
                     "version": {"llamaStackServerVersion": "0.7.3"}}  # fmt: skip


def test_operator_path(cluster, fake):
    fake.on_read("llamastackdistributions", "llama-stack", after(3, ready_llsd), namespace="ai")
    url = deploy_stack(cluster, SETTINGS, timeout=10, interval=0.01)
    assert url == "http://llama-stack-service.ai.svc.cluster.local:8321"
    config_map = fake.get("configmaps", "llama-stack-config", "ai")
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert config["providers"]["inference"][0]["config"]["base_url"] == SETTINGS.vllm_url
    llsd = fake.get("llamastackdistributions", "llama-stack", "ai")
    assert llsd["spec"]["server"]["userConfig"]["configMapName"] == "llama-stack-config"
    assert fake.get("deployments", "llama-stack", "ai") is None


def test_fallback_path_without_the_operator(cluster, fake):
    fake.without("llamastack.io")

    def available(obj):
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": 1,
            "availableReplicas": 1,
        }

    fake.on_read("deployments", "llama-stack", after(2, available), namespace="ai")
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
