"""The Llama Stack stage: Llama Stack wired to the served model and to the MCP server.

``settings`` decide it, ``config`` is its ``config.yaml`` and version guard, ``objects`` the
operator's CR or the fallback Deployment, ``readiness`` their state, ``health`` the chain
checks both targets end with, and ``openshift`` and ``embedded`` are the two targets.
"""

from llama_rollout.stack.config import (
    StackVersionError,
    check_version,
    model_id,
    parse_version,
    stack_config,
)
from llama_rollout.stack.objects import (
    config_digest,
    config_map,
    fallback_objects,
    llama_stack_distribution,
    service_url,
    stack_objects,
)
from llama_rollout.stack.settings import (
    CONFIG_DIGEST_ENV,
    DEFAULT_IMAGE,
    LLSD_API,
    PORT,
    StackSettings,
    settings_from,
)

__all__ = [
    "CONFIG_DIGEST_ENV",
    "DEFAULT_IMAGE",
    "LLSD_API",
    "PORT",
    "StackSettings",
    "StackVersionError",
    "check_version",
    "config_digest",
    "config_map",
    "fallback_objects",
    "llama_stack_distribution",
    "model_id",
    "parse_version",
    "service_url",
    "settings_from",
    "stack_config",
    "stack_objects",
]
