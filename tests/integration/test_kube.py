"""kube.py against the fake API server, driven by the real kubernetes client."""

from __future__ import annotations

import pytest

from llama_rollout import kube
from tests.fake_kube import running

pytestmark = pytest.mark.integration


def config_map(data: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    meta = {"name": "settings", "namespace": "ai", "labels": labels or {"app": "x"}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def isvc(replicas: int = 1) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "llama", "namespace": "ai"},
        "spec": {
            "predictor": {"minReplicas": replicas, "model": {"modelFormat": {"name": "vLLM"}}}
        },
    }


def test_apply_creates_then_is_a_no_op_when_unchanged(cluster, fake):
    first = cluster.apply(isvc())
    assert first["metadata"]["generation"] == 1
    again = cluster.apply(isvc())
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1
    changed = cluster.apply(isvc(replicas=2))
    assert changed["metadata"]["generation"] == 2
    assert any("fieldManager=llama-rollout" in r and "PATCH" in r for r in fake.requests)


def test_apply_keeps_fields_of_other_managers_and_drops_its_own_removed_ones(cluster, fake):
    cluster.apply(config_map({"a": "1", "b": "2"}))
    stored = fake.get("configmaps", "settings", "ai")
    stored["metadata"]["annotations"] = {"owner": "someone-else"}
    result = cluster.apply(config_map({"a": "1"}))
    assert result["data"] == {"a": "1"}
    assert result["metadata"]["annotations"] == {"owner": "someone-else"}


def test_status_is_not_touched_by_apply(cluster, fake):
    cluster.apply(isvc())
    fake.get("inferenceservices", "llama", "ai")["status"] = {"url": "http://x"}
    result = cluster.apply(isvc(replicas=3))
    assert result["status"] == {"url": "http://x"}


def test_discovery(cluster, fake):
    assert cluster.serves("serving.kserve.io/v1beta1", "InferenceService")
    assert not cluster.serves("example.com/v1", "Widget")
    with pytest.raises(kube.KubeError, match="does not serve Widget"):
        cluster.resource("example.com/v1", "Widget")


def test_get_list_delete(cluster):
    assert cluster.get("v1", "ConfigMap", "settings", "ai") is None
    cluster.apply(config_map({"a": "1"}, labels={"app": "llama"}))
    assert cluster.get("v1", "ConfigMap", "settings", "ai")["data"] == {"a": "1"}
    assert [
        o["metadata"]["name"]
        for o in cluster.list("v1", "ConfigMap", "ai", labels={"app": "llama"})
    ] == ["settings"]
    assert cluster.list("v1", "ConfigMap", "ai", labels={"app": "other"}) == []
    assert cluster.delete("v1", "ConfigMap", "settings", "ai")
    assert not cluster.delete("v1", "ConfigMap", "settings", "ai")


def test_missing_namespace_is_named(cluster):
    with pytest.raises(kube.KubeError, match="namespace 'nowhere' does not exist"):
        cluster.require_namespace("nowhere")
    bad = isvc()
    bad["metadata"]["namespace"] = "nowhere"
    with pytest.raises(kube.KubeError, match='namespaces "nowhere" not found'):
        cluster.apply(bad)


def test_forbidden_names_the_missing_permission(cluster, fake):
    fake.forbidden.add(("patch", "inferenceservices"))
    with pytest.raises(kube.PermissionDenied) as excinfo:
        cluster.apply(isvc())
    message = str(excinfo.value)
    assert (
        "lacks permission to patch inferenceservices (API group serving.kserve.io) in namespace ai"
        in message
    )
    assert "system:serviceaccount:ai-project:pipeline-runner-dspa" in message
    assert "verb 'patch' on 'inferenceservices'" in message


def test_pod_problems(cluster, fake):
    def pod(name: str, status: dict) -> dict:
        meta = {"name": name, "namespace": "ai", "labels": {"app": "llama"}}
        return {"metadata": meta, "spec": {}, "status": status}

    fake.put("pods", pod("crash", {"containerStatuses": [{
        "name": "kserve-container", "image": "vllm:1", "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    }]}))  # fmt: skip
    fake.pod_logs[("ai", "crash")] = "loading\nValueError: unsupported model architecture\n"
    fake.put("pods", pod("pull", {"containerStatuses": [{
        "name": "kserve-container", "image": "quay.io/x/vllm:nope", "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}},
    }]}))  # fmt: skip
    fake.put("pods", pod("pending", {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    }]}))  # fmt: skip
    problems = [p.message for p in kube.pod_problems(cluster, "ai", {"app": "llama"})]
    assert problems == [
        "container kserve-container of pod crash is in CrashLoopBackOff (4 restarts); last log line: ValueError: unsupported model architecture",
        "pod pending cannot be scheduled (Unschedulable): 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        "pod pull cannot pull image quay.io/x/vllm:nope (ImagePullBackOff): manifest unknown",
    ]


def test_wait_until_reports_failure_and_deadline():
    looks = iter([kube.Readiness(state="Pending"), kube.Readiness(failure="model failed to load")])
    with pytest.raises(kube.NotReady, match="llama failed: model failed to load"):
        kube.wait_until(lambda: next(looks), what="llama", timeout=5, interval=0)
    with pytest.raises(kube.NotReady, match=r"not ready after 0s; last state: Loading \(2/3\)"):
        kube.wait_until(
            lambda: kube.Readiness(state="Loading (2/3)"), what="llama", timeout=0, interval=0
        )


def test_the_kubeconfig_is_read_from_the_environment_when_a_step_runs(fake, tmp_path, monkeypatch):
    import json

    import kubernetes.config  # imported first, as any earlier use of the client does

    assert kubernetes.config
    with running(fake) as url:
        config = tmp_path / "kubeconfig"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        }))  # fmt: skip
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        assert kube.Kube(kube.api_client()).get("v1", "Namespace", "ai")["metadata"]["name"] == "ai"
