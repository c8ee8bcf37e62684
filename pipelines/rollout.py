"""The llama-rollout pipeline: from a Hugging Face model to a served model behind Llama Stack.

Compile with ``make compile`` (writes ``pipelines/llama-rollout.yaml``, which is committed and
checked for staleness by the tests). Secrets never pass through parameters: the pipeline takes
the *names* of the Secrets and mounts their keys as environment variables.
"""

from typing import NamedTuple

from kfp import dsl, kubernetes

from components.check_parameters import check_parameters
from components.deploy_llama_stack import deploy_llama_stack
from components.deploy_model_server import deploy_model_server
from components.evaluate import evaluate
from components.mirror_weights import mirror_weights
from components.register_model import register_model
from components.resolve_source import resolve_source
from llama_rollout.serving import DEFAULT_RUNTIME_IMAGE, LLAMA3_CHAT_TEMPLATE, LLAMA3_TOOL_PARSER

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


class RolloutOutputs(NamedTuple):
    source: str
    revision: str
    model_name: str
    model_uri: str
    bytes_transferred: int
    files: int
    registered_model_id: str
    model_version_id: str
    model_version_name: str
    serving_url: str
    serving_model: str
    llama_stack_url: str
    llama_stack_version: str
    llama_stack_model_id: str
    mcp_tools: list
    evals_passed: bool
    evals_missed: list
    evals_metrics: dict
    evals_report: str
    evals_report_uri: str


