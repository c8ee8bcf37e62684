"""Step 7: make the evaluated version Lightspeed's provider (only when the gate passed)."""

from typing import NamedTuple

from kfp.dsl import Markdown, Output

from components import runtime_component


@runtime_component
def publish(
    target: str, model_name: str, model_version_name: str, serving_url: str,
    serving_model: str, serving_name: str, stack_name: str, llama_stack_url: str,
    llama_stack_model_id: str, endpoint: str, serving_auth: bool, token_secret: str,
    provider: str, make_default: bool, mcp_url: str, register_mcp: bool, max_model_len: int,
    max_tokens: int, create_missing: bool, timeout_seconds: int, lightspeed_url: str,
    keep_versions: int, namespace: str, registry_url: str, registry_name: str,
    registry_namespace: str, s3_prefix: str, run_id: str, model_uri: str, data_connection: str,
    olsconfig_patch: Output[Markdown], olsconfig: Output[Markdown],
) -> NamedTuple("Published", summary=str, changed=bool, retired=list):  # fmt: skip
    """Merge this version's provider into OLSConfig ``cluster`` (every other provider and
    field kept), wait for Lightspeed to roll, ask it one question through the new provider,
    restore the previous spec on failure; record the publication on the ModelVersion and
    remove the versions it replaced beyond ``keep_versions``.

    Args: the pipeline's ``lightspeed_*`` parameters, the served version (vLLM, Llama
    Stack, their objects' names), its registry entry, the mirror (its tokenizer counts
    Lightspeed's prompt budget), and the run for the journal.

    Returns:
        summary: one line: provider, model, URL.
        changed: whether OLSConfig changed.
        retired: the versions removed.
    """
    from collections import namedtuple
    from pathlib import Path

    from llama_rollout import journal
    from llama_rollout.publish.step import PublishRequest
    from llama_rollout.publish.step import publish as publish_version
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.targets import Target

    configure_step_logging()
    request = PublishRequest(
        model_name=model_name, model_version_name=model_version_name,
        serving_url=serving_url, serving_model=serving_model, serving_name=serving_name,
        stack_name=stack_name, llama_stack_url=llama_stack_url,
        llama_stack_model_id=llama_stack_model_id, endpoint=endpoint, serving_auth=serving_auth,
        token_secret=token_secret, provider=provider, make_default=make_default,
        mcp_url=mcp_url, register_mcp=register_mcp, max_model_len=max_model_len,
        max_tokens=max_tokens, create_missing=create_missing, timeout_seconds=timeout_seconds,
        lightspeed_url=lightspeed_url, keep_versions=keep_versions, namespace=namespace,
        run_id=run_id, registry_url=registry_url, registry_name=registry_name,
        registry_namespace=registry_namespace, model_uri=model_uri,
        data_connection=data_connection,
    )  # fmt: skip
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
    journal.note(journal.Step.PUBLISH, journal.PublishNote(
        summary=outcome.summary, changed=outcome.changed, retired=list(outcome.retired),
        olsconfig_path=str(outcome.files["olsconfig"])), s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    outputs = namedtuple("Published", ["summary", "changed", "retired"])
    return outputs(outcome.summary, outcome.changed, list(outcome.retired))
