"""The llama-rollout pipeline: from a Hugging Face model to OpenShift Lightspeed's provider.

resolve -> mirror -> register -> deploy model server -> deploy Llama Stack -> evaluate ->
(gate passed) publish, inside an exit handler that writes the run summary whatever happened.
When the source's revision is live, served and published already, everything after resolve
is skipped (``force`` overrides that): a scheduled run finishes in seconds.

Compile with ``make compile`` (writes ``pipelines/llama-rollout.yaml``, which is committed and
checked for staleness by the tests). Secrets never pass through parameters: the pipeline takes
the *names* of the Secrets and mounts their keys as environment variables.
"""

import inspect
from typing import Any

from kfp import dsl, kubernetes

from components.check_parameters import check_parameters
from components.deploy_llama_stack import deploy_llama_stack
from components.deploy_model_server import deploy_model_server
from components.evaluate import evaluate
from components.mirror_weights import mirror_weights
from components.publish import publish
from components.register_model import register_model
from components.resolve_source import resolve_source
from components.summarize_run import summarize_run
from llama_rollout.journal import Step
from llama_rollout.parameters import pipeline_parameters
from llama_rollout.serving import DEFAULT_RUNTIME_IMAGE, LLAMA3_CHAT_TEMPLATE, LLAMA3_TOOL_PARSER
from llama_rollout.serving.request import GPU_TOLERATIONS
from llama_rollout.step_parameters import docstring, pipeline_sources

PIPELINE_NAME = "llama-rollout"

# Keys of an OpenShift AI S3 data connection Secret, mounted under the same names.
DATA_CONNECTION_KEYS = {
    key: key
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_S3_ENDPOINT",
        "AWS_S3_BUCKET",
        "AWS_DEFAULT_REGION",
    )
}
HF_TOKEN_KEYS = {"HF_TOKEN": "HF_TOKEN"}
# The steps that read the hub get the HF token. The ones that call Llama Stack carry no label
# for its NetworkPolicy: it admits the pipeline's namespace, and the stack its runner's token.
READS_THE_HUB = (Step.RESOLVE_SOURCE, Step.MIRROR_WEIGHTS)


def _rollout(**p: Any) -> None:
    """The steps inside the exit handler (a plain function: the pipeline's DAG, not a pipeline)."""
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    checked = check_parameters(**p)
    checked.set_display_name(Step.CHECK_PARAMETERS.display_name)

    # Every later step follows the resolve step, which follows the check: nothing is written
    # anywhere before every parameter is known to be good.
    resolved = _wired(resolve_source, p, run_id=run_id).after(checked)
    resolved.set_display_name(Step.RESOLVE_SOURCE.display_name)
    resolved.set_caching_options(False)  # a branch may have moved since the last run
    resolved.set_retry(num_retries=2, backoff_duration="30s")
    tasks = {Step.RESOLVE_SOURCE: resolved}

    with dsl.If(resolved.outputs["changed"] == True, name="revision-changed"):  # noqa: E712
        tasks |= _deploy_and_evaluate(p, resolved, run_id)

    for task in tasks.values():
        kubernetes.use_secret_as_env(
            task, secret_name=p["data_connection"], secret_key_to_env=DATA_CONNECTION_KEYS
        )
    for step in READS_THE_HUB:
        kubernetes.use_secret_as_env(
            tasks[step], secret_name=p["hf_token_secret"], secret_key_to_env=HF_TOKEN_KEYS
        )


def _wired(component: Any, p: dict, **given: Any) -> Any:
    """The component's task: ``given`` (earlier steps' outputs) and, for every other parameter,
    the pipeline parameter its request declares."""
    sources = pipeline_sources(component.python_func.__request__)
    names = [n for n in inspect.signature(component.python_func).parameters if n in sources]
    return component(**given, **{name: p[sources[name]] for name in names if name not in given})


