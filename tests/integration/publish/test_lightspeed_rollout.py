"""Publishing as the real operator and app server behave (tests/lightspeed_operator.py and
tests/lightspeed_server.py say where each behaviour is read): the rolling restart, what counts
as a failure, the operator's silent failures, one publisher per cluster, the prompt budget, the
NetworkPolicies between the step and the app server."""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
import time
from datetime import UTC, datetime

import pytest

from llama_rollout import registry
from llama_rollout.bounds import Bound
from llama_rollout.publish import lease, live, rollout
from llama_rollout.publish.lightspeed import PublishError
from llama_rollout.publish.olsconfig import Provider
from llama_rollout.publish.openshift import publish as publish_on_openshift
from tests.integration.publish.conftest import (
    LIGHTSPEED_NS,
    NS,
    REVISION_A,
    REVISION_B,
    install,
    manifests,
    providers,
    request_for,
    serve_version,
    short_timeout,
)

pytestmark = pytest.mark.integration
MODEL = "vllm/llama-3-2-3b-instruct"


def publish(cluster, versions, tmp_path, **changes):
    _, kube, _, url, _ = cluster
    request = request_for(REVISION_A, versions[0], url, **changes)
    return publish_on_openshift(request, tmp_path, kube=kube, token="runner")


def test_the_question_waits_for_the_app_servers_own_rollout(cluster, versions, tmp_path):
    fake, _, lightspeed, _, operator = cluster
    operator.console_plugin_ready = True  # overallStatus Ready: only the rollout is left
    asked_while = []
    original = lightspeed.over_budget  # called once a question passed the provider's checks

    def at_the_question(query, model):
        deployment = fake.get("deployments", "lightspeed-app-server", LIGHTSPEED_NS)["status"]
        asked_while.append(
            (deployment["replicas"], deployment["updatedReplicas"], deployment["availableReplicas"])
        )
        return original(query, model)

    lightspeed.over_budget = at_the_question
    outcome = publish(cluster, versions, tmp_path)
    assert outcome.answer == f"{MODEL} answers."
    assert asked_while == [(1, 1, 1)], "asked only once no old pod was left"
    assert [a["provider"] for a in lightspeed.asked] == ["llamastack"]


def test_a_restart_that_comes_a_reconcile_late_is_waited_for(cluster, versions, tmp_path):
    # ApiReady reports our generation while the old pod, never restarted yet, still serves
    # the old configuration: its 422 means "ask again once the rollout has come", not "restore".
    fake, _, lightspeed, _, operator = cluster
    operator.console_plugin_ready = True
    operator.stale_configmap_reads = 3
    outcome = publish(cluster, versions, tmp_path)
    assert outcome.answer == f"{MODEL} answers."
    assert operator.stale_configmap_reads == 0, "the late restart happened"
    assert [a["provider"] for a in lightspeed.asked][-1] == "llamastack"
    ours = [p for p in fake.get("olsconfigs", "cluster")["spec"]["llm"]["providers"]]
    assert "llamastack" in [p["name"] for p in ours], "nothing was restored"


def test_a_republication_is_asked_only_once_the_app_server_runs_its_url(
    cluster, versions, tmp_path
):
    # Version B replaces A under the same provider and model: only the URL changes, so the old
    # pod, which the operator's stale cache has not restarted yet, answers the question as
    # well as the new one would. The question must wait for the restart with B's URL.
    fake, kube, lightspeed, url, operator = cluster
    operator.console_plugin_ready = True
    serve_version(fake, REVISION_A)
    publish(cluster, versions, tmp_path / "a")
    operator.settle()
    assert REVISION_A[:7] in served_url(lightspeed)
    serve_version(fake, REVISION_B)
    operator.stale_configmap_reads = 3
    urls_at_the_question = []
    original = lightspeed.over_budget

    def at_the_question(query, model):
        urls_at_the_question.append(served_url(lightspeed))
        return original(query, model)

    lightspeed.over_budget = at_the_question
    outcome = publish_on_openshift(
        request_for(REVISION_B, versions[0], url), tmp_path / "b", kube=kube, token="runner"
    )
    assert outcome.answer == f"{MODEL} answers."
    assert operator.stale_configmap_reads == 0, "the late restart happened"
    assert len(urls_at_the_question) == 1 and REVISION_B[:7] in urls_at_the_question[0]


def served_url(lightspeed) -> str:
    """The URL of provider llamastack in the configuration the serving pod started with."""
    providers = {p["name"]: p for p in lightspeed.loaded["llm"]["providers"]}
    return providers["llamastack"]["url"]


