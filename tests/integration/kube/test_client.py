"""kube.py against the fake API server, driven by the real kubernetes client."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from llama_rollout import kube
from tests.fake_kube import running, write_kubeconfig

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


def phase_of(obj):
    phase = ((obj or {}).get("status") or {}).get("phase", "Pending")
    if phase == "Failed":
        return kube.Readiness(failure="the model failed to load")
    return kube.Readiness(ready=phase == "Ready", state=f"phase {phase}")


def reads_of(fake, name: str) -> int:
    return len(
        [r for r in fake.requests if r.startswith("GET") and r.split("?")[0].endswith(f"/{name}")]
    )


def test_a_wait_follows_the_watch_not_a_polling_loop(cluster, fake, caplog):
    fake.put(
        "configmaps",
        {"metadata": {"name": "llama", "namespace": "ai"}, "status": {"phase": "Pending"}},
    )

    def controller():
        time.sleep(0.5)
        with fake._lock:
            fake.get("configmaps", "llama", "ai")["status"] = {"phase": "Ready"}

    threading.Thread(target=controller).start()
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="llama_rollout.kube.waits"):
        ready = kube.watch_until(cluster, "v1", "ConfigMap", "llama", "ai", phase_of,
                                 timeout=60, resync=30)  # fmt: skip
    seen = [r.getMessage() for r in caplog.records if r.name == "llama_rollout.kube.waits"]
    assert ready.ready and seen == ["ConfigMap ai/llama: phase Pending"]
    assert reads_of(fake, "llama") == 1, "one read, then the watch: no polling"
    assert time.monotonic() - started < 15, "the change came with the watch, not at the resync"


def test_a_wait_stops_at_the_first_failure_and_reports_the_last_state_at_the_deadline(
    cluster, fake
):
    fake.put(
        "configmaps",
        {"metadata": {"name": "llama", "namespace": "ai"}, "status": {"phase": "Loading"}},
    )
    with pytest.raises(
        kube.NotReady, match=r"ConfigMap ai/llama not ready after 2s; last state: phase Loading"
    ):
        kube.watch_until(cluster, "v1", "ConfigMap", "llama", "ai", phase_of, timeout=2, resync=1)
    assert reads_of(fake, "llama") >= 2, "a fresh read at every resync"
    fake.on_read(
        "configmaps",
        "llama",
        lambda obj, fake: obj.update(status={"phase": "Failed"}),
        namespace="ai",
    )
    with pytest.raises(kube.NotReady, match="ConfigMap ai/llama failed: the model failed to load"):
        kube.watch_until(cluster, "v1", "ConfigMap", "llama", "ai", phase_of, timeout=30, resync=10)


def test_the_kubeconfig_is_read_from_the_environment_when_a_step_runs(fake, tmp_path, monkeypatch):
    import kubernetes.config  # imported first, as any earlier use of the client does

    assert kubernetes.config
    with running(fake) as url:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", url, "t")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        assert kube.Kube(kube.api_client()).get("v1", "Namespace", "ai")["metadata"]["name"] == "ai"
