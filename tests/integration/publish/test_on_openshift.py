"""Publishing on OpenShift against the fake API with RBAC from manifests/lightspeed-publisher,
the Lightspeed operator's and app server's stand-ins, and the real Model Registry client
against the registry server (the cluster: conftest.py).

Blue/green: version A is live, version B comes up beside it and takes its place, and A is
removed; when B fails, A stays serving and published.
"""

from __future__ import annotations

import base64
import contextlib
import copy

import pytest
import yaml

from llama_rollout import registry
from llama_rollout.errors import RolloutError
from llama_rollout.kube import KubeError
from llama_rollout.publish import lease, live
from llama_rollout.publish.lightspeed import LightspeedMissing, PublishError
from llama_rollout.publish.olsconfig import McpShape
from llama_rollout.publish.openshift import publish as publish_on_openshift
from llama_rollout.registry.publications import PUBLISHED, REMOVED, RETIRED, published_versions
from tests.integration.publish.conftest import (
    LIGHTSPEED_NS,
    NS,
    REVISION_A,
    REVISION_B,
    granted_by_manifests,
    providers,
    request_for,
    serve_version,
    short_timeout,
)

pytestmark = pytest.mark.integration


class WritesAfterEachRead:
    """The cluster as the step sees it, with another writer at work between each read of
    an object and the step's write of it."""

    def __init__(self, kube, other_writer) -> None:
        self._kube, self._other_writer = kube, other_writer

    def __getattr__(self, name):
        return getattr(self._kube, name)

    def get(self, *args, **kwargs):
        found = self._kube.get(*args, **kwargs)
        self._other_writer()
        return found


def test_publishing_merges_one_provider_waits_asks_and_records(cluster, versions, tmp_path):
    fake, kube, lightspeed, url, _ = cluster
    registry_url, connected = versions
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    serve_version(fake, REVISION_A)
    outcome = publish_on_openshift(request_for(REVISION_A, registry_url, url), tmp_path, kube=kube,
                                   token="runner")  # fmt: skip
    spec = fake.get("olsconfigs", "cluster")["spec"]
    assert [p["name"] for p in spec["llm"]["providers"]] == ["openai", "gemini", "llamastack"]
    assert spec["llm"]["providers"][:2] == before["llm"]["providers"], "the others are kept"
    ours = spec["llm"]["providers"][2]
    assert ours["type"] == "rhoai_vllm"
    assert ours["url"] == f"http://llama-stack-{REVISION_A[:7]}-service.{NS}.svc:8321/v1"
    assert ours["models"] == [{"name": "vllm/llama-3-2-3b-instruct", "contextWindowSize": 32768,
                               "parameters": {"maxTokensForResponse": 2048}}]  # fmt: skip
    assert spec["ols"] == {"defaultProvider": "llamastack",
                           "defaultModel": "vllm/llama-3-2-3b-instruct"}  # fmt: skip
    assert spec["featureGates"] == ["MCPServer"]
    assert spec["mcpServers"] == [{"name": "cluster-health", "url": f"http://mcp.{NS}.svc:3000/mcp",
                                   "timeout": 30}]  # fmt: skip
    secret = fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS)
    # Llama Stack checks tokens: Lightspeed's is its service account's (the model client's).
    assert secret["data"] == {"apitoken": base64.b64encode(b"model-client-token").decode()}
    assert "credentialKey" not in ours, "the operator reads the file apitoken whatever it says"
    # The question went through the new provider and model, after the rollout.
    assert lightspeed.asked == [{"query": lightspeed.asked[0]["query"], "provider": "llamastack",
                                 "model": "vllm/llama-3-2-3b-instruct"}]  # fmt: skip
    assert outcome.changed and outcome.retired == ()
    written = yaml.safe_load(outcome.files["olsconfig"].read_text())
    assert written["spec"] == spec and "status" not in written
    assert yaml.safe_load(outcome.files["before"].read_text())["spec"] == before
    (recorded,) = published_versions(connected, "llama-3-2-3b-instruct")
    assert (recorded.name, recorded.revision, recorded.record.state) == (
        REVISION_A[:12],
        REVISION_A,
        PUBLISHED,
    )
    assert recorded.record.serving_name == f"llama-3-2-3b-instruct-{REVISION_A[:7]}"
    # The Lease was held, and is released.
    held = fake.get("leases", lease.NAME, LIGHTSPEED_NS)
    assert held["spec"]["holderIdentity"] is None
    assert [a for a in fake.audit if not a.allowed] == []

    # Publishing again changes nothing: the same generation, no rollout to wait for.
    generation = fake.get("olsconfigs", "cluster")["metadata"]["generation"]
    again = publish_on_openshift(request_for(REVISION_A, registry_url, url), tmp_path / "2",
                                 kube=kube, token="runner")  # fmt: skip
    assert not again.changed
    assert fake.get("olsconfigs", "cluster")["metadata"]["generation"] == generation
    assert fake.get("olsconfigs", "cluster")["spec"] == spec