def test_a_window_the_app_server_cannot_start_with_is_restored(cluster, versions, tmp_path):
    # 4096 tokens cannot hold a 2048-token response and the tools' 2048-token reserve: the new
    # pod stops at its start, the old one keeps the Deployment Available (ApiReady stays
    # True, no diagnostics), and the rollout's progress deadline is 600 s away: the new pod's
    # container status says it at once.
    fake, _, lightspeed, _, operator = cluster
    operator.deadline_in = 10_000
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    with pytest.raises(PublishError, match="the app server's new pod cannot start") as failed:
        publish(cluster, versions, tmp_path, max_model_len=4096, max_tokens=2048)
    message = str(failed.value)
    assert "CrashLoopBackOff after" in message and "exit code 1 (Error)" in message
    assert (
        "oc logs -n openshift-lightspeed lightspeed-app-server-" in message
        and "--previous" in message
    )
    assert "restored" in message
    assert fake.get("olsconfigs", "cluster")["spec"] == before
    assert lightspeed.start_error(before) is None, "the restored spec starts"


def test_a_console_plugin_never_ready_neither_fails_nor_redeploys(
    cluster, versions, tmp_path, monkeypatch, caplog
):
    fake, kube, _, _, operator = cluster
    assert not operator.console_plugin_ready, "the console plugin stays starting for good"
    serve_version(fake, REVISION_A)
    with caplog.at_level(logging.INFO, logger="llama_rollout"):
        publish(cluster, versions, tmp_path)
    assert fake.get("olsconfigs", "cluster")["status"]["overallStatus"] == "NotReady"
    assert "ConsolePluginReady (Progressing)" in caplog.text, "reported, not failed on"
    # The next scheduled run finds the same revision live: nothing to redeploy.
    monkeypatch.setattr(live, "endpoint_problem", lambda *a, **k: None)
    found = registry.publications.live_version(versions[1], "llama-3-2-3b-instruct")
    problems = live.check_cluster(found, NS, kube=kube)
    check = live.verdict(found, REVISION_A, "llamastack", force=False, problems=problems)
    assert not check.changed, check.reason


def test_a_starting_app_server_pod_is_not_a_failure(cluster, versions, tmp_path, caplog):
    fake, _, lightspeed, _, operator = cluster
    operator.console_plugin_ready = True
    operator.old_pod_serves = False  # ApiReady False while the new pod starts, with diagnostics
    with caplog.at_level(logging.INFO, logger="llama_rollout"):
        publish(cluster, versions, tmp_path)
    assert "starting: lightspeed-app-server-" in caplog.text and "ContainerCreating" in caplog.text
    assert [a["provider"] for a in lightspeed.asked] == ["llamastack"]
    assert any(p["name"] == "llamastack" for p in providers(fake))


@pytest.mark.parametrize(
    ("mode", "failure", "said"),
    [
        # Phase 1: the status names the task, not its error; the operator's log does.
        ("phase1_failure", "failed tasks: [reconcile OLSConfigMap]",
         "could not reconcile generation"),
        # ApiReady False, reason Failed, no pod to blame: the operator could not write the
        # Deployment, and retries.
        ("deployment_step_failure", 'deployments.apps "lightspeed-app-server" is forbidden',
         "could not update ApiReady (Failed: deployments.apps"),
    ],
    ids=["phase-one", "deployment-step"],
)  # fmt: skip
def test_a_lasting_reconcile_failure_fails_with_its_message_long_before_the_deadline(
    cluster, versions, tmp_path, monkeypatch, mode, failure, said
):
    fake, _, _, _, operator = cluster
    monkeypatch.setattr(rollout, "RECONCILE_GRACE", 3.0)
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    setattr(operator, mode, failure)
    with pytest.raises(PublishError, match="restored") as failed:
        publish(cluster, versions, tmp_path, timeout_seconds=300)
    message = str(failed.value)
    assert said in message and failure.split(" is ")[0] in message
    assert "(for 3 s)" in message
    assert (
        "oc logs -n openshift-lightspeed deployment/lightspeed-operator-controller-manager"
        in message
    )
    assert "not ready after" not in message, "it did not wait for the deadline"
    assert fake.get("olsconfigs", "cluster")["spec"] == before


def test_a_phase_one_failure_the_operator_retries_past_is_waited_for(
    cluster, versions, tmp_path, monkeypatch
):
    # Reconcile requeues a failed phase 1 (a Conflict, a CA not ready yet): the next pass
    # replaces its status, and the publish goes on.
    _, _, lightspeed, _, operator = cluster
    monkeypatch.setattr(rollout, "RECONCILE_GRACE", 120.0)
    operator.phase1_failure = "failed tasks: [reconcile OLSConfigMap]"
    operator.phase1_failure_reconciles = 6  # long enough for the wait to see it (0 s grace fails)
    assert publish(cluster, versions, tmp_path).answer == f"{MODEL} answers."
    assert [a["provider"] for a in lightspeed.asked][-1] == "llamastack"


