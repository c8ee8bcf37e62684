"""Every endpoint the project talks to, pointed at servers that accept and never answer, or
answer one byte every second and never to the end (the status line and headers, or the body).

Each case must fail within the bound ``bounds`` documents (and the README's table shows), a
total from the start of the request to its answer's last byte, with one error line that names
the endpoint, its URL and the time waited, and no sooner than the read timeout: an early
failure would be some other error than silence. The cases of every server run at once, each in
its own daemon thread (the CLI ones as subprocesses), so the test takes as long as the longest
bound, not the sum, and a case that hangs is reported, not waited for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llama_rollout import bounds
from llama_rollout.errors import RolloutError
from tests.servers import SilentServer, TricklingServer

# Starting a Python process and importing the project, on a loaded 2-core machine.
SLACK = 15.0


@dataclass
class Case:
    endpoint: str
    bound: bounds.Bound
    run: Callable[[], str]  # the one-line error


def cli(args: list[str], env: dict[str, str], bound: bounds.Bound) -> str:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "llama_rollout.cli", *args],
            check=False, capture_output=True, text=True, env=env, timeout=bound.total + SLACK,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {bound.total + SLACK:.0f}s") from None
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def raised(call: Callable[[], object]) -> Callable[[], str]:
    def run() -> str:
        with pytest.raises(RolloutError) as caught:
            call()
        assert "\n" not in str(caught.value), str(caught.value)
        return f"error: {caught.value}"

    return run


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / f"kubeconfig-{server.rsplit(':', 1)[1]}"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "silent",
                "clusters": [{"name": "silent", "cluster": {"server": server}}],
                "users": [{"name": "me", "user": {"token": "sha256~not-a-secret"}}],
                "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "me"}}],
            }
        )
    )  # fmt: skip
    return path


def endpoint_cases(url: str, cli_env: dict[str, str], model: Path, model_uri: str,
                   tmp_path: Path) -> list[Case]:  # fmt: skip
    """Every endpoint, pointed at ``url``."""
    from llama_rollout.evals.quality import check_endpoint
    from llama_rollout.kube import Kube, api_client
    from llama_rollout.publish.lightspeed import ask as ask_lightspeed
    from llama_rollout.serving.tool_calling import check_tool_calling
    from llama_rollout.stack.health import check_server, list_mcp_tools
    from llama_rollout.submission import PipelinesServer

    hub_env = {**cli_env, "HF_ENDPOINT": url}
    s3_env = {**cli_env, "AWS_S3_ENDPOINT": url}
    config = kubeconfig(tmp_path, url)
    return [
        Case("the hub", bounds.HUB_API,
             lambda: cli(["resolve", "--source", "hf://org/repo"], hub_env, bounds.HUB_API)),
        Case("S3", bounds.S3_PROBE,
             lambda: cli(["mirror", "--source", f"file://{model}"], s3_env, bounds.S3_PROBE)),
        Case("the Model Registry", bounds.REGISTRY,
             lambda: cli(["register", "--model-uri", model_uri, "--registry-url", url],
                         cli_env, bounds.REGISTRY)),
        Case("the Kubernetes API", bounds.KUBERNETES,
             raised(lambda: Kube(api_client(str(config))))),
        Case("vLLM", bounds.VLLM,
             raised(lambda: check_tool_calling(f"{url}/v1", "m"))),
        Case("vLLM, before lm-eval", bounds.VLLM_PROBE,
             raised(lambda: check_endpoint(f"{url}/v1", "m"))),
        Case("Llama Stack", bounds.LLAMA_STACK_PROBE,
             raised(lambda: check_server(url, "m"))),
        Case("MCP", bounds.MCP, raised(lambda: list_mcp_tools(f"{url}/mcp"))),
        Case("Lightspeed", bounds.LIGHTSPEED_QUERY,
             raised(lambda: ask_lightspeed(url, "llamastack", "m", token="t", ca_certs=None))),
        Case("the pipelines API", bounds.PIPELINES_API,
             raised(lambda: PipelinesServer(url, "project", "t").client())),
    ]  # fmt: skip


def test_each_endpoint_fails_within_its_bound_when_it_never_answers_or_trickles(
    cli_env: dict[str, str], make_model: Callable[..., Path], tmp_path: Path
) -> None:
    model = make_model(shards=1, shard_bytes=1024)
    mirrored = subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", "mirror", "--source", f"file://{model}",
         "--model-name", "silent-test"],
        capture_output=True, text=True, env=cli_env, check=True, timeout=300,
    )  # fmt: skip
    model_uri = json.loads(mirrored.stdout)["model_uri"]

    with ExitStack() as stack:
        servers: dict[str, Any] = {
            "silent": stack.enter_context(SilentServer()),
            "trickled headers": stack.enter_context(TricklingServer()),
            "trickled body": stack.enter_context(TricklingServer(body=True)),
        }
        cases = [
            (kind, server.url, case)
            for kind, server in servers.items()
            for case in endpoint_cases(server.url, cli_env, model, model_uri, tmp_path)
        ]
        results: dict[int, tuple[float, str | BaseException]] = {}

        def timed(index: int, case: Case) -> None:
            started = time.monotonic()
            try:
                line: str | BaseException = case.run()
            except BaseException as exc:  # an assertion in the case: report it with the rest
                line = exc
            results[index] = (time.monotonic() - started, line)

        # Daemon threads, not a pool: a case that hangs must not hold the test (or its exit).
        threads = [
            threading.Thread(target=timed, args=(index, case), daemon=True)
            for index, (_, _, case) in enumerate(cases)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread, (_, _, case) in zip(threads, cases, strict=True):
            thread.join(max(0.0, started + case.bound.total + SLACK + 5 - time.monotonic()))
        for kind, server in servers.items():
            assert len(server.accepted) >= len(cases) // len(servers), (
                f"{kind}: not every case reached it"
            )

    problems = []
    for index, (kind, url, case) in enumerate(cases):
        if index not in results:
            problems.append(f"{kind}: {case.endpoint}: still waiting after "
                            f"{case.bound.total + SLACK:.0f}s")  # fmt: skip
            continue
        waited, line = results[index]
        if isinstance(line, BaseException):
            problems.append(f"{kind}: {case.endpoint}: {type(line).__name__}: {line}")
            continue
        if not case.bound.read - 1 <= waited <= case.bound.total + SLACK:
            problems.append(f"{kind}: {case.endpoint}: failed after {waited:.0f}s: {line}")
        if url not in line or "did not answer within" not in line:
            problems.append(
                f"{kind}: {case.endpoint}: the error does not name {url} and the wait: {line}"
            )
    assert not problems, "\n".join(problems)


def test_the_readme_documents_every_bound() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Bounds", 1)[1].split("\n## ", 1)[0]
    for name, bound in vars(bounds).items():
        if isinstance(bound, bounds.Bound):
            row = next((line for line in table.splitlines() if f"`{name}`" in line), None)
            assert row, f"README's bounds table has no row for {name}"
            assert f"{bound.read:g} s" in row and f"{bound.total:g} s" in row, row
