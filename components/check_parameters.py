"""Step 0: check every parameter of the run before any step writes anywhere."""

from components import runtime_component


@runtime_component
def check_parameters(
    source_uri: str,
    model_name: str,
    data_connection: str,
    hf_token_secret: str,
    s3_prefix: str,
    registry_name: str,
    registry_namespace: str,
    registry_url: str,
    target: str,
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
    serving_timeout_seconds: int,
    mcp_url: str,
    mcp_token_secret: str,
    llama_stack_name: str,
    llama_stack_image: str,
    llama_stack_distribution: str,
    vllm_token_secret: str,
    llama_stack_max_tokens: int,
    llama_stack_replicas: int,
    llama_stack_storage_size: str,
    llama_stack_timeout_seconds: int,
    llama_stack_otlp_endpoint: str,
    lightspeed_service_account: str,
    workbench_service_account: str,
    llama_stack_auditors: str,
    eval_dataset: str,
    eval_cases: list,
    eval_trials: int,
    eval_tool_choice: str,
    eval_max_infer_iters: int,
    eval_max_tool_calls: int,
    eval_max_output_tokens: int,
    eval_concurrency: int,
    min_tool_selection_accuracy: float,
    min_argument_accuracy: float,
    min_irrelevance_accuracy: float,
    min_greeting_accuracy: float,
    min_answer_correctness: float,
    min_task_success: float,
    max_error_rate: float,
    max_calls_in_text_rate: float,
    min_case_coverage: float,
    lm_eval_tasks: list,
    lm_eval_limit: int,
    lm_eval_concurrency: int,
    force: bool,
    lightspeed_provider: str,
    lightspeed_endpoint: str,
    lightspeed_default: bool,
    lightspeed_mcp_server: bool,
    lightspeed_max_tokens: int,
    lightspeed_create: bool,
    lightspeed_timeout_seconds: int,
    lightspeed_url: str,
    lightspeed_token_secret: str,
    keep_versions: int,
):
    """Fail with one line naming every bad parameter, before the mirror, the registry or the
    cluster sees any of them. The arguments are the pipeline's parameters of the same names.
    """
    parameters = dict(locals())  # first: exactly the arguments
    import logging

    from llama_rollout.parameters import check_parameters as check
    from llama_rollout.redaction import configure_step_logging

    configure_step_logging()
    check(parameters)
    logging.getLogger("llama_rollout.parameters").info(
        "all %d parameters are valid", len(parameters)
    )