def test_a_blank_credential_is_refused_before_olsconfig_is_written(cluster, versions, tmp_path):
    fake, _, _, _, _ = cluster
    token = fake.get("secrets", "lightspeed-model-client-token", NS)
    token["data"]["token"] = base64.b64encode(b" \n").decode()
    generation = fake.get("olsconfigs", "cluster")["metadata"]["generation"]
    with pytest.raises(PublishError, match="no usable key apitoken"):
        publish(cluster, versions, tmp_path, endpoint="vllm", serving_auth=True)
    assert fake.get("olsconfigs", "cluster")["metadata"]["generation"] == generation
    assert not [r for r in fake.requests if r.startswith("PUT") and "olsconfigs" in r]


def test_a_provider_secret_without_apitoken_is_named_when_the_operator_stays_silent(
    cluster, versions, tmp_path
):
    fake, kube, _, url, _ = cluster
    gemini = fake.get("secrets", "gemini-credentials", LIGHTSPEED_NS)
    gemini["data"] = {"token": gemini["data"]["apitoken"]}  # another provider's broken Secret
    status = copy.deepcopy(fake.get("olsconfigs", "cluster")["status"])
    request = short_timeout(request_for(REVISION_A, versions[0], url))
    with pytest.raises(PublishError, match="restored") as failed:
        publish_on_openshift(request, tmp_path, kube=kube, token="runner")
    assert "lacks the key apitoken" in str(failed.value)
    assert fake.get("olsconfigs", "cluster")["status"] == status, "the operator wrote nothing"


def test_runs_in_two_projects_contend_for_one_lease(cluster, versions, tmp_path):
    fake, _, _, _, _ = cluster
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fake.add_namespace("other-project")
    fake.put("leases", {"metadata": {"name": lease.NAME, "namespace": LIGHTSPEED_NS},
                        "spec": {"holderIdentity": "other-project/run-x", "acquireTime": now,
                                 "renewTime": now, "leaseDurationSeconds": 900}})  # fmt: skip
    with pytest.raises(lease.LeaseHeld, match=r"another run \(other-project/run-x\)") as held:
        publish(cluster, versions, tmp_path)
    assert f"{LIGHTSPEED_NS}/{lease.NAME}" in str(held.value)
    assert len(providers(fake)) == 2, "nothing was published"
    fake.get("leases", lease.NAME, LIGHTSPEED_NS)["spec"]["holderIdentity"] = None  # released
    publish(cluster, versions, tmp_path)
    assert fake.get("leases", lease.NAME, NS) is None, "no Lease in the pipeline's project"
    assert len(providers(fake)) == 3


def test_the_credential_key_is_always_apitoken(cluster, versions, tmp_path):
    fake, _, _, _, _ = cluster
    assert "credential_key" not in {f.name for f in dataclasses.fields(Provider)}
    publish(cluster, versions, tmp_path)
    ours = next(p for p in providers(fake) if p["name"] == "llamastack")
    assert "credentialKey" not in ours
    assert set(fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS)["data"]) == {"apitoken"}


def tools(count: int) -> list[dict]:
    """MCP tool definitions as tools/list gives them, each about 500 characters."""
    return [{"name": f"cluster_health_{i}", "description": "Reports the health of one part of "
             "the cluster: its nodes, their pressure conditions, the pods that are not ready and "
             "the events that explain why, the operators that are degraded, and the alerts "
             "that fire. " * 2,
             "inputSchema": {"type": "object", "properties": {
                 "namespace": {"type": "string", "description": "the namespace to look at"},
                 "since_minutes": {"type": "integer", "description": "how far back to look"}}}}
            for i in range(count)]  # fmt: skip


@pytest.mark.parametrize("count", [2, 60])
def test_over_the_prompt_budget_the_question_says_how_to_fix_it(cluster, versions, tmp_path, count):
    fake, _, lightspeed, _, _ = cluster
    lightspeed.mcp_tools = tools(count)
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    # contextWindowSize 32768 - maxTokensForResponse 2048 - the tools' reserve 16384 leaves
    # 14,336 tokens: Lightspeed's own tools take about 7,300 of them, 60 more tools too many.
    if count == 2:
        assert publish(cluster, versions, tmp_path).answer == f"{MODEL} answers."
        return
    with pytest.raises(PublishError, match="prompt budget is exceeded") as failed:
        publish(cluster, versions, tmp_path)
    assert "\n" not in str(failed.value)
    assert "max_model_len" in str(failed.value) and "MCP tools" in str(failed.value)
    assert fake.get("olsconfigs", "cluster")["spec"] == before


