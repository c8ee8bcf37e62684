"""A random secret planted in every place a command reads one (the environment, a token file, a
URL's userinfo, a dataset, a server's answer) never reaches any output: stdout, stderr, or a
log record. In-process, through the CLI's ``main``, so that hundreds of examples take seconds.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_rollout import cli, redaction
from tests.servers import serve_app

pytestmark = pytest.mark.integration
SECRETS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~",
    min_size=12,
    max_size=64,
)
CHECK = ["check", "--set", "registry_name=default"]


def echoing_app() -> object:
    """A pipelines API that refuses every request and repeats the caller's token in the body,
    as a careless proxy does."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def refuse(request: object) -> JSONResponse:
        said = request.headers.get("authorization", "")  # type: ignore[attr-defined]
        return JSONResponse({"error": f"token rejected: {said}", "header": said}, status_code=401)

    return Starlette(routes=[Route("/{path:path}", refuse, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def echoing_server() -> Iterator[str]:
    with serve_app(echoing_app()) as url:
        yield url


def places(
    folder: Path, server: str
) -> dict[str, Callable[[str], tuple[list[str], dict[str, str]]]]:
    """Each place a command reads a secret: the command line and environment that put one there."""

    def file(name: str, text: str) -> str:
        path = folder / name
        path.write_text(text)
        return str(path)

    pipelines = ["--namespace", "ai", "--set", "registry_name=default"]
    return {
        "HF_TOKEN": lambda s: ([*CHECK, "--set", "eval_dataset=/no/such.yaml"], {"HF_TOKEN": s}),
        "AWS_SECRET_ACCESS_KEY": lambda s: (["prune", "--older-than", "1d"],
                                            {"AWS_SECRET_ACCESS_KEY": s, "AWS_S3_ENDPOINT": "x",
                                             "AWS_S3_BUCKET": "b", "AWS_ACCESS_KEY_ID": "k"}),
        "token file (a kubeconfig)": lambda s: (
            ["submit", "--host", server, *pipelines,
             "--token-file", file("kubeconfig", f"users:\n- user:\n    token: {s}\n")], {}),
        "token file": lambda s: (
            ["submit", "--host", server, *pipelines, "--token-file", file("token", s)], {}),
        "KF_PIPELINES_TOKEN echoed by the server": lambda s: (
            ["submit", "--host", server, *pipelines], {"KF_PIPELINES_TOKEN": s}),
        "--host userinfo": lambda s: (
            ["submit", "--host", f"https://me:{s}@pipelines", *pipelines], {"KF_PIPELINES_TOKEN": "t"}),
        "registry_url userinfo": lambda s: ([*CHECK, "--set", f"registry_url=http://u:{s}@r:1"], {}),
        "lightspeed_url userinfo": lambda s: ([*CHECK, "--set", f"lightspeed_url=https://{s}@ls"], {}),
        "mcp_url userinfo": lambda s: ([*CHECK, "--set", f"mcp_url=http://a:{s}@mcp/mcp"], {}),
        "dataset line that does not parse": lambda s: (
            [*CHECK, "--set", "eval_dataset=" + file("bad.yaml", f'name: t\ncases: [{{id: "{s}\n')], {}),
        "dataset value of the wrong shape": lambda s: (
            [*CHECK, "--set", "eval_dataset=" + file("shape.yaml",
             f"name: t\ncases:\n- id: c1\n  turns:\n  - input: x\n    expected_calls: [{{t: {{a: {s}}}}}]\n")], {}),
    }  # fmt: skip


def run_cli(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Everything the command printed and logged."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err, logged = io.StringIO(), io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logged)
    logging.getLogger().addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        logging.getLogger().removeHandler(handler)
    assert code != 0, out.getvalue()
    return out.getvalue() + err.getvalue() + logged.getvalue()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=SECRETS, place=st.sampled_from(sorted(places(Path("."), "").keys())))
def test_a_planted_secret_reaches_no_output(secret, place, tmp_path, echoing_server, monkeypatch):
    monkeypatch.setattr(redaction, "_known", set())
    monkeypatch.delenv("KF_PIPELINES_TOKEN", raising=False)
    argv, env = places(tmp_path, echoing_server)[place](secret)
    with monkeypatch.context() as scoped:
        output = run_cli(argv, env, scoped)
    assert secret not in output, f"{place}: {output[-800:]}"


def test_every_place_is_tried(tmp_path, echoing_server, monkeypatch):
    """Each place, once, with a fixed secret: the command fails, and says nothing of it."""
    secret = "Fixed-Planted-Secret-0123456789"
    for place, make in places(tmp_path, echoing_server).items():
        monkeypatch.setattr(redaction, "_known", set())
        argv, env = make(secret)
        with monkeypatch.context() as scoped:
            output = run_cli(argv, env, scoped)
        assert secret not in output and "error: " in output, f"{place}: {output[-800:]}"