def _deploy_and_evaluate(p: dict, resolved: Any, run_id: str) -> dict[Step, Any]:
    model_name = resolved.outputs["model_name"]
    revision = resolved.outputs["revision"]
    mirrored = _wired(
        mirror_weights,
        p,
        pinned_uri=resolved.outputs["pinned_uri"],
        model_name=model_name,
        run_id=run_id,
    )
    mirrored.set_display_name(Step.MIRROR_WEIGHTS.display_name)
    # Never cached: the data connection reaches the step as a Secret mount, outside the cache
    # key, so a cache hit could return a model_uri in a bucket that was emptied or changed.
    # Not retried by KFP either: transient S3 and hub errors are retried inside the step, a
    # permanent one would only fail again, and the next run resumes where this one stopped.
    mirrored.set_caching_options(False)

    registered = _wired(
        register_model,
        p,
        model_name=model_name,
        model_uri=mirrored.outputs["model_uri"],
        pipeline_run_id=run_id,
    )
    registered.set_display_name(Step.REGISTER_MODEL.display_name)
    registered.set_caching_options(False)  # it writes to the registry
    registered.set_retry(num_retries=2, backoff_duration="30s")

    served = _wired(
        deploy_model_server,
        p,
        model_name=model_name,
        model_uri=mirrored.outputs["model_uri"],
        storage_path=mirrored.outputs["storage_path"],
        revision=revision,
        registered_model_id=registered.outputs["registered_model_id"],
        model_version_id=registered.outputs["model_version_id"],
        run_id=run_id,
    )
    served.set_display_name(Step.DEPLOY_MODEL_SERVER.display_name)
    served.set_caching_options(False)  # the server's health is checked on every run

    stack = _wired(
        deploy_llama_stack,
        p,
        serving_url=served.outputs["url"],
        serving_model=served.outputs["model"],
        revision=revision,
        run_id=run_id,
    )
    stack.set_display_name(Step.DEPLOY_LLAMA_STACK.display_name)
    stack.set_caching_options(False)  # the chain is checked on every run

    evaluated = _wired(
        evaluate,
        p,
        llama_stack_url=stack.outputs["url"],
        model_id=stack.outputs["model_id"],
        caller=stack.outputs["caller"],
        serving_url=served.outputs["url"],
        serving_model=served.outputs["model"],
        model_uri=mirrored.outputs["model_uri"],
        model_name=model_name,
        model_version_name=registered.outputs["model_version_name"],
        run_id=run_id,
    )
    evaluated.set_display_name(Step.EVALUATE.display_name)
    evaluated.set_caching_options(False)  # it measures the live stack

    with dsl.If(evaluated.outputs["passed"] == True, name="gate-passed"):  # noqa: E712
        published = _wired(
            publish,
            p,
            model_name=model_name,
            model_version_name=registered.outputs["model_version_name"],
            serving_url=served.outputs["url"],
            serving_model=served.outputs["model"],
            serving_name=served.outputs["name"],
            stack_name=stack.outputs["name"],
            llama_stack_url=stack.outputs["url"],
            llama_stack_model_id=stack.outputs["model_id"],
            model_uri=mirrored.outputs["model_uri"],
            run_id=run_id,
        )
        published.set_display_name(Step.PUBLISH.display_name)
        published.set_caching_options(False)  # it changes OLSConfig
        published.set_retry(num_retries=1, backoff_duration="60s")
    return {
        Step.MIRROR_WEIGHTS: mirrored,
        Step.REGISTER_MODEL: registered,
        Step.DEPLOY_MODEL_SERVER: served,
        Step.DEPLOY_LLAMA_STACK: stack,
        Step.EVALUATE: evaluated,
        Step.PUBLISH: published,
    }


THRESHOLDS = (
    "min_tool_selection_accuracy",
    "min_argument_accuracy",
    "min_irrelevance_accuracy",
    "min_greeting_accuracy",
    "min_answer_correctness",
    "min_task_success",
    "max_error_rate",
    "max_calls_in_text_rate",
    "min_case_coverage",
)


