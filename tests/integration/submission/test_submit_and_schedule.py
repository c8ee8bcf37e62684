"""``llama-rollout submit`` and ``schedule`` through the real kfp.Client, against the pipelines
API stand-in (tests/pipelines_server.py): what reaches the server, and every refusal."""

from __future__ import annotations

import socket
import threading

import pytest

from llama_rollout.bounds import EndpointSilent
from llama_rollout.errors import ConfigurationError
from llama_rollout.submission import PipelinesError, PipelinesServer, check_cron, schedule, submit
from tests.pipelines_server import running_pipelines_api

pytestmark = pytest.mark.integration
PROJECT = "self-healing-platform"
REGISTRY = {"registry_name": "llama-registry"}  # the one parameter without a usable default


@pytest.fixture
def api():
    with running_pipelines_api("good-token", PROJECT) as (state, url):
        yield state, PipelinesServer(url, PROJECT, "good-token")


def spec_of(body: dict) -> dict:
    spec = body["pipeline_spec"]
    return spec.get("pipeline_spec", spec)


def test_submit_starts_one_run_with_the_compiled_pipeline(api):
    state, server = api
    run = submit(server, {"source_uri": "hf://meta-llama/Llama-3.2-3B-Instruct", "force": True,
                          **REGISTRY},
                 run_name="rollout-1")  # fmt: skip
    (sent,) = state.runs
    assert run.id == sent["run_id"] and run.url.endswith(f"/#/runs/details/{run.id}")
    assert sent["display_name"] == "rollout-1"
    assert spec_of(sent)["pipelineInfo"]["name"] == "llama-rollout"
    assert sent["runtime_config"]["parameters"] == {
        "source_uri": "hf://meta-llama/Llama-3.2-3B-Instruct",
        "force": True,
        **REGISTRY,
    }
    assert [e["display_name"] for e in state.experiments.values()] == ["llama-rollout"]
    submit(server, REGISTRY, run_name="rollout-2")
    assert len(state.experiments) == 1, "the experiment is found, not made again"
    assert "token" not in str(sent["runtime_config"]).lower()


def test_schedule_creates_a_recurring_run_one_at_a_time_without_catch_up(api):
    state, server = api
    recurring = schedule(
        server, {"keep_versions": 1, **REGISTRY}, name="llama-redeploy", cron="0 0 */6 * * *"
    )
    (sent,) = state.recurring_runs
    assert recurring.id == sent["recurring_run_id"]
    assert sent["trigger"]["cron_schedule"]["cron"] == "0 0 */6 * * *"
    assert sent["max_concurrency"] in (1, "1") and sent["no_catchup"] is True
    assert sent["mode"] == "ENABLE"
    assert sent["runtime_config"]["parameters"] == {"keep_versions": 1, **REGISTRY}


@pytest.mark.parametrize("cron", ["0 */6 * * *", "every 6 hours", "0 0 */6 * * * *"])
def test_a_cron_the_api_would_refuse_is_refused_before_any_request(api, cron):
    state, server = api
    with pytest.raises(ConfigurationError, match="6-field cron"):
        schedule(server, {}, name="n", cron=cron)
    assert state.requests == []


def test_bad_parameters_are_refused_before_any_request(api):
    state, server = api
    with pytest.raises(ConfigurationError, match="invalid pipeline parameters"):
        submit(server, {"lightspeed_max_tokens": 100000}, run_name="r")
    assert state.requests == []


def test_the_stand_in_refuses_what_the_api_refuses(api):
    """Through kfp.Client, not the checks above: the stand-in is as strict as the server."""
    state, server = api
    client = server.client()
    experiment = client.create_experiment(name="e", namespace=PROJECT)
    with pytest.raises(Exception, match="Expected 5 to 6 fields, found 7"):
        client.create_recurring_run(experiment.experiment_id, "j", cron_expression="0 0 * * * * 2027",
                                    pipeline_package_path="pipelines/llama-rollout.yaml")  # fmt: skip
    with pytest.raises(Exception, match="not required by pipeline: nope"):
        client.create_run_from_pipeline_package("pipelines/llama-rollout.yaml", arguments={"nope": 1},
                                                run_name="r", experiment_name="e")  # fmt: skip
    assert state.runs == [] and state.recurring_runs == []


def test_a_refused_token_says_how_to_get_one(api):
    state, server = api
    wrong = PipelinesServer(server.host, PROJECT, "expired")
    with pytest.raises(PipelinesError, match=r"HTTP 401.*oc whoami -t"):
        submit(wrong, REGISTRY, run_name="r")
    assert state.runs == []


def test_no_token_is_a_configuration_error(monkeypatch, tmp_path):
    monkeypatch.delenv("KF_PIPELINES_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="no token"):
        PipelinesServer.from_arguments("https://ds-pipeline.example", PROJECT, token_file=None,
                                       ca_cert=None)  # fmt: skip
    (tmp_path / "t").write_text("from-file\n")
    server = PipelinesServer.from_arguments("https://x.example/", PROJECT,
                                            token_file=str(tmp_path / "t"), ca_cert=None)  # fmt: skip
    assert (server.token, server.host) == ("from-file", "https://x.example")


def test_a_server_that_never_answers_is_an_error_within_its_bound(monkeypatch):
    from llama_rollout import bounds, submission

    monkeypatch.setattr(submission, "PIPELINES_API", bounds.Bound(read=1))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    port = listener.getsockname()[1]
    with pytest.raises(EndpointSilent, match="did not answer"):
        PipelinesServer(f"http://127.0.0.1:{port}", PROJECT, "t").client()
    listener.close()


def test_check_cron():
    assert check_cron("0 30 2 * * 1-5") == "0 30 2 * * 1-5"
