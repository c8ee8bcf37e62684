"""The environment a workbench would give the notebooks, read off the embedded stack.

On OpenShift AI, a workbench gets ``AWS_*`` from its data connection and the endpoints as
environment variables that its owner sets, and calls Llama Stack with its service account's
token, mounted in the pod. On a laptop the notebooks call :func:`workbench_environment`
instead, so that every cell after the settings cell reads the same variables on both: the
token is the one the embedded stack's authority minted for the workbench the stack admits.
"""

from __future__ import annotations

from llama_rollout.embedded.service_accounts import Identity
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import ConfigurationError
from llama_rollout.mcp_server.access import TOKEN_ENV

DATA_CONNECTION_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_ENDPOINT",
    "AWS_S3_BUCKET",
    "AWS_DEFAULT_REGION",
)
ENDPOINT_KEYS = ("LLAMA_STACK_URL", "MODEL_REGISTRY_URL", "MCP_SERVER_URL", "MODEL_NAME")
# On a workbench the token is the pod's service-account token, at the notebooks' default path.
TOKEN_FILE_KEY = "LLAMA_STACK_TOKEN_FILE"  # noqa: S105 - the name of a variable


def workbench_environment(stack: EmbeddedStack | None = None) -> dict[str, str]:
    """The data connection's keys and the endpoints of the running embedded stack.

    Raises:
        ConfigurationError: the stack has no model server or Llama Stack yet.
    """
    stack = stack or EmbeddedStack()
    records = {name: stack.record(name) for name in ("llama-stack", "vllm")}
    missing = [name for name, record in records.items() if record is None]
    if missing:
        raise ConfigurationError(
            f"the embedded stack runs no {' and no '.join(missing)}",
            hint="run `make demo` first, or set "
            + ", ".join(ENDPOINT_KEYS)
            + " and a data connection's AWS_* variables",
        )
    env = stack.environment()
    vllm = records["vllm"]
    workbench = (records["llama-stack"].labels or {}).get("workbench")  # type: ignore[union-attr]
    if not workbench:
        raise ConfigurationError(
            "the embedded Llama Stack admits no workbench",
            hint="run the pipeline with workbench_service_account set (`make demo` sets "
            "workbench), or pass your own token to the stack",
        )
    return {
        TOKEN_FILE_KEY: str(stack.tokens.issue(Identity.of_principal(workbench))),
        **{key: env[key] for key in DATA_CONNECTION_KEYS if key in env},
        "LLAMA_STACK_URL": records["llama-stack"].url,  # type: ignore[union-attr]
        "MODEL_REGISTRY_URL": env["MODEL_REGISTRY_URL"],
        "MCP_SERVER_URL": env["MCP_SERVER_URL"],
        # On a workbench: an environment variable from the MCP server's Secret.
        TOKEN_ENV: stack.mcp_token(),
        "MODEL_NAME": (vllm.labels or {})["model"],  # type: ignore[union-attr]
    }
