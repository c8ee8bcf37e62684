"""``submit`` and ``schedule`` read the server's version from healthz first, through the pipelines
API stand-in (tests/pipelines_server.py, which answers healthz as the API server's main.go does).

A server older than KFP 2.15.0 cannot run the pipeline (its exit handler, its secret mounts): it is refused in one
line before anything else is sent. A server built without a version says ``tag_name``
"unknown": a warning, and the run goes ahead. A current one goes ahead without a word.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from llama_rollout.submission import PipelinesError, PipelinesServer, schedule, submit
from tests.pipelines_server import running_pipelines_api

pytestmark = pytest.mark.integration
PROJECT = "self-healing-platform"
TOKEN = "good-token-0123456789"  # the stand-in's; checked never to be printed
REGISTRY = {"registry_name": "llama-registry"}
HEALTHZ = "GET /apis/v2beta1/healthz"


def start(server: PipelinesServer, how: str) -> str:
    if how == "submit":
        return submit(server, REGISTRY, run_name="rollout-1").id
    return schedule(server, REGISTRY, name="llama-redeploy", cron="0 0 */6 * * *").id


@pytest.mark.parametrize("how", ["submit", "schedule"])
@pytest.mark.parametrize(
    ("tag_name", "said"),
    [
        ("2.14.1", "2.14.1"),
        ("2.13.1", "2.13.1"),
        ("2.5.0", "2.5.0"),
        ("v2.0.5", "v2.0.5"),
        ("1.8.5-rc.1", "1.8.5"),
    ],
)
def test_an_older_server_is_refused_before_anything_else_is_sent(how, tag_name, said):
    with running_pipelines_api(TOKEN, PROJECT, tag_name=tag_name) as (state, url):
        with pytest.raises(PipelinesError) as raised:
            start(PipelinesServer(url, PROJECT, TOKEN), how)
        assert state.requests == [HEALTHZ]
        assert state.experiments == {} and state.runs == [] and state.recurring_runs == []
    line = str(raised.value)
    assert line == (
        f"the pipelines server at {url} runs KFP {said}, older than 2.15.0, the oldest that "
        "runs this pipeline (its exit handler's final status, its secret mounts' optional "
        "field): upgrade the pipeline server to KFP 2.15.0 or newer, or give --host "
        "of one that is"
    )


@pytest.mark.parametrize("how", ["submit", "schedule"])
@pytest.mark.parametrize("tag_name", ["unknown", "", "master"])
def test_a_server_that_does_not_say_its_version_is_warned_about_and_accepted(caplog, how, tag_name):
    caplog.set_level(logging.INFO, logger="llama_rollout.submission")
    with running_pipelines_api(TOKEN, PROJECT, tag_name=tag_name) as (state, url):
        started = start(PipelinesServer(url, PROJECT, TOKEN), how)
        made = state.runs if how == "submit" else state.recurring_runs
        assert [m.get("run_id") or m.get("recurring_run_id") for m in made] == [started]
        assert state.requests[0] == HEALTHZ
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage() == (
        f"the pipelines server at {url} does not say its version (tag_name {tag_name!r}): "
        "this pipeline needs KFP 2.15.0 or newer; if a run fails with 'task final status not "
        "supported yet' or 'unknown field \"optional\"', upgrade the pipeline server"
    )


@pytest.mark.parametrize("tag_name", ["2.15.0", "2.16.1", "2.17.0", "v3.0.0", "2.18.0-rc.0"])
def test_a_current_server_is_accepted_without_a_word(caplog, tag_name):
    caplog.set_level(logging.DEBUG, logger="llama_rollout.submission")
    with running_pipelines_api(TOKEN, PROJECT, tag_name=tag_name) as (state, url):
        started = submit(PipelinesServer(url, PROJECT, TOKEN), REGISTRY, run_name="r")
        assert [run["run_id"] for run in state.runs] == [started.id]
    assert [r.getMessage() for r in caplog.records if "version" in r.getMessage()
            or "KFP" in r.getMessage()] == []  # fmt: skip
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_cli_says_it_in_one_line_and_never_the_token():
    with running_pipelines_api(TOKEN, PROJECT, tag_name="2.5.0") as (state, url):
        result = subprocess.run(
            [sys.executable, "-m", "llama_rollout.cli", "submit", "--host", url,
             "--namespace", PROJECT, "--set", "registry_name=r"],
            env={**os.environ, "KF_PIPELINES_TOKEN": TOKEN}, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert state.requests == [HEALTHZ]
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: the pipelines server at {url} runs KFP 2.5.0, older than 2.15.0, the oldest "
        "that runs this pipeline (its exit handler's final status, its secret mounts' optional "
        "field): upgrade the pipeline server to KFP 2.15.0 or newer, or give --host "
        "of one that is"
    ]
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout
