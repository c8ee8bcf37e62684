"""lm-eval against a model server that is not there, or that never answers: a clear error
within its bound, before lm-eval's own retries start."""

from __future__ import annotations

import time

import pytest

from llama_rollout.bounds import VLLM_PROBE
from llama_rollout.evals.quality import QualityError, QualitySettings, check_endpoint, run_quality
from tests.servers import SilentServer, serve_app

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


def model_server_behind_a_token(token: str, seen: list[str]) -> object:
    """vLLM's chat completions behind an auth proxy: a request without ``token`` is 401."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def chat(request):
        seen.append(request.headers.get("authorization", ""))
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return JSONResponse({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Check the pod's events."}}],
        })  # fmt: skip

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.mark.parametrize("concurrent", [1, 2], ids=["one-at-a-time", "several"])
def test_lm_eval_reaches_an_https_server_of_the_cluster_s_ca_with_its_token(tmp_path, concurrent):
    """KServe's auth proxy: https with a certificate of the service CA, a token to present.
    lm-eval sends one request at a time with requests, several with aiohttp: both check the
    certificate against the CA given, and present the token."""
    import aiohttp  # first, as another client in the step's process may: its CAs are read now
    import trustme

    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1")
    files = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(files[0]))
    certificate.private_key_pem.write_to_path(str(files[1]))
    ca.cert_pem.write_to_path(str(files[2]))
    assert aiohttp
    seen: list[str] = []
    settings = QualitySettings(limit=2, timeout_s=30, max_retries=1, num_concurrent=concurrent)
    app = model_server_behind_a_token("sa-token", seen)
    with serve_app(app, tls=(str(files[0]), str(files[1]))) as url:
        result = run_quality(f"{url}/v1", "m", settings, api_key="sa-token", ca_certs=str(files[2]))
        assert result.samples and seen == ["Bearer sa-token"] * len(seen)
        with pytest.raises(QualityError, match=r"lm-eval could not run"):
            run_quality(f"{url}/v1", "m", settings, api_key="sa-token")  # the system CAs only
    assert len(seen) == len(result.samples), "the unknown certificate was refused before a request"
