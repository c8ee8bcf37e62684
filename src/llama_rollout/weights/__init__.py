"""The weights stage: a model source pinned to a revision, mirrored into S3, verified.

``source`` resolves ``hf://`` and ``file://`` sources (``folder``: model folders), ``reader``
reads their files (following the hub's redirects to its CDN), ``connection`` is the S3 data
connection, whose keys ``inputs`` checks where they are read, and the mirror moves the bytes:
``plan`` (layout, settings), ``manifest``, ``buffers``, ``stream`` (the read with resume),
``bucket`` and ``uploads`` (the S3 requests), ``mirror`` (the job). ``verify`` reads a mirror
back; ``inventory`` lists the mirrors under a base prefix and prunes the unfinished ones.
"""

from llama_rollout.weights.connection import DataConnection, check_connection_secret
from llama_rollout.weights.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestFile,
    read_manifest,
    split_s3_uri,
)
from llama_rollout.weights.mirror import mirror
from llama_rollout.weights.model_files import ResolvedSource, SourceFile, SourceSpec
from llama_rollout.weights.plan import MirroredModel, MirrorSettings, model_prefix, part_size_for
from llama_rollout.weights.reader import SourceReader
from llama_rollout.weights.source import check_model_name, parse_source_uri, resolve

__all__ = [
    "MANIFEST_NAME",
    "DataConnection",
    "Manifest",
    "ManifestFile",
    "MirrorSettings",
    "MirroredModel",
    "ResolvedSource",
    "SourceFile",
    "SourceReader",
    "SourceSpec",
    "check_connection_secret",
    "check_model_name",
    "mirror",
    "model_prefix",
    "parse_source_uri",
    "part_size_for",
    "read_manifest",
    "resolve",
    "split_s3_uri",
]
