"""Step 1: pin the model source to an immutable revision."""

from typing import NamedTuple

from components import runtime_component


@runtime_component
def resolve_source(source_uri: str, model_name: str) -> NamedTuple(
    "ResolvedSource",
    pinned_uri=str,
    revision=str,
    model_name=str,
    total_bytes=int,
    file_count=int,
):
    """Resolve a source URI to the revision every later step uses.

    Args:
        source_uri: ``hf://ORG/REPO[@REVISION]`` or ``file:///PATH``; ``HF_TOKEN`` and
            ``HF_ENDPOINT`` come from the environment.
        model_name: the model's name everywhere (InferenceService, S3 folder, RegisteredModel):
            a DNS-1035 label of at most 53 characters; empty to derive it from the repository.

    Returns:
        pinned_uri: the source URI with its resolved revision.
        revision: the hub commit sha, or the folder's content digest.
        model_name: the model name to use downstream.
        total_bytes: size of the files to mirror.
        file_count: number of files to mirror.
    """
    import logging
    from collections import namedtuple

    from llama_rollout.weights.step import resolve_step

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    resolved = resolve_step(source_uri, model_name)
    outputs = namedtuple(
        "ResolvedSource", ["pinned_uri", "revision", "model_name", "total_bytes", "file_count"]
    )
    return outputs(
        resolved.pinned_uri,
        resolved.revision,
        resolved.model_name,
        resolved.total_bytes,
        resolved.file_count,
    )
