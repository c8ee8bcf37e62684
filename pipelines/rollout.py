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
from llama_rollout.serving import DEFAULT_RUNTIME_IMAGE, LLAMA3_CHAT_TEMPLATE, LLAMA3_TOOL_PARSER
from llama_rollout.serving.request import GPU_TOLERATIONS
from llama_rollout.step_parameters import pipeline_sources

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


def _rollout(**p: Any) -> None:
    """The steps inside the exit handler (a plain function: the pipeline's DAG, not a pipeline)."""
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    checked = check_parameters(**p)
    checked.set_display_name(Step.CHECK_PARAMETERS.display_name)

    # Every later step follows the resolve step, which follows the check: nothing is written
    # anywhere before every parameter is known to be good.
    resolved = resolve_source(
        source_uri=p["source_uri"], model_name=p["model_name"], target=p["target"],
        force=p["force"], provider=p["lightspeed_provider"], namespace=p["namespace"],
        registry_url=p["registry_url"], registry_name=p["registry_name"],
        registry_namespace=p["registry_namespace"], s3_prefix=p["s3_prefix"], run_id=run_id,
    ).after(checked)  # fmt: skip
    resolved.set_display_name(Step.RESOLVE_SOURCE.display_name)
    resolved.set_caching_options(False)  # a branch may have moved since the last run
    resolved.set_retry(num_retries=2, backoff_duration="30s")
    network_steps = [resolved]

    with dsl.If(resolved.outputs["changed"] == True, name="revision-changed"):  # noqa: E712
        network_steps += _deploy_and_evaluate(p, resolved, run_id)

    for task in network_steps:
        kubernetes.use_secret_as_env(
            task, secret_name=p["data_connection"], secret_key_to_env=DATA_CONNECTION_KEYS
        )
    for task in network_steps[:2]:  # resolve and mirror read the hub
        kubernetes.use_secret_as_env(
            task, secret_name=p["hf_token_secret"], secret_key_to_env=HF_TOKEN_KEYS
        )
    # The operator's NetworkPolicy (RHOAI 2.x, upstream <= v0.7.0) admits pods with this label:
    # the steps that call Llama Stack through its Service carry it.
    for task in [*network_steps[-3:], resolved]:
        kubernetes.add_pod_label(task, "app.kubernetes.io/part-of", "llama-stack")


def _wired(component: Any, p: dict, **given: Any) -> Any:
    """The component's task: ``given`` (earlier steps' outputs) and, for every other parameter,
    the pipeline parameter its request declares."""
    sources = pipeline_sources(component.python_func.__request__)
    names = inspect.signature(component.python_func).parameters
    return component(**given, **{name: p[sources[name]] for name in names if name not in given})