# JSON text, not list/dict parameters: the compiler writes dict defaults in a different key
# order on every run, and text is what the dashboard's run form edits anyway.
GPU_TOLERATIONS = '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]'


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Mirror a Llama model to S3, register it, serve it with vLLM, put Llama Stack and MCP in front.",
)
def rollout_pipeline(
    source_uri: str = "hf://HuggingFaceTB/SmolLM2-135M-Instruct",
    model_name: str = "",
    data_connection: str = "llama-rollout-models",
    hf_token_secret: str = "hf-token",
    s3_prefix: str = "models",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
    target: str = "openshift",
    namespace: str = "",
    runtime_image: str = DEFAULT_RUNTIME_IMAGE,
    gpu_count: int = 1,
    tolerations: str = GPU_TOLERATIONS,
    node_selector: str = "{}",
    max_model_len: int = 8192,
    tool_call_parser: str = LLAMA3_TOOL_PARSER,
    chat_template: str = LLAMA3_CHAT_TEMPLATE,
    shm_size: str = "2Gi",
    extra_vllm_args: list = [],  # noqa: B006 - a KFP parameter default, never mutated
    min_replicas: int = 1,
    max_replicas: int = 1,
    enable_auth: bool = False,
    require_tool_calling: bool = True,
    serving_timeout_seconds: int = 1800,
    mcp_url: str = "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
    llama_stack_name: str = "llama-stack",
    llama_stack_image: str = "docker.io/llamastack/distribution-starter:0.7.3",
    llama_stack_distribution: str = "",
    vllm_token_secret: str = "",
    llama_stack_max_tokens: int = 4096,
    llama_stack_replicas: int = 1,
    llama_stack_storage_size: str = "5Gi",
    llama_stack_timeout_seconds: int = 900,
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
    max_calls_in_text: float = 0.0,
    lm_eval_tasks: list = ["openshift_troubleshooting"],  # noqa: B006 - never mutated
    lm_eval_limit: int = 0,
    lm_eval_concurrency: int = 4,
) -> RolloutOutputs:
    """Take a model from its source to a registered, verified copy in S3.

    Args:
        source_uri: ``hf://ORG/REPO[@REVISION]`` or ``file:///PATH``.
        model_name: registered model name; empty to derive it from the repository name.
        data_connection: name of the OpenShift AI S3 data connection Secret.
        hf_token_secret: name of a Secret with key ``HF_TOKEN`` (may be empty for public repos).
        s3_prefix: folder in the bucket that holds all models.
        registry_name: the Model Registry, by the name the dashboard shows (its
            ModelRegistry CR); the steps find its address there.
        registry_namespace: where the ModelRegistry CRs live.
        registry_url: a registry's REST URL instead (overrides registry_name's).
        target: ``openshift`` (KServe) or ``local`` (the embedded stack; set by ``run --local``).
        namespace: where to serve; empty for the pipeline's own namespace.
        runtime_image: the vLLM runtime image, pinned to a tag or digest.
        gpu_count: GPUs per predictor replica (0 for none).
        tolerations: predictor tolerations as JSON (the GPU node taint by default).
        node_selector: predictor node selector as a JSON object.
        max_model_len: vLLM ``--max-model-len``.
        tool_call_parser: vLLM ``--tool-call-parser``.
        chat_template: vLLM ``--chat-template``: a file name in the runtime image's template
            folder (known for the OpenShift AI and Red Hat AI Inference Server images), or an
            absolute path inside the image.
        shm_size: the predictor's shared memory (/dev/shm); raise it for several GPUs.
        extra_vllm_args: more vLLM arguments.
        min_replicas: predictor minimum replicas.
        max_replicas: predictor maximum replicas.
        enable_auth: token auth on the endpoint.
        require_tool_calling: fail when the tool-calling preflight fails.
        serving_timeout_seconds: how long to wait for the model server.
        mcp_url: the cluster-health MCP server (streamable HTTP endpoint).
        llama_stack_name: the LlamaStackDistribution (or fallback Deployment) name.
        llama_stack_image: the Llama Stack image, pinned (0.7.x).
        llama_stack_distribution: an operator distribution name instead of the image.
        vllm_token_secret: a Secret with key ``token`` when vLLM has auth on.
        llama_stack_max_tokens: Llama Stack's default completion limit.
        llama_stack_replicas: Llama Stack replicas.
        llama_stack_storage_size: Llama Stack's persistent volume.
        llama_stack_timeout_seconds: how long to wait for Llama Stack.
        eval_dataset: the evaluation dataset: ``cluster-health`` (the bundled snapshot's
            facts), ``cluster-health-live`` (grounded answers, for live clusters), or a YAML
            file in the image.
        eval_cases: a subset of the dataset's case ids; empty for all.
        eval_trials: how many times each case runs (pass^k is over them).
        eval_tool_choice: the Responses API's ``tool_choice``: auto, required or none.
        eval_max_infer_iters: Llama Stack's inference rounds per turn.
        eval_max_tool_calls: tool calls per turn.
        eval_max_output_tokens: the answer's token limit per turn.
        eval_concurrency: cases at once.
        min_tool_selection_accuracy: the gate: the right tools called.
        min_argument_accuracy: the gate: the right calls by BFCL's rules.
        min_irrelevance_accuracy: the gate: no call where none belongs (greetings apart).
        min_greeting_accuracy: the gate: no call on a greeting.
        min_answer_correctness: the gate: answers that say what they must.
        min_task_success: the gate: the right calls and a correct answer.
        max_error_rate: the gate: cases that did not run (transport, timeout).
        max_calls_in_text: the gate: calls written in the text instead of made.
        lm_eval_tasks: lm-eval tasks run against vLLM for general quality (not gated):
            ``openshift_troubleshooting`` is built in and offline; lm-eval's own generative
            tasks need the hub. Empty turns lm-eval off.
        lm_eval_limit: samples per lm-eval task; 0 for all.
        lm_eval_concurrency: lm-eval requests at once (``num_concurrent``).

    Returns:
        Where the model is and its registry ids.
    """
    parameters = dict(locals())  # first: exactly the pipeline's parameters
    checked = check_parameters(**parameters)
    checked.set_display_name("check parameters")

    # Every later step follows the resolve step, which follows the check: nothing is written
    # anywhere before every parameter is known to be good.
    resolved = resolve_source(source_uri=source_uri, model_name=model_name).after(checked)
    resolved.set_display_name("resolve source")
    resolved.set_caching_options(False)  # a branch may have moved since the last run

    mirrored = mirror_weights(
        pinned_uri=resolved.outputs["pinned_uri"],
        model_name=resolved.outputs["model_name"],
        s3_prefix=s3_prefix,
    )
    mirrored.set_display_name("mirror weights")
    # Never cached: the data connection reaches the step as a Secret mount, outside the cache
    # key, so a cache hit could return a model_uri in a bucket that was emptied or changed.
    # Not retried by KFP either: transient S3 and hub errors are retried inside the step, a
    # permanent one would only fail again, and the next run resumes where this one stopped.
    mirrored.set_caching_options(False)

    registered = register_model(
        model_name=resolved.outputs["model_name"],
        model_uri=mirrored.outputs["model_uri"],
        registry_url=registry_url,
        registry_name=registry_name,
        registry_namespace=registry_namespace,
        data_connection=data_connection,
        pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    registered.set_display_name("register model")

    served = deploy_model_server(
        target=target,
        model_name=resolved.outputs["model_name"],
        model_uri=mirrored.outputs["model_uri"],
        storage_path=mirrored.outputs["storage_path"],
        revision=resolved.outputs["revision"],
        data_connection=data_connection,
        registry_url=registry_url,
        registry_name=registry_name,
        registry_namespace=registry_namespace,
        registered_model_id=registered.outputs["registered_model_id"],
        model_version_id=registered.outputs["model_version_id"],
        namespace=namespace,
        runtime_image=runtime_image,
        gpu_count=gpu_count,
        tolerations=tolerations,
        node_selector=node_selector,
        max_model_len=max_model_len,
        tool_call_parser=tool_call_parser,
        chat_template=chat_template,
        shm_size=shm_size,
        extra_vllm_args=extra_vllm_args,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        enable_auth=enable_auth,
        require_tool_calling=require_tool_calling,
        timeout_seconds=serving_timeout_seconds,
    )
    served.set_display_name("deploy model server")
    served.set_caching_options(False)  # the server's health is checked on every run

    stack = deploy_llama_stack(
        target=target,
        serving_url=served.outputs["url"],
        serving_model=served.outputs["model"],
        revision=resolved.outputs["revision"],
        mcp_url=mcp_url,
        namespace=namespace,
        name=llama_stack_name,
        distribution_image=llama_stack_image,
        distribution_name=llama_stack_distribution,
        vllm_token_secret=vllm_token_secret,
        vllm_max_tokens=llama_stack_max_tokens,
        replicas=llama_stack_replicas,
        storage_size=llama_stack_storage_size,
        timeout_seconds=llama_stack_timeout_seconds,
    )
    stack.set_display_name("deploy Llama Stack")
    stack.set_caching_options(False)  # the chain is checked on every run
    # The operator's NetworkPolicy (RHOAI 2.x, upstream <= v0.7.0) admits pods with this label:
    # the step checks the chain through the stack's Service.
    kubernetes.add_pod_label(stack, "app.kubernetes.io/part-of", "llama-stack")

    evaluated = evaluate(
        llama_stack_url=stack.outputs["url"],
        model_id=stack.outputs["model_id"],
        mcp_url=mcp_url,
        dataset=eval_dataset,
        cases=eval_cases,
        trials=eval_trials,
        tool_choice=eval_tool_choice,
        max_infer_iters=eval_max_infer_iters,
        max_tool_calls=eval_max_tool_calls,
        max_output_tokens=eval_max_output_tokens,
        concurrency=eval_concurrency,
        min_tool_selection_accuracy=min_tool_selection_accuracy,
        min_argument_accuracy=min_argument_accuracy,
        min_irrelevance_accuracy=min_irrelevance_accuracy,
        min_greeting_accuracy=min_greeting_accuracy,
        min_answer_correctness=min_answer_correctness,
        min_task_success=min_task_success,
        max_error_rate=max_error_rate,
        max_calls_in_text=max_calls_in_text,
        serving_url=served.outputs["url"],
        serving_model=served.outputs["model"],
        serving_auth=enable_auth,
        lm_eval_tasks=lm_eval_tasks,
        lm_eval_limit=lm_eval_limit,
        lm_eval_concurrency=lm_eval_concurrency,
        model_uri=mirrored.outputs["model_uri"],
        model_name=resolved.outputs["model_name"],
        model_version_name=registered.outputs["model_version_name"],
        data_connection=data_connection,
        registry_url=registry_url,
        registry_name=registry_name,
        registry_namespace=registry_namespace,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    evaluated.set_display_name("evaluate")
    evaluated.set_caching_options(False)  # it measures the live stack
    kubernetes.add_pod_label(evaluated, "app.kubernetes.io/part-of", "llama-stack")

    for task in (resolved, mirrored):
        kubernetes.use_secret_as_env(
            task, secret_name=hf_token_secret, secret_key_to_env=HF_TOKEN_KEYS
        )
    for task in (mirrored, registered, served, evaluated):
        kubernetes.use_secret_as_env(
            task, secret_name=data_connection, secret_key_to_env=DATA_CONNECTION_KEYS
        )

    return RolloutOutputs(
        source=resolved.outputs["pinned_uri"],
        revision=resolved.outputs["revision"],
        model_name=resolved.outputs["model_name"],
        model_uri=mirrored.outputs["model_uri"],
        bytes_transferred=mirrored.outputs["bytes_transferred"],
        files=mirrored.outputs["files"],
        registered_model_id=registered.outputs["registered_model_id"],
        model_version_id=registered.outputs["model_version_id"],
        model_version_name=registered.outputs["model_version_name"],
        serving_url=served.outputs["url"],
        serving_model=served.outputs["model"],
        llama_stack_url=stack.outputs["url"],
        llama_stack_version=stack.outputs["version"],
        llama_stack_model_id=stack.outputs["model_id"],
        mcp_tools=stack.outputs["mcp_tools"],
        evals_passed=evaluated.outputs["passed"],
        evals_missed=evaluated.outputs["missed"],
        evals_metrics=evaluated.outputs["metrics"],
        evals_report=evaluated.outputs["report_path"],
        evals_report_uri=evaluated.outputs["report_uri"],
    )
