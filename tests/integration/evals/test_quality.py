"""lm-eval against a model server that is not there, or that never answers: a clear error
within its bound, before lm-eval's own retries start."""

from __future__ import annotations

import time

import pytest

from llama_rollout.bounds import VLLM_PROBE
from llama_rollout.evals.quality import QualityError, QualitySettings, check_endpoint, run_quality
from tests.servers import SilentServer

pytestmark = pytest.mark.integration


def test_a_closed_port_is_named():
    with pytest.raises(QualityError, match=r"unreachable at http://127.0.0.1:9/v1/models"):
        check_endpoint("http://127.0.0.1:9/v1", "m")


def test_a_server_without_the_model_is_named():
    from fastapi import FastAPI

    from tests.servers import serve_app

    app = FastAPI()
    app.get("/v1/models")(lambda: {"object": "list", "data": [{"id": "other", "object": "model"}]})
    with (
        serve_app(app) as url,
        pytest.raises(QualityError, match=r"does not serve m \(200: other\)"),
    ):
        check_endpoint(f"{url}/v1", "m")


def test_lm_eval_against_a_silent_server_ends_within_its_timeout():
    settings = QualitySettings(limit=1, timeout_s=2, max_retries=1, num_concurrent=1)
    with SilentServer() as silent:
        started = time.monotonic()
        with pytest.raises(QualityError, match=r"lm-eval could not run openshift_troubleshooting"):
            run_quality(f"{silent.url}/v1", "m", settings)
        assert time.monotonic() - started < VLLM_PROBE.total + 30
        assert silent.accepted, "lm-eval reached the server"
