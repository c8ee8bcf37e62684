"""Step 1: pin the model source to an immutable revision, and compare it with the live one."""

from typing import NamedTuple

from components import runtime_component


@runtime_component
def resolve_source(
    source_uri: str, model_name: str, target: str, force: bool, provider: str, namespace: str,
    registry_url: str, registry_name: str, registry_namespace: str, s3_prefix: str, run_id: str,
) -> NamedTuple("ResolvedSource", pinned_uri=str, revision=str, model_name=str,
                total_bytes=int, file_count=int, changed=bool, reason=str):  # fmt: skip
    """Resolve a source URI to the revision every later step uses, and decide whether the
    run has anything to do: the revision is live, served and published already, or not.

    Args:
        source_uri: ``hf://ORG/REPO[@REVISION]`` or ``file:///PATH``; ``HF_TOKEN`` and
            ``HF_ENDPOINT`` come from the environment.
        model_name: the model's name everywhere (S3 folder, RegisteredModel, served model):
            a DNS-1035 label of at most 45 characters; empty to derive it from the repository.
        target: ``openshift`` or ``local``.
        force: run every step even when the revision is live and healthy.
        provider: the Lightspeed provider the live version must be published as.
        namespace: where the live version is served; empty for the pipeline's own.
        registry_url: the Model Registry's REST URL; empty to find ``registry_name``'s.
        registry_name: the registry's name as the dashboard shows it.
        registry_namespace: where the ModelRegistry lives.
        s3_prefix: the models' folder in the bucket (the run's journal is under it).
        run_id: the pipeline run, for the journal.

    Returns:
        pinned_uri: the source URI with its resolved revision.
        revision: the hub commit sha, or the folder's content digest.
        model_name: the model name to use downstream.
        total_bytes: size of the files to mirror.
        file_count: number of files to mirror.
        changed: whether the heavy steps run.
        reason: why (or why not).
    """
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.publish.live import compare
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.targets import Target
    from llama_rollout.weights.step import resolve_step

    configure_step_logging()
    resolved = resolve_step(source_uri, model_name)
    check = compare(
        target=Target.parse(target), model_name=resolved.model_name, revision=resolved.revision,
        provider=provider, force=force, registry_url=registry_url, registry_name=registry_name,
        registry_namespace=registry_namespace, namespace=namespace,
    )  # fmt: skip
    journal.note(journal.Step.RESOLVE_SOURCE, journal.ResolveSourceNote(
        pinned_uri=resolved.pinned_uri, revision=resolved.revision,
        model_name=resolved.model_name, changed=check.changed, reason=check.reason,
        live_version=check.live_version), s3_prefix=s3_prefix, run_id=run_id)  # fmt: skip
    outputs = namedtuple("ResolvedSource", ["pinned_uri", "revision", "model_name", "total_bytes",
                                            "file_count", "changed", "reason"])  # fmt: skip
    return outputs(resolved.pinned_uri, resolved.revision, resolved.model_name,
                   resolved.total_bytes, resolved.file_count, check.changed, check.reason)  # fmt: skip
