"""Step 7: make the evaluated version Lightspeed's provider (only when the gate passed)."""

from typing import NamedTuple

from kfp.dsl import Markdown, Output

from components import step_component


@step_component("llama_rollout.publish.request:PublishRequest")
def publish(
    model_name: str,
    serving_url: str,
    serving_model: str,
    llama_stack_url: str,
    llama_stack_model_id: str,
    olsconfig_patch: Output[Markdown],
    olsconfig: Output[Markdown],
    model_version_name: str = "",
    serving_name: str = "",
    stack_name: str = "",
    model_uri: str = "",
    run_id: str = "",
    target: str = "openshift",
    s3_prefix: str = "models",
    endpoint: str = "llama-stack",
    serving_auth: bool = True,
    token_secret: str = "lightspeed-model-client-token",
    service_account: str = "lightspeed-model-client",
    provider: str = "llamastack",
    make_default: bool = True,
    mcp_url: str = "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp",
    mcp_token_secret: str = "",
    register_mcp: bool = True,
    max_model_len: int = 32768,
    max_tokens: int = 2048,
    create_missing: bool = False,
    timeout_seconds: int = 600,
    lightspeed_url: str = "",
    keep_versions: int = 0,
    namespace: str = "self-healing-platform",
    data_connection: str = "llama-rollout-models",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
) -> NamedTuple("Published", summary=str, changed=bool, retired=list):
    """Merge this version's provider into OLSConfig ``cluster`` (every other provider and
    field kept), wait for Lightspeed to roll, ask it one question through the new provider,
    restore the previous spec on failure; record the publication on the ModelVersion and
    remove the versions it replaced beyond ``keep_versions``.

    Args:
        olsconfig_patch: the merge patch, as Markdown.
        olsconfig: OLSConfig ``cluster`` after publishing, as Markdown.

    Returns:
        summary: one line: provider, model, URL.
        changed: whether OLSConfig changed.
        retired: the versions removed.
    """
    arguments = dict(locals())  # first: exactly the arguments
    from collections import namedtuple
    from pathlib import Path

    from llama_rollout import journal
    from llama_rollout.publish.request import PublishRequest
    from llama_rollout.publish.step import publish as publish_version
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.step_parameters import request_from
    from llama_rollout.targets import Target

    configure_step_logging()
    request = request_from(PublishRequest, arguments)
    # Beside the artifacts: on a laptop, the YAML files are where the run summary says.
    outcome = publish_version(Target.parse(target), request, Path(olsconfig.path).parent / "files")
    patch = outcome.files["patch"].read_text()
    Path(olsconfig_patch.path).write_text(
        f"# OLSConfig cluster: the merge patch\n\n```json\n{patch}```\n"
    )
    result = outcome.files["olsconfig"].read_text()
    Path(olsconfig.path).write_text(
        f"# OLSConfig cluster after publishing\n\n```yaml\n{result}```\n"
    )
    journal.note(
        journal.PublishNote(
            summary=outcome.summary,
            changed=outcome.changed,
            retired=list(outcome.retired),
            olsconfig_path=str(outcome.files["olsconfig"]),
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    outputs = namedtuple("Published", ["summary", "changed", "retired"])
    return outputs(outcome.summary, outcome.changed, list(outcome.retired))
