"""The embedded target's Llama Stack: a ``llama stack run`` process from its own environment.

``make`` creates ``.venv-llama-stack`` (Python 3.12, ``llama-stack==0.7.3``, ``mcp<2``). The
config is the one the cluster gets (``stack.stack_config``), pointing at the local vLLM, with
auth on against the embedded stack's token authority (each caller's token is minted when it is
first asked for); a running server whose config (and served model) is unchanged is reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import yaml

from llama_rollout.embedded import processes
from llama_rollout.embedded.service_accounts import (
    NAMESPACE,
    PIPELINE_RUNNER,
    llama_stack_model_client,
)
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.mcp_server.access import client_token
from llama_rollout.stack import health as stack_health
from llama_rollout.stack.access import StackClients, auth_config
from llama_rollout.stack.config import model_id, stack_config
from llama_rollout.stack.request import StackReport, StackRequest
from llama_rollout.stack.settings import PORT
from llama_rollout.stack.traces import INSTRUMENT, otel_environment

logger = logging.getLogger(__name__)

SERVICE = "llama-stack"
START_TIMEOUT = 180.0


def llama_command() -> list[str]:
    """The ``llama`` CLI: ``LLAMA_ROLLOUT_LLAMA_BIN``, else the environment ``make`` made."""
    if configured := os.environ.get("LLAMA_ROLLOUT_LLAMA_BIN"):
        return [configured]
    venv_llama = Path(__file__).resolve().parents[3] / ".venv-llama-stack" / "bin" / "llama"
    if venv_llama.exists():
        return [str(venv_llama)]
    raise RolloutError(
        "no Llama Stack to run",
        hint="run `make llama-stack` (creates .venv-llama-stack with llama-stack 0.7.3), or set "
        "LLAMA_ROLLOUT_LLAMA_BIN to a `llama` command of llama-stack 0.7.x",
    )


def ensure_stack(
    stack: EmbeddedStack,
    *,
    vllm_url: str,
    served_model: str,
    revision: str,
    clients: StackClients,
    vllm_token: str | None = None,
    otlp_endpoint: str = "",
) -> str:
    """Start Llama Stack against the local vLLM, admitting ``clients`` alone, or reuse one
    with the same config; its URL. It calls vLLM with ``vllm_token`` (a vLLM with auth on
    takes it), through the environment, as a pod from its Secret. With ``otlp_endpoint``, it
    runs under ``opentelemetry-instrument`` and exports its traces there (``stack.traces``).

    A server that exits during start-up (a config it rejects, a port in use) fails with its
    last log line, and is not left running.
    """
    root = stack.root / SERVICE
    config = stack_config(
        distro_name="llama-rollout-local",
        vllm_url=vllm_url,
        storage_dir=str(root),
        host="127.0.0.1",
        auth=auth_config(clients, api_server_url=_token_authority(stack)),
    )
    text = yaml.safe_dump(config, sort_keys=False)
    labels = {
        "config_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "model_revision": revision,
        "workbench": clients.workbench,
        "otlp_endpoint": otlp_endpoint,
        "vllm_auth": "on" if vllm_token else "off",
    }
    wanted = model_id(served_model)
    record = stack.record(SERVICE)
    if (
        record
        and processes.is_running(record)
        and (record.labels or {}) == labels
        and _serves(record.url, wanted)
    ):
        logger.info("reusing Llama Stack at %s (pid %d)", record.url, record.pid)
        return record.url
    root.mkdir(parents=True, exist_ok=True)
    config_file = root / "config.yaml"
    config_file.write_text(text)
    port = processes.free_port(processes.port_of(record.url) if record else PORT)
    url = f"http://127.0.0.1:{port}"
    argv = [*llama_command(), "stack", "run", str(config_file), "--port", str(port)]
    env = {"SQLITE_STORE_DIR": str(root / "store")}
    if vllm_token:
        env["VLLM_API_TOKEN"] = vllm_token
    if otlp_endpoint:
        argv = [_instrument_command(argv[0]), *argv]
        env |= otel_environment(otlp_endpoint, SERVICE)
    logger.info("starting Llama Stack on %s against vLLM %s", url, vllm_url)
    try:
        try:
            stack.start_process(
                SERVICE,
                argv,
                url=url,
                health_url=f"{url}/v1/health",
                ready=lambda: processes.http_ok(f"{url}/v1/health"),
                timeout=START_TIMEOUT,
                env=env,
                labels=labels,
            )
        except RolloutError as exc:
            raise RolloutError(f"Llama Stack did not start: {exc.message}", hint=exc.hint) from exc
        _await_model(url, wanted)
    except RolloutError:
        stack.stop_process(SERVICE)  # nothing left half-started
        raise
    return url


def _instrument_command(llama: str) -> str:
    """``opentelemetry-instrument`` of the environment that runs ``llama``."""
    beside = Path(llama).parent / INSTRUMENT
    if not beside.exists():
        raise RolloutError(
            f"no {INSTRUMENT} beside {llama}, to export Llama Stack's traces with",
            hint="run `make llama-stack` (its environment has it), or give no OTLP endpoint",
        )
    return str(beside)


def _token_authority(stack: EmbeddedStack) -> str:
    """The URL that answers Llama Stack's token reviews: the stack's ``tokens`` server."""
    record = stack.record("tokens")
    if record is None:
        raise RolloutError(
            "the embedded stack runs no token authority for Llama Stack to check tokens with",
            hint="run `llama-rollout local up` (or `make demo`) first",
        )
    return record.url


def _await_model(url: str, wanted: str, timeout: float = 30.0) -> None:
    """Wait briefly for the model to be listed, then let check_server name the broken link."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and wanted not in stack_health.listed_models(url):
        time.sleep(1)
    stack_health.check_server(url, wanted)


def _serves(url: str, wanted: str) -> bool:
    """Up and listing the model; the full checks (version, a completion) run once it is."""
    return processes.http_ok(f"{url}/v1/health") and wanted in stack_health.listed_models(url)


def serve(request: StackRequest) -> StackReport:
    """The Llama Stack step on the embedded stack: start or reuse it, then prove the chain."""
    stack = EmbeddedStack()
    namespace = request.namespace or NAMESPACE
    clients = request.clients(namespace, PIPELINE_RUNNER.username)
    model_client = llama_stack_model_client(namespace)
    mcp_token = client_token(namespace, request.mcp_token_secret)
    url = ensure_stack(
        stack,
        vllm_url=request.serving_url,
        served_model=request.serving_model,
        revision=request.revision,
        clients=clients,
        vllm_token=stack.tokens.token(model_client) if request.serving_auth else None,
        otlp_endpoint=request.otlp_endpoint,
    )
    report = stack_health.verify_chain(
        url, model_id(request.serving_model), request.mcp_url, mcp_token
    )
    return replace(report, caller=clients.pipeline)