def test_a_write_in_between_is_merged_again_not_lost(cluster, versions, tmp_path):
    from llama_rollout.publish.lightspeed import write_merged

    fake, kube, _, _, _ = cluster
    request = request_for(REVISION_A, versions[0], "http://unused")
    wrote = {"n": 0}

    def someone_else_adds_a_provider():
        if wrote["n"]:
            return
        wrote["n"] += 1
        current = fake.get("olsconfigs", "cluster")
        changed = copy.deepcopy(current)
        changed["spec"]["llm"]["providers"].append(
            {"name": "watsonx", "type": "watsonx", "projectID": "p", "models": [{"name": "granite"}],
             "credentialsSecretRef": {"name": "watsonx-credentials"}})  # fmt: skip
        changed["metadata"]["generation"] += 1
        changed["metadata"]["resourceVersion"] = str(
            int(current["metadata"]["resourceVersion"]) + 1
        )
        fake.put("olsconfigs", changed)

    written = write_merged(
        WritesAfterEachRead(kube, someone_else_adds_a_provider), request.publication(),
        McpShape.URL,
    )  # fmt: skip
    assert written.attempts == 2, "the first write met a Conflict"
    assert [p["name"] for p in providers(fake)] == ["openai", "gemini", "watsonx", "llamastack"]


@pytest.mark.parametrize(
    "failure", ["crash-loop", "stuck-rollout", "never-ready", "lightspeed-refuses"]
)
def test_a_failed_publication_restores_the_previous_spec_exactly(
    cluster, versions, tmp_path, failure
):
    fake, kube, lightspeed, url, operator = cluster
    registry_url, connected = versions
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    request = request_for(REVISION_A, registry_url, url)
    if failure == "crash-loop":  # nothing else serves: the operator sees the crash loop
        operator.crash_loops, operator.old_pod_serves = True, False
    elif failure == "stuck-rollout":  # the new pod runs, never ready; the Deployment gives up
        operator.starts_in = 10_000
    elif failure == "never-ready":  # the operator is not running
        del fake.read_hooks[("olsconfigs", "", "cluster")]
        request = short_timeout(request)
    else:  # the operator rolls, but the app server still has the old configuration
        lightspeed.reload = lambda spec=None: None
    with pytest.raises(PublishError, match="restored to its previous spec") as failed:
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    assert fake.get("olsconfigs", "cluster")["spec"] == before
    reason = {"crash-loop": "CrashLoopBackOff", "stuck-rollout": "exceeded its progress deadline",
              "never-ready": "not reconciled generation",
              "lightspeed-refuses": "is not a valid provider"}[failure]  # fmt: skip
    assert reason in str(failed.value)
    assert published_versions(connected, "llama-3-2-3b-instruct") == [], "nothing recorded"
    assert fake.get("leases", lease.NAME, LIGHTSPEED_NS)["spec"]["holderIdentity"] is None


def test_without_lightspeed_nothing_is_written(cluster, versions, tmp_path):
    fake, kube, _, url, _ = cluster
    del fake.objects[("olsconfigs", "", "cluster", "ols.openshift.io")]
    writes = len(fake.requests)
    with pytest.raises(LightspeedMissing, match="OpenShift Lightspeed is not installed"):
        publish_on_openshift(request_for(REVISION_A, versions[0], url), tmp_path, kube=kube,
                             token="runner")  # fmt: skip
    assert not [r for r in fake.requests[writes:] if r.startswith(("POST", "PUT", "PATCH"))
                and "leases" not in r]  # fmt: skip
    assert fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS) is None


