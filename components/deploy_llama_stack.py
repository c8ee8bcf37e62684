"""Step 5: Llama Stack wired to the served model and to the cluster-health MCP server."""

from typing import NamedTuple

from components import runtime_component


@runtime_component
def deploy_llama_stack(
    target: str,
    serving_url: str,
    serving_model: str,
    revision: str,
    mcp_url: str,
    namespace: str,
    name: str,
    distribution_image: str,
    distribution_name: str,
    vllm_token_secret: str,
    vllm_max_tokens: int,
    replicas: int,
    storage_size: str,
    timeout_seconds: int,
    lightspeed_endpoint: str,
    s3_prefix: str,
    run_id: str,
) -> NamedTuple("LlamaStack", url=str, version=str, model_id=str, mcp_tools=list, name=str):
    """Deploy Llama Stack against vLLM and check the chain Llama Stack -> vLLM and -> MCP.

    Args:
        target: ``openshift`` (operator CR, or Deployment without the operator) or ``local``.
        serving_url: vLLM's OpenAI-compatible base URL (from ``deploy_model_server``).
        serving_model: the served model name.
        revision: the model revision (the local stack restarts when it changes).
        mcp_url: the cluster-health MCP server's streamable HTTP endpoint.
        namespace: where to deploy; empty for the pipeline's own namespace.
        name: the LlamaStackDistribution (or Deployment) name; each version gets its own,
            ``<name>-<revision[:7]>``, on the cluster.
        distribution_image: the Llama Stack image, pinned (used unless distribution_name is set).
        distribution_name: an operator distribution name instead of an image (operator only).
        vllm_token_secret: a Secret with key ``token`` when vLLM has auth on; empty for none.
        vllm_max_tokens: Llama Stack's default completion limit.
        replicas: Llama Stack replicas.
        storage_size: the persistent volume for its stores.
        timeout_seconds: how long to wait for it.
        lightspeed_endpoint: what Lightspeed will call; ``llama-stack`` admits its namespace to
            this Llama Stack (the operator's NetworkPolicy refuses it otherwise).
        s3_prefix: the models' folder in the bucket (the run's journal is under it).
        run_id: the pipeline run, for the journal.

    Returns:
        url: Llama Stack's base URL.
        version: the server's version.
        model_id: the model's Llama Stack id (``vllm/<served name>``).
        mcp_tools: the MCP tools Llama Stack sees.
        name: this version's Llama Stack (``<name>-<revision[:7]>`` on the cluster).
    """
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.stack.step import StackRequest, serve
    from llama_rollout.targets import Target

    configure_step_logging()
    request = StackRequest(
        serving_url=serving_url, serving_model=serving_model, revision=revision, mcp_url=mcp_url,
        namespace=namespace, name=name, distribution_image=distribution_image,
        distribution_name=distribution_name, vllm_token_secret=vllm_token_secret,
        vllm_max_tokens=vllm_max_tokens, replicas=replicas, storage_size=storage_size,
        timeout_seconds=timeout_seconds, lightspeed_endpoint=lightspeed_endpoint,
    )  # fmt: skip
    report = serve(Target.parse(target), request)
    name = request.deployment_name(Target.parse(target))
    journal.note(journal.Step.DEPLOY_LLAMA_STACK, journal.DeployLlamaStackNote(
        url=report.url, version=report.version, model_id=report.model_id,
        mcp_tools=report.mcp_tools, name=name), s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    outputs = namedtuple("LlamaStack", ["url", "version", "model_id", "mcp_tools", "name"])
    return outputs(report.url, report.version, report.model_id, report.mcp_tools, name)
