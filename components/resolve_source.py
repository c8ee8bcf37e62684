"""Step 1: pin the model source to an immutable revision, and compare it with the live one."""

from typing import NamedTuple

from components import step_component


@step_component("llama_rollout.weights.request:ResolveRequest")
def resolve_source(
    run_id: str,
    target: str = "openshift",
    s3_prefix: str = "models",
    source_uri: str = "hf://meta-llama/Llama-3.2-3B-Instruct",
    model_name: str = "",
    force: bool = False,
    provider: str = "llamastack",
    namespace: str = "self-healing-platform",
    registry_name: str = "",
    registry_namespace: str = "rhoai-model-registries",
    registry_url: str = "",
) -> NamedTuple(
    "ResolvedSource",
    pinned_uri=str,
    revision=str,
    model_name=str,
    total_bytes=int,
    file_count=int,
    changed=bool,
    reason=str,
):
    """Resolve a source URI to the revision every later step uses (``HF_TOKEN`` and
    ``HF_ENDPOINT`` come from the environment), and decide whether the run has anything to
    do: the revision is live, served and published already, or not.

    Returns:
        pinned_uri: the source URI with its resolved revision.
        revision: the hub commit sha, or the folder's content digest.
        model_name: the model name to use downstream.
        total_bytes: size of the files to mirror.
        file_count: number of files to mirror.
        changed: whether the heavy steps run.
        reason: why (or why not).
    """
    arguments = dict(locals())  # first: exactly the arguments
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.publish.live import compare
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.step_parameters import request_from
    from llama_rollout.targets import Target
    from llama_rollout.weights.request import ResolveRequest
    from llama_rollout.weights.step import resolve

    configure_step_logging()
    request = request_from(ResolveRequest, arguments)
    resolved = resolve(request.source_uri, request.model_name)
    check = compare(
        target=Target.parse(target),
        model_name=resolved.model_name,
        revision=resolved.revision,
        provider=request.provider,
        force=request.force,
        registry=request.registry,
        namespace=request.namespace,
    )
    journal.note(
        journal.ResolveSourceNote(
            pinned_uri=resolved.pinned_uri,
            revision=resolved.revision,
            model_name=resolved.model_name,
            changed=check.changed,
            reason=check.reason,
            live_version=check.live_version,
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    outputs = namedtuple(
        "ResolvedSource",
        ["pinned_uri", "revision", "model_name", "total_bytes", "file_count", "changed", "reason"],
    )
    return outputs(
        resolved.pinned_uri,
        resolved.revision,
        resolved.model_name,
        resolved.total_bytes,
        resolved.file_count,
        check.changed,
        check.reason,
    )
