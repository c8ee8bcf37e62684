"""The weights stage's steps: resolve a source to its revision, mirror that revision into S3.

Both are the same code on both targets: what differs is the hub (``HF_ENDPOINT``) and the data
connection keys in the environment, which the embedded stack sets as the cluster's Secrets do.
"""

from __future__ import annotations

from llama_rollout.weights import source
from llama_rollout.weights.connection import DataConnection
from llama_rollout.weights.mirror import mirror as mirror_revision
from llama_rollout.weights.plan import MirroredModel, MirrorSettings, check_base_prefix
from llama_rollout.weights.request import ResolvedModel
from llama_rollout.weights.source import check_model_name, parse_source_uri


def resolve(source_uri: str, model_name: str = "") -> ResolvedModel:
    """Pin ``source_uri`` to its revision; the model's name is checked first, or derived.

    Raises:
        ConfigurationError: the URI or the name is malformed.
        SourceNotFoundError: the repository, revision or folder does not exist.
    """
    if model_name:  # checked first, before any later step writes it anywhere
        check_model_name(model_name)
    resolved = source.resolve(parse_source_uri(source_uri))
    return ResolvedModel(
        resolved.pinned_uri,
        resolved.revision,
        model_name or resolved.default_model_name,
        resolved.files,
        resolved.skipped,
    )


def mirror(
    pinned_uri: str,
    model_name: str,
    s3_prefix: str = "models",
    *,
    settings: MirrorSettings | None = None,
    connection: DataConnection | None = None,
) -> MirroredModel:
    """Mirror the pinned source into the data connection's bucket (from the environment).

    Every input is checked (the name, the prefix, the data connection's keys) before the
    source is read.
    """
    check_model_name(model_name)
    check_base_prefix(s3_prefix)
    connection = connection or DataConnection.from_env()
    resolved = source.resolve(parse_source_uri(pinned_uri))
    return mirror_revision(
        resolved,
        connection,
        model_name=model_name,
        base_prefix=s3_prefix,
        settings=settings,
    )