def test_without_the_shipped_network_policy_the_question_times_out_and_is_restored(
    cluster, versions, tmp_path, monkeypatch
):
    fake, _, lightspeed, url, operator = cluster
    (shipped,) = [o for o in manifests() if o["kind"] == "NetworkPolicy"]
    key = ("networkpolicies", LIGHTSPEED_NS, shipped["metadata"]["name"], "networking.k8s.io")
    assert key in fake.objects, "the fixture installs the publisher's manifests"
    assert ("networkpolicies", LIGHTSPEED_NS, "lightspeed-app-server", "networking.k8s.io") in (
        fake.objects
    ), "the operator wrote its own policy, which alone refuses the step"
    del fake.objects[key]
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    # A refused connection is a connect timeout (10 s), asked a few times within the step's
    # deadline; a short bound on the answer keeps an admitted question short.
    bound = Bound(read=2)
    monkeypatch.setattr("llama_rollout.publish.question.LIGHTSPEED_QUERY", bound)
    started = time.monotonic()
    with pytest.raises(PublishError, match="restored to its previous spec") as failed:
        publish(cluster, versions, tmp_path / "refused")
    assert time.monotonic() - started < 60, "the question waited longer than its bound"
    assert f"at {url}/v1/query did not accept a connection within 10s" in str(failed.value)
    assert "NetworkPolicy" in str(failed.value)
    assert lightspeed.asked == [], "the connection was held: the app server never saw it"
    assert fake.get("olsconfigs", "cluster")["spec"] == before
    # The shipped policy is what lets the question through: back in place, the same publishes.
    install(fake, shipped)
    operator.settle()  # the restored spec rolls out first, as it would before a later run
    assert publish(cluster, versions, tmp_path / "admitted").answer == f"{MODEL} answers."


@pytest.mark.parametrize("resets", [1, 3])
def test_a_connection_reset_after_the_rollout_is_asked_again_a_few_times(
    cluster, versions, tmp_path, monkeypatch, resets
):
    # The old pod, terminating behind the Service, can reset the first connection after the
    # rollout: asked again (at most UNREACHABLE_ATTEMPTS in all), then restored.
    from llama_rollout.publish import lightspeed as publish_lightspeed
    from llama_rollout.publish import question

    fake, _, _, _, operator = cluster
    operator.console_plugin_ready = True
    monkeypatch.setattr(publish_lightspeed, "OLD_CONFIGURATION_RETRY", 0.1)
    real, calls = question.request_json, []

    def reset_first(method, url, *args, **kwargs):
        calls.append(url)
        if len(calls) <= resets:
            raise kwargs["unreachable"](f"Lightspeed is unreachable at {url}: Connection reset")
        return real(method, url, *args, **kwargs)

    monkeypatch.setattr(question, "request_json", reset_first)
    before = copy.deepcopy(fake.get("olsconfigs", "cluster")["spec"])
    if resets < publish_lightspeed.UNREACHABLE_ATTEMPTS:
        assert publish(cluster, versions, tmp_path).answer == f"{MODEL} answers."
        assert len(calls) == resets + 1
        return
    with pytest.raises(PublishError, match=r"Connection reset.*restored"):
        publish(cluster, versions, tmp_path)
    assert len(calls) == publish_lightspeed.UNREACHABLE_ATTEMPTS
    assert fake.get("olsconfigs", "cluster")["spec"] == before


def test_a_serving_pod_with_an_old_crash_does_not_fail_the_publication(cluster, versions, tmp_path):
    # The pod that serves the old configuration was OOMKilled once, days ago: its lastState
    # says so for good. Only the rollout's new pods are judged.
    _, _, lightspeed, _, operator = cluster
    operator.console_plugin_ready = True
    operator.serving_pod_history = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    assert publish(cluster, versions, tmp_path).answer == f"{MODEL} answers."
    assert [a["provider"] for a in lightspeed.asked] == ["llamastack"]


def test_a_re_run_against_a_spec_the_api_server_defaulted_writes_nothing(
    cluster, versions, tmp_path
):
    # The API server stores the CRD's defaults (a model's toolBudgetRatio): the same
    # publication again is no change, and none is reported.
    fake, _, _, _, operator = cluster
    operator.console_plugin_ready = True
    publish(cluster, versions, tmp_path / "first")
    operator.settle()
    stored = fake.get("olsconfigs", "cluster")
    ours = next(p for p in stored["spec"]["llm"]["providers"] if p["name"] == "llamastack")
    for model in ours["models"]:
        model.setdefault("parameters", {}).setdefault("toolBudgetRatio", 0.5)
    fake.put("olsconfigs", stored)
    generation = fake.get("olsconfigs", "cluster")["metadata"]["generation"]
    again = publish(cluster, versions, tmp_path / "again")
    assert not again.changed, "only the CRD's default differed"
    assert fake.get("olsconfigs", "cluster")["metadata"]["generation"] == generation
