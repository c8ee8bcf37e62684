"""Step 5: Llama Stack wired to the served model and to the cluster-health MCP server."""

from typing import NamedTuple

from components import step_component


@step_component("llama_rollout.stack.request:StackRequest")
def deploy_llama_stack(
    serving_url: str,
    serving_model: str,
    revision: str,
    run_id: str,
    target: str = "openshift",
    s3_prefix: str = "models",
    mcp_url: str = "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
    mcp_token_secret: str = "",
    namespace: str = "self-healing-platform",
    name: str = "llama-stack",
    distribution_image: str = "docker.io/llamastack/distribution-starter:0.7.3",
    distribution_name: str = "",
    vllm_token_secret: str = "llama-stack-model-client-token",
    serving_auth: bool = True,
    vllm_max_tokens: int = 4096,
    replicas: int = 1,
    storage_size: str = "5Gi",
    timeout_seconds: int = 900,
    otlp_endpoint: str = "",
    lightspeed_endpoint: str = "llama-stack",
    lightspeed_service_account: str = "lightspeed-model-client",
    workbench_service_account: str = "",
    auditors: str = "llama-stack-auditors",
) -> NamedTuple(
    "LlamaStack", url=str, version=str, model_id=str, mcp_tools=list, name=str, caller=str
):
    """Deploy Llama Stack against vLLM and check the chain Llama Stack -> vLLM and -> MCP.

    Returns:
        url: Llama Stack's base URL.
        version: the server's version.
        model_id: the model's Llama Stack id (``vllm/<served name>``).
        mcp_tools: the MCP tools Llama Stack sees.
        name: this version's Llama Stack (``<name>-<revision[:7]>`` on the cluster).
        caller: the principal the stack admits the pipeline's steps as (its audit trail's name
            for their calls).
    """
    arguments = dict(locals())  # first: exactly the arguments
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.stack.request import StackRequest
    from llama_rollout.stack.step import serve
    from llama_rollout.step_parameters import request_from
    from llama_rollout.targets import Target

    configure_step_logging()
    request = request_from(StackRequest, arguments)
    report = serve(Target.parse(target), request)
    name = request.deployment_name(Target.parse(target))
    journal.note(
        journal.DeployLlamaStackNote(
            url=report.url,
            version=report.version,
            model_id=report.model_id,
            mcp_tools=report.mcp_tools,
            name=name,
            caller=report.caller,
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    fields = ["url", "version", "model_id", "mcp_tools", "name", "caller"]
    outputs = namedtuple("LlamaStack", fields)
    return outputs(
        report.url, report.version, report.model_id, report.mcp_tools, name, report.caller
    )