def _deploy_and_evaluate(p: dict, resolved: Any, run_id: str) -> list:
    model_name = resolved.outputs["model_name"]
    revision = resolved.outputs["revision"]
    registry = {"registry_url": p["registry_url"], "registry_name": p["registry_name"],
                "registry_namespace": p["registry_namespace"]}  # fmt: skip

    mirrored = mirror_weights(
        pinned_uri=resolved.outputs["pinned_uri"], model_name=model_name,
        s3_prefix=p["s3_prefix"], run_id=run_id,
    )  # fmt: skip
    mirrored.set_display_name(Step.MIRROR_WEIGHTS.display_name)
    # Never cached: the data connection reaches the step as a Secret mount, outside the cache
    # key, so a cache hit could return a model_uri in a bucket that was emptied or changed.
    # Not retried by KFP either: transient S3 and hub errors are retried inside the step, a
    # permanent one would only fail again, and the next run resumes where this one stopped.
    mirrored.set_caching_options(False)

    registered = register_model(
        model_name=model_name, model_uri=mirrored.outputs["model_uri"],
        data_connection=p["data_connection"], pipeline_run_id=run_id, s3_prefix=p["s3_prefix"],
        **registry,
    )  # fmt: skip
    registered.set_display_name(Step.REGISTER_MODEL.display_name)
    registered.set_caching_options(False)  # it writes to the registry
    registered.set_retry(num_retries=2, backoff_duration="30s")

    served = _wired(
        deploy_model_server, p, model_name=model_name, model_uri=mirrored.outputs["model_uri"],
        storage_path=mirrored.outputs["storage_path"], revision=revision,
        registered_model_id=registered.outputs["registered_model_id"],
        model_version_id=registered.outputs["model_version_id"], run_id=run_id,
    )  # fmt: skip
    served.set_display_name(Step.DEPLOY_MODEL_SERVER.display_name)
    served.set_caching_options(False)  # the server's health is checked on every run

    stack = _wired(
        deploy_llama_stack, p, serving_url=served.outputs["url"],
        serving_model=served.outputs["model"], revision=revision, run_id=run_id,
    )  # fmt: skip
    stack.set_display_name(Step.DEPLOY_LLAMA_STACK.display_name)
    stack.set_caching_options(False)  # the chain is checked on every run

    evaluated = evaluate(
        llama_stack_url=stack.outputs["url"], model_id=stack.outputs["model_id"],
        mcp_url=p["mcp_url"], dataset=p["eval_dataset"], cases=p["eval_cases"],
        trials=p["eval_trials"], tool_choice=p["eval_tool_choice"],
        max_infer_iters=p["eval_max_infer_iters"], max_tool_calls=p["eval_max_tool_calls"],
        max_output_tokens=p["eval_max_output_tokens"], concurrency=p["eval_concurrency"],
        **{name: p[name] for name in THRESHOLDS},
        serving_url=served.outputs["url"], serving_model=served.outputs["model"],
        serving_auth=p["enable_auth"], lm_eval_tasks=p["lm_eval_tasks"],
        lm_eval_limit=p["lm_eval_limit"], lm_eval_concurrency=p["lm_eval_concurrency"],
        model_uri=mirrored.outputs["model_uri"], model_name=model_name,
        model_version_name=registered.outputs["model_version_name"],
        data_connection=p["data_connection"], run_id=run_id, s3_prefix=p["s3_prefix"],
        **registry,
    )  # fmt: skip
    evaluated.set_display_name(Step.EVALUATE.display_name)
    evaluated.set_caching_options(False)  # it measures the live stack

    with dsl.If(evaluated.outputs["passed"] == True, name="gate-passed"):  # noqa: E712
        published = publish(
            target=p["target"], model_name=model_name,
            model_version_name=registered.outputs["model_version_name"],
            serving_url=served.outputs["url"], serving_model=served.outputs["model"],
            serving_name=served.outputs["name"], stack_name=stack.outputs["name"],
            llama_stack_url=stack.outputs["url"],
            llama_stack_model_id=stack.outputs["model_id"],
            endpoint=p["lightspeed_endpoint"], serving_auth=p["enable_auth"],
            token_secret=p["lightspeed_token_secret"], provider=p["lightspeed_provider"],
            make_default=p["lightspeed_default"], mcp_url=p["mcp_url"],
            register_mcp=p["lightspeed_mcp_server"], max_model_len=p["max_model_len"],
            max_tokens=p["lightspeed_max_tokens"], create_missing=p["lightspeed_create"],
            timeout_seconds=p["lightspeed_timeout_seconds"], lightspeed_url=p["lightspeed_url"],
            keep_versions=p["keep_versions"], namespace=p["namespace"],
            s3_prefix=p["s3_prefix"], run_id=run_id, model_uri=mirrored.outputs["model_uri"],
            data_connection=p["data_connection"], **registry,
        )  # fmt: skip
        published.set_display_name(Step.PUBLISH.display_name)
        published.set_caching_options(False)  # it changes OLSConfig
        published.set_retry(num_retries=1, backoff_duration="60s")
    return [mirrored, registered, served, stack, evaluated, published]


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


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Mirror a Llama model to S3, register it, serve it with vLLM behind Llama Stack "
    "and MCP, evaluate its tool use, and publish it to OpenShift Lightspeed when it passes.",
)
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
        max_model_len: vLLM ``--max-model-len``, and Lightspeed's contextWindowSize.
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
        max_calls_in_text_rate: the gate: the share of trials with a call written in the text
            instead of made.
        min_case_coverage: the gate: the share of the dataset's cases evaluated; below 1
            allows a run with ``eval_cases`` to publish.
        lm_eval_tasks: lm-eval tasks run against vLLM for general quality (not gated):
            ``openshift_troubleshooting`` is built in and offline; lm-eval's own generative
            tasks need the hub. Empty turns lm-eval off.
        lm_eval_limit: samples per lm-eval task; 0 for all.
        lm_eval_concurrency: lm-eval requests at once (``num_concurrent``).
        force: run every step even when the source's revision is live, served and published.
        lightspeed_provider: the provider's name in OLSConfig; the entry with this name is
            replaced, every other one kept.
        lightspeed_endpoint: what Lightspeed talks to: ``llama-stack`` (Llama Stack's
            OpenAI-compatible /v1, the Llama Stack model id) or ``vllm`` (vLLM's /v1).
        lightspeed_default: make the provider and model Lightspeed's default.
        lightspeed_mcp_server: register the MCP server with Lightspeed (MCPServer gate).
        lightspeed_max_tokens: the model's maxTokensForResponse.
        lightspeed_create: create OLSConfig cluster when there is none, instead of failing.
        lightspeed_timeout_seconds: how long to wait for Lightspeed to roll the change.
        lightspeed_url: Lightspeed's API for the check question; empty for its Service.
        lightspeed_token_secret: a service-account token Secret for Lightspeed to call vLLM
            with, when lightspeed_endpoint is vllm and enable_auth is on.
        keep_versions: replaced versions kept serving after a switch (0 removes them).

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
