"""Step 4: serve the registered model with vLLM (KServe on the cluster, a process locally)."""

from typing import NamedTuple

from components import runtime_component


@runtime_component
def deploy_model_server(
    target: str,
    model_name: str,
    model_uri: str,
    storage_path: str,
    revision: str,
    data_connection: str,
    registry_url: str,
    registry_name: str,
    registry_namespace: str,
    registered_model_id: str,
    model_version_id: str,
    namespace: str,
    runtime_image: str,
    gpu_count: int,
    tolerations: str,
    node_selector: str,
    max_model_len: int,
    tool_call_parser: str,
    chat_template: str,
    shm_size: str,
    extra_vllm_args: list,
    min_replicas: int,
    max_replicas: int,
    enable_auth: bool,
    require_tool_calling: bool,
    timeout_seconds: int,
    s3_prefix: str,
    run_id: str,
) -> NamedTuple("ModelServer", url=str, model=str, name=str):
    """Deploy vLLM for the model version, wait until it serves, check tool calling.

    Args:
        target: ``openshift`` (KServe InferenceService) or ``local`` (embedded stack).
        model_name: the served model name; the InferenceService is ``<model>-<revision[:7]>``.
        model_uri: the mirrored model (``s3://...``).
        storage_path: the model's path in the data connection's bucket.
        revision: the source revision (the local server is reused while it is unchanged).
        data_connection: the data connection Secret KServe reads the model with.
        registry_url: the Model Registry's REST URL; empty to find ``registry_name``'s.
        registry_name: the registry's name, for the dashboard's linkage labels.
        registry_namespace: where the ModelRegistry lives.
        registered_model_id: registry id, put on the InferenceService's labels.
        model_version_id: registry id, put on the InferenceService's labels.
        namespace: the data science project to deploy in; empty for the pipeline's own.
        runtime_image: the vLLM runtime image (pinned).
        gpu_count: GPUs per replica (0 for none).
        tolerations: pod tolerations as JSON, e.g. ``[{"key": "nvidia.com/gpu", "operator": "Exists"}]``.
        node_selector: node labels the predictor must run on, as a JSON object.
        max_model_len: vLLM ``--max-model-len``.
        tool_call_parser: vLLM ``--tool-call-parser`` (``llama3_json`` for Llama 3.2).
        chat_template: vLLM ``--chat-template``: a file name in the image's template folder,
            or an absolute path inside the image.
        shm_size: the predictor's shared memory (/dev/shm).
        extra_vllm_args: more vLLM arguments.
        min_replicas: predictor minimum replicas.
        max_replicas: predictor maximum replicas.
        enable_auth: put the endpoint behind OpenShift AI token auth.
        require_tool_calling: fail when the tool-calling preflight fails (cluster only).
        timeout_seconds: how long to wait for the server.
        s3_prefix: the models' folder in the bucket (the run's journal is under it).
        run_id: the pipeline run, for the journal.

    Returns:
        url: the OpenAI-compatible base URL (ending in ``/v1``).
        model: the served model name.
        name: the InferenceService serving this version (``<model>-<revision[:7]>``).
    """
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.serving.step import ServingRequest, serve
    from llama_rollout.targets import Target

    configure_step_logging()
    request = ServingRequest(
        model_name=model_name, model_uri=model_uri, storage_path=storage_path, revision=revision,
        data_connection=data_connection, registry_url=registry_url, registry_name=registry_name,
        registry_namespace=registry_namespace, registered_model_id=registered_model_id,
        model_version_id=model_version_id, namespace=namespace, runtime_image=runtime_image,
        gpu_count=gpu_count, tolerations=tolerations, node_selector=node_selector,
        max_model_len=max_model_len, tool_call_parser=tool_call_parser,
        chat_template=chat_template, shm_size=shm_size, extra_vllm_args=extra_vllm_args,
        min_replicas=min_replicas, max_replicas=max_replicas, enable_auth=enable_auth,
        require_tool_calling=require_tool_calling, timeout_seconds=timeout_seconds,
    )  # fmt: skip
    served = serve(Target.parse(target), request)
    journal.note(journal.Step.DEPLOY_MODEL_SERVER, journal.DeployModelServerNote(
        serving_url=served.url, serving_model=served.model, serving_name=served.name),
        s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    return namedtuple("ModelServer", ["url", "model", "name"])(
        served.url, served.model, served.name
    )