def test_a_second_run_fails_while_the_first_holds_the_lease(cluster, versions, tmp_path):
    fake, kube, _, url, _ = cluster
    with lease.held(kube, "run-first", seconds=600):
        with pytest.raises(lease.LeaseHeld, match=r"another run \(run-first\) is publishing"):
            publish_on_openshift(request_for(REVISION_A, versions[0], url), tmp_path, kube=kube,
                                 token="runner")  # fmt: skip
        assert len(providers(fake)) == 2, "nothing was published"
    # An expired Lease (a run killed while holding it) is taken over.
    expired = fake.get("leases", lease.NAME, LIGHTSPEED_NS)
    expired["spec"] = {"holderIdentity": "run-killed", "leaseDurationSeconds": 1,
                       "renewTime": "2026-01-01T00:00:00.000000Z"}  # fmt: skip
    publish_on_openshift(
        request_for(REVISION_A, versions[0], url), tmp_path, kube=kube, token="runner"
    )
    assert len(providers(fake)) == 3


def live_check(fake, kube, connected, revision):
    found = registry.publications.live_version(connected, "llama-3-2-3b-instruct")
    problems = live.check_cluster(found, NS, kube=kube) if found else []
    return live.verdict(found, revision, "llamastack", force=False, problems=problems)


@pytest.mark.parametrize("keep", [0, 1])
def test_blue_green_switches_then_removes_the_old_version(
    cluster, versions, tmp_path, keep, monkeypatch
):
    fake, kube, _, url, _ = cluster
    registry_url, connected = versions
    monkeypatch.setattr(live, "endpoint_problem", lambda *a, **k: None)  # no real endpoint here
    serve_version(fake, REVISION_A)
    publish_on_openshift(request_for(REVISION_A, registry_url, url), tmp_path / "a", kube=kube,
                         token="runner")  # fmt: skip
    assert not live_check(fake, kube, connected, REVISION_A).changed
    moved = live_check(fake, kube, connected, REVISION_B)
    assert moved.changed and "the source moved" in moved.reason

    serve_version(fake, REVISION_B)  # B comes up beside A; A still serves Lightspeed
    assert fake.get("inferenceservices", f"llama-3-2-3b-instruct-{REVISION_A[:7]}", NS)
    outcome = publish_on_openshift(request_for(REVISION_B, registry_url, url, keep_versions=keep),
                                   tmp_path / "b", kube=kube, token="runner")  # fmt: skip
    ours = [p for p in providers(fake) if p["name"] == "llamastack"]
    assert len(ours) == 1 and REVISION_B[:7] in ours[0]["url"]
    states = {
        v.name: v.record.state for v in published_versions(connected, "llama-3-2-3b-instruct")
    }
    old_isvc = fake.get("inferenceservices", f"llama-3-2-3b-instruct-{REVISION_A[:7]}", NS)
    old_stack = fake.get("llamastackdistributions", f"llama-stack-{REVISION_A[:7]}", NS)
    if keep:
        assert outcome.retired == () and old_isvc and old_stack
        assert states == {REVISION_A[:12]: RETIRED, REVISION_B[:12]: PUBLISHED}
    else:
        assert outcome.retired == (REVISION_A[:12],)
        assert old_isvc is None and old_stack is None
        assert fake.get("configmaps", f"llama-stack-{REVISION_A[:7]}-config", NS) is None
        old_policy = f"llama-stack-{REVISION_A[:7]}-network-policy"
        assert fake.get("networkpolicies", old_policy, NS) is None
        assert states == {REVISION_A[:12]: REMOVED, REVISION_B[:12]: PUBLISHED}
    assert fake.get("inferenceservices", f"llama-3-2-3b-instruct-{REVISION_B[:7]}", NS)
    assert not live_check(fake, kube, connected, REVISION_B).changed
    assert [a for a in fake.audit if not a.allowed] == []