def _described(pipeline: Any) -> Any:
    """The pipeline's parameters described as their requests declare them (the dashboard
    shows these descriptions in the run form)."""
    declared = {name: p.description for name, p in pipeline_parameters().items()}
    signature = inspect.signature(pipeline).parameters
    pipeline.__doc__ = docstring(pipeline.__doc__ or "", signature, declared)
    return pipeline


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Mirror a Llama model to S3, register it, serve it with vLLM behind Llama Stack "
    "and MCP, evaluate its tool use, and publish it to OpenShift Lightspeed when it passes.",
)
@_described
def rollout_pipeline(
    source_uri: str = "hf://meta-llama/Llama-3.2-3B-Instruct",
    model_name: str = "",
    data_connection: str = "llama-rollout-models",
    hf_token_secret: str = "hf-token",
    s3_prefix: str = "models",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
    target: str = "openshift",
    namespace: str = "self-healing-platform",
    runtime_image: str = DEFAULT_RUNTIME_IMAGE,
    gpu_count: int = 1,
    tolerations: str = GPU_TOLERATIONS,
    node_selector: str = "{}",
    max_model_len: int = 32768,
    tool_call_parser: str = LLAMA3_TOOL_PARSER,
    chat_template: str = LLAMA3_CHAT_TEMPLATE,
    shm_size: str = "2Gi",
    extra_vllm_args: list = [],  # noqa: B006 - a KFP parameter default, never mutated
    min_replicas: int = 1,
    max_replicas: int = 1,
    enable_auth: bool = True,
    require_tool_calling: bool = True,
    serving_timeout_seconds: int = 1800,
    mcp_url: str = "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
    mcp_token_secret: str = "",
    llama_stack_name: str = "llama-stack",
    llama_stack_image: str = "docker.io/llamastack/distribution-starter:0.7.3",
    llama_stack_distribution: str = "",
    vllm_token_secret: str = "llama-stack-model-client-token",
    llama_stack_max_tokens: int = 4096,
    llama_stack_replicas: int = 1,
    llama_stack_storage_size: str = "5Gi",
    llama_stack_timeout_seconds: int = 900,
    llama_stack_otlp_endpoint: str = "",
    lightspeed_service_account: str = "lightspeed-model-client",
    workbench_service_account: str = "",
    llama_stack_auditors: str = "llama-stack-auditors",
    eval_dataset: str = "cluster-health",
    eval_cases: list = [],  # noqa: B006 - a KFP parameter default, never mutated
    eval_trials: int = 1,
    eval_tool_choice: str = "auto",
    eval_max_infer_iters: int = 4,
    eval_max_tool_calls: int = 4,
    eval_max_output_tokens: int = 256,
    eval_concurrency: int = 4,
    min_tool_selection_accuracy: float = 0.75,
    min_argument_accuracy: float = 0.60,
    min_irrelevance_accuracy: float = 0.60,
    min_greeting_accuracy: float = 0.75,
    min_answer_correctness: float = 0.50,
    min_task_success: float = 0.45,
    max_error_rate: float = 0.05,
    max_calls_in_text_rate: float = 0.0,
    min_case_coverage: float = 1.0,
    lm_eval_tasks: list = ["openshift_troubleshooting"],  # noqa: B006 - never mutated
    lm_eval_limit: int = 0,
    lm_eval_concurrency: int = 4,
    force: bool = False,
    lightspeed_provider: str = "llamastack",
    lightspeed_endpoint: str = "llama-stack",
    lightspeed_default: bool = True,
    lightspeed_mcp_server: bool = True,
    lightspeed_max_tokens: int = 2048,
    lightspeed_create: bool = False,
    lightspeed_timeout_seconds: int = 600,
    lightspeed_url: str = "",
    lightspeed_token_secret: str = "lightspeed-model-client-token",
    keep_versions: int = 0,
) -> dict:
    """Take a model from its source to OpenShift Lightspeed, through S3, the Model Registry,
    vLLM, Llama Stack and an evaluation of its MCP tool use.

    Returns:
        The run summary: its outcome, headline and every step's notes.
    """
    parameters = dict(locals())  # first: exactly the pipeline's parameters
    summary = summarize_run(s3_prefix=s3_prefix, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    summary.set_display_name(Step.RUN_SUMMARY.display_name)
    summary.set_caching_options(False)
    kubernetes.use_secret_as_env(
        summary, secret_name=data_connection, secret_key_to_env=DATA_CONNECTION_KEYS
    )
    with dsl.ExitHandler(summary, name="rollout"):
        _rollout(**parameters)
    return summary.outputs["record"]
