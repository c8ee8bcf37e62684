"""The serving stage: vLLM serving the registered model, on KServe or as a local process.

``settings`` decides the deployment (``tolerations`` its pods' tolerations), ``objects`` are
the ServingRuntime, the InferenceService and the NetworkPolicy that admits its clients,
``readiness`` reads their state, ``openshift`` and ``embedded`` are the two targets, and
``tool_calling`` is the preflight both run.
"""

from llama_rollout.serving.objects import inference_service, serving_objects, serving_runtime
from llama_rollout.serving.openshift import deploy, record_in_registry, serve_on_openshift
from llama_rollout.serving.readiness import check_inference_service, isvc_readiness, isvc_url
from llama_rollout.serving.settings import (
    DEFAULT_RUNTIME_IMAGE,
    LLAMA3_CHAT_TEMPLATE,
    LLAMA3_TOOL_PARSER,
    ServingSettings,
    json_setting,
    settings_from,
)
from llama_rollout.serving.tolerations import Toleration

__all__ = [
    "DEFAULT_RUNTIME_IMAGE",
    "LLAMA3_CHAT_TEMPLATE",
    "LLAMA3_TOOL_PARSER",
    "ServingSettings",
    "Toleration",
    "check_inference_service",
    "deploy",
    "inference_service",
    "isvc_readiness",
    "isvc_url",
    "json_setting",
    "record_in_registry",
    "serve_on_openshift",
    "serving_objects",
    "serving_runtime",
    "settings_from",
]