def test_blue_green_failure_leaves_the_old_version_serving_and_published(
    cluster, versions, tmp_path, monkeypatch
):
    fake, kube, _, url, operator = cluster
    registry_url, connected = versions
    monkeypatch.setattr(live, "endpoint_problem", lambda *a, **k: None)
    serve_version(fake, REVISION_A)
    publish_on_openshift(request_for(REVISION_A, registry_url, url), tmp_path / "a", kube=kube,
                         token="runner")  # fmt: skip
    published_a = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    serve_version(fake, REVISION_B)
    operator.crash_loops, operator.old_pod_serves = True, False
    with pytest.raises(PublishError, match="restored"):
        publish_on_openshift(request_for(REVISION_B, registry_url, url), tmp_path / "b",
                             kube=kube, token="runner")  # fmt: skip
    assert fake.get("olsconfigs", "cluster")["spec"] == published_a
    assert fake.get("inferenceservices", f"llama-3-2-3b-instruct-{REVISION_A[:7]}", NS)
    states = {
        v.name: v.record.state for v in published_versions(connected, "llama-3-2-3b-instruct")
    }
    assert states == {REVISION_A[:12]: PUBLISHED}
    # The operator rolls the restored spec back out; then A is live and healthy as before.
    operator.crash_loops, operator.old_pod_serves = False, True
    operator.settle()
    still = live_check(fake, kube, connected, REVISION_A)
    assert not still.changed, still.reason


def test_a_token_for_vllm_comes_from_the_model_client_secret(cluster, versions, tmp_path):
    fake, kube, _, url, _ = cluster
    request = request_for(REVISION_A, versions[0], url, endpoint="vllm", serving_auth=True)
    publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    secret = fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS)
    assert secret["data"] == {"apitoken": base64.b64encode(b"model-client-token").decode()}
    ours = next(p for p in providers(fake) if p["name"] == "llamastack")
    assert (
        ours["url"] == request.serving_url and ours["models"][0]["name"] == "llama-3-2-3b-instruct"
    )
    token_secret = fake.get("secrets", "lightspeed-model-client-token", NS)
    annotations = token_secret["metadata"]["annotations"]
    annotations["kubernetes.io/service-account.name"] = "default"
    with pytest.raises(KubeError, match="holds the token of service account 'default', not of"):
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    del fake.objects[("secrets", NS, "lightspeed-model-client-token", "")]
    with pytest.raises(KubeError, match="manifests/lightspeed-publisher"):
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")


def publish_a_then_b(fake, kube, registry_url, url, tmp_path) -> None:
    for revision in (REVISION_A, REVISION_B):
        serve_version(fake, revision)
        publish_on_openshift(request_for(revision, registry_url, url), tmp_path / revision[:1],
                             kube=kube, token="runner")  # fmt: skip


def test_every_rule_of_the_publisher_manifests_is_used(cluster, versions, tmp_path, monkeypatch):
    fake, kube, lightspeed, url, _ = cluster
    registry_url, _ = versions
    publish_a_then_b(fake, kube, registry_url, url, tmp_path)
    assert [a for a in fake.audit if not a.allowed] == []
    runner_rules = {(g, r, v) for g, r, v in
                    ((a.group, a.resource, a.verb) for a in fake.audit)}  # fmt: skip
    assert granted_by_manifests() <= runner_rules, granted_by_manifests() - runner_rules
    assert lightspeed.asked, "the /ols-access rule let the question through"
    scopes = {(a.resource, a.namespace) for a in fake.audit if a.resource == "secrets"}
    assert ("secrets", LIGHTSPEED_NS) in scopes
    names = {a.name for a in fake.audit if a.resource == "olsconfigs"}
    assert names == {"cluster"}, "OLSConfig is only ever asked for by its name"


@pytest.mark.parametrize(
    "cluster", sorted(granted_by_manifests()), indirect=True,
    ids=lambda t: f"{t[0] or 'core'}/{t[1]}/{t[2]}",
)  # fmt: skip
def test_each_rule_of_the_publisher_manifests_is_needed(cluster, versions, tmp_path, request):
    fake, kube, _, url, _ = cluster
    triple = request.node.callspec.params["cluster"]
    with contextlib.suppress(RolloutError):  # a refusal after the write is restored, and said
        publish_a_then_b(fake, kube, versions[0], url, tmp_path)
    assert any(not a.allowed and a.rule == triple for a in fake.audit), f"nothing needed {triple}"


