"""Llama Stack's 0.7.x ``config.yaml``, the model ids it gives, and the versions that take it.

The config wires one remote vLLM (``remote::vllm``, ``base_url`` ending in ``/v1``) and the
Responses API, whose MCP tool support is how the evaluation reaches the cluster-health MCP
server. Secrets stay out of it: the vLLM token is read from the environment
(``${env.VLLM_API_TOKEN:=}``), which the pod fills from a Secret.
"""

from __future__ import annotations

import re
from typing import Any

from llama_rollout.errors import RolloutError
from llama_rollout.stack.settings import DEFAULT_IMAGE, PORT, PROVIDER_ID, SUPPORTED_VERSIONS


class StackVersionError(RolloutError):
    """The Llama Stack server's version does not take the config this project writes."""


def stack_config(
    *,
    distro_name: str,
    vllm_url: str,
    storage_dir: str,
    max_tokens: int = 4096,
    tls_verify: bool | str = True,
    host: str = "0.0.0.0",
    auth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Llama Stack 0.7.x ``config.yaml`` for one remote vLLM and the Responses API.

    Args:
        distro_name: the distribution's name (shown by the server).
        vllm_url: vLLM's base URL, ending in ``/v1``.
        storage_dir: where the sqlite stores and files live (the distribution's volume);
            ``SQLITE_STORE_DIR`` overrides the stores' folder.
        max_tokens: default completion limit.
        tls_verify: verify vLLM's certificate (against a CA file, when a path).
        host: the bind address.
        auth: the ``server.auth`` section (``stack.access.auth_config``); none lets anyone in.
    """
    store = f"${{env.SQLITE_STORE_DIR:={storage_dir}}}"
    return {
        "version": 2,
        "distro_name": distro_name,
        # vector_io and tool_runtime must be listed even without providers: in Llama Stack
        # 0.7.3 the responses API depends on both, and the stack does not start without them.
        "apis": ["inference", "responses", "tool_runtime", "vector_io", "files"],
        "providers": {
            "inference": [
                {
                    "provider_id": PROVIDER_ID,
                    "provider_type": "remote::vllm",
                    "config": {
                        "base_url": vllm_url,
                        "max_tokens": max_tokens,
                        "api_token": "${env.VLLM_API_TOKEN:=fake}",
                        "network": {"tls": {"verify": tls_verify}},
                    },
                }
            ],
            "files": [
                {
                    "provider_id": "localfs",
                    "provider_type": "inline::localfs",
                    "config": {
                        "storage_dir": f"{storage_dir}/files",
                        "metadata_store": {
                            "table_name": "files_metadata",
                            "backend": "sql_default",
                        },
                    },
                }
            ],
            "responses": [
                {
                    "provider_id": "builtin",
                    "provider_type": "inline::builtin",
                    "config": {
                        "persistence": {
                            "agent_state": {"namespace": "agents", "backend": "kv_default"},
                            "responses": {"table_name": "responses", "backend": "sql_default"},
                        }
                    },
                }
            ],
        },
        "storage": {
            "backends": {
                "kv_default": {"type": "kv_sqlite", "db_path": f"{store}/kvstore.db"},
                "sql_default": {"type": "sql_sqlite", "db_path": f"{store}/sql_store.db"},
            },
            "stores": {
                "metadata": {"namespace": "registry", "backend": "kv_default"},
                "inference": {"table_name": "inference_store", "backend": "sql_default"},
                "conversations": {"table_name": "openai_conversations", "backend": "sql_default"},
                "prompts": {"namespace": "prompts", "backend": "kv_default"},
            },
        },
        "server": {"host": host, "port": PORT, **({"auth": auth} if auth else {})},
    }


def model_id(served_model_name: str) -> str:
    """Llama Stack's id for a vLLM model: ``<provider_id>/<served-model-name>``."""
    return f"{PROVIDER_ID}/{served_model_name}"


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise StackVersionError(f"cannot read the Llama Stack version {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def check_version(text: str) -> tuple[int, int, int]:
    """Refuse a server whose version does not accept the config format written here."""
    version = parse_version(text)
    low, high = SUPPORTED_VERSIONS
    if not low <= version < high:
        supported = f">= {'.'.join(map(str, low))}, < {'.'.join(map(str, high))}"
        raise StackVersionError(
            f"Llama Stack {text} is not supported: this project writes the config format of {supported}",
            hint=f"deploy a Llama Stack image or distribution {supported} (for example {DEFAULT_IMAGE})",
        )
    return version
