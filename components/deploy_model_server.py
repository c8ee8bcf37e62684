"""Step 4: serve the registered model with vLLM (KServe on the cluster, a process locally)."""

from typing import NamedTuple

from components import step_component


@step_component("llama_rollout.serving.request:ServingRequest")
def deploy_model_server(
    model_name: str,
    model_uri: str,
    storage_path: str,
    revision: str,
    registered_model_id: str,
    model_version_id: str,
    run_id: str,
    target: str = "openshift",
    s3_prefix: str = "models",
    data_connection: str = "llama-rollout-models",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
    namespace: str = "self-healing-platform",
    runtime_image: str = "registry.redhat.io/rhaiis/vllm-cuda-rhel9"
    "@sha256:e6a64e3e4de7c7f585601379ecea204d2d045bb113331edd4b3799f52b8e92b7",
    gpu_count: int = 1,
    tolerations: str = '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
    node_selector: str = "{}",
    max_model_len: int = 32768,
    tool_call_parser: str = "llama3_json",
    chat_template: str = "tool_chat_template_llama3.2_json.jinja",
    shm_size: str = "2Gi",
    extra_vllm_args: list = [],  # noqa: B006 - a KFP parameter default, never mutated
    min_replicas: int = 1,
    max_replicas: int = 1,
    enable_auth: bool = True,
    lightspeed_endpoint: str = "llama-stack",
    require_tool_calling: bool = True,
    timeout_seconds: int = 1800,
) -> NamedTuple("ModelServer", url=str, model=str, name=str):
    """Deploy vLLM for the model version, wait until it serves, check tool calling.

    Returns:
        url: the OpenAI-compatible base URL (ending in ``/v1``).
        model: the served model name.
        name: the InferenceService serving this version (``<model>-<revision[:7]>``).
    """
    arguments = dict(locals())  # first: exactly the arguments
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.serving.request import ServingRequest
    from llama_rollout.serving.step import serve
    from llama_rollout.step_parameters import request_from
    from llama_rollout.targets import Target

    configure_step_logging()
    served = serve(Target.parse(target), request_from(ServingRequest, arguments))
    journal.note(
        journal.DeployModelServerNote(
            serving_url=served.url, serving_model=served.model, serving_name=served.name
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    return namedtuple("ModelServer", ["url", "model", "name"])(
        served.url, served.model, served.name
    )