def test_an_mcp_server_that_requires_a_token_gets_it_from_a_header_secret(
    cluster, versions, tmp_path
):
    fake, kube, lightspeed, url, _ = cluster
    request = request_for(REVISION_A, versions[0], url, mcp_token_secret="cluster-health-mcp-token")
    serve_version(fake, REVISION_A)
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    # The MCP server's Secret missing: refused before anything is written.
    with pytest.raises(
        KubeError, match=r"no token in Secret .*/cluster-health-mcp-token"
    ) as caught:
        publish_on_openshift(request, tmp_path / "missing", kube=kube, token="runner")
    assert "oc create secret generic cluster-health-mcp-token" in caught.value.hint
    assert fake.get("olsconfigs", "cluster")["spec"] == before
    assert fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS) is None

    fake.put("secrets", {"metadata": {"name": "cluster-health-mcp-token", "namespace": NS},
                         "data": {"token": base64.b64encode(b"mcp-s3cret-token\n").decode()}})  # fmt: skip
    outcome = publish_on_openshift(request, tmp_path / "ok", kube=kube, token="runner")
    spec = fake.get("olsconfigs", "cluster")["spec"]
    assert spec["mcpServers"] == [{
        "name": "cluster-health", "url": f"http://mcp.{NS}.svc:3000/mcp", "timeout": 30,
        "headers": [{"name": "Authorization", "valueFrom": {
            "type": "secret", "secretRef": {"name": "cluster-health-mcp-header"}}}],
    }]  # fmt: skip
    header = fake.get("secrets", "cluster-health-mcp-header", LIGHTSPEED_NS)
    assert base64.b64decode(header["data"]["header"]) == b"Bearer mcp-s3cret-token"
    assert lightspeed.asked, "Lightspeed answered with the MCP server configured"
    assert [a for a in fake.audit if not a.allowed] == []
    for written in outcome.files.values():
        assert "mcp-s3cret-token" not in written.read_text()


OLSCONFIG_GVK = ("ols.openshift.io", "v1alpha1", "OLSConfig")


def test_an_operator_that_takes_mcp_headers_only_in_the_cr_is_refused_before_any_write(
    cluster, versions, tmp_path, monkeypatch
):
    fake, kube, _, url, _ = cluster
    fake.put("secrets", {"metadata": {"name": "cluster-health-mcp-token", "namespace": NS},
                         "data": {"token": base64.b64encode(b"mcp-s3cret-token").decode()}})  # fmt: skip
    # The CRD of operators 1.0.4-1.0.9 (lightspeed-operator api/v1alpha1 olsconfig_types.go at
    # 1.0.9): an MCP server's headers are a map of plain strings in the CR.
    served = copy.deepcopy(fake.schemas[OLSCONFIG_GVK])
    served["properties"]["spec"]["properties"]["mcpServers"]["items"] = {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "streamableHTTP": {"type": "object", "properties": {
            "url": {"type": "string"}, "timeout": {"type": "integer"},
            "sseReadTimeout": {"type": "integer"}, "enableSSE": {"type": "boolean"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}}}}},
    }  # fmt: skip
    monkeypatch.setitem(fake.schemas, OLSCONFIG_GVK, served)
    request = request_for(REVISION_A, versions[0], url, mcp_token_secret="cluster-health-mcp-token")
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    with pytest.raises(RolloutError, match=r"whose meaning changed in 1\.0\.6") as caught:
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    assert "1.0.10" in caught.value.hint
    assert fake.get("olsconfigs", "cluster")["spec"] == before
    assert fake.get("secrets", "cluster-health-mcp-header", LIGHTSPEED_NS) is None
    assert fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS) is None


def test_without_its_header_secret_lightspeed_s_new_pod_never_starts_and_is_restored(
    cluster, versions, tmp_path, monkeypatch
):
    """What writing the header Secret first prevents: the operator mounts it whole and not
    optional, so a pod without it waits in ContainerCreating until the rollout's deadline."""
    from llama_rollout.publish import lightspeed as publishing

    fake, kube, _, url, _ = cluster
    fake.put("secrets", {"metadata": {"name": "cluster-health-mcp-token", "namespace": NS},
                         "data": {"token": base64.b64encode(b"mcp-s3cret-token").decode()}})  # fmt: skip
    monkeypatch.setattr(publishing, "ensure_mcp_header", lambda *args: None)
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    request = request_for(REVISION_A, versions[0], url, mcp_token_secret="cluster-health-mcp-token")
    with pytest.raises(PublishError, match="restored to its previous spec") as failed:
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    assert "exceeded its progress deadline" in str(failed.value)
    assert fake.get("olsconfigs", "cluster")["spec"] == before
