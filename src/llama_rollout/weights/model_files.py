"""A model's source and its files: the parsed source URI, each file with what it must hash to,
a source pinned to one revision, and which of a repository's files vLLM reads.

The types every part of the weights stage shares (the hub's resolution in ``source``, a
folder's in ``folder``, the mirror, the reader, the bucket), apart from how a source is found.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from llama_rollout.k8s_types import model_name_from

# Repositories often carry the same weights twice (Meta's original checkpoint, .bin beside
# .safetensors). vLLM reads safetensors, so the others would only cost transfer and storage.
ALWAYS_SKIPPED = ("original/*", ".gitattributes")
ALTERNATE_WEIGHT_FORMATS = ("*.bin", "*.pth", "*.pt", "*.h5", "*.msgpack", "*.ckpt", "*.gguf")


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI, before anything is looked up."""

    kind: Literal["hf", "file"]
    location: str
    revision: str | None = None

    def __str__(self) -> str:
        if self.kind == "hf":
            return f"hf://{self.location}" + (f"@{self.revision}" if self.revision else "")
        return f"file://{self.location}"


@dataclass(frozen=True)
class SourceFile:
    """One file of a model: its path in the repository and what it must hash to."""

    path: str
    size: int
    sha256: str | None = None
    git_blob_id: str | None = None


@dataclass(frozen=True)
class ResolvedSource:
    """A source pinned to one revision, with the files to mirror."""

    spec: SourceSpec
    revision: str
    files: tuple[SourceFile, ...]
    skipped: tuple[str, ...] = field(default=())

    @property
    def pinned_uri(self) -> str:
        """The source URI with the revision it resolved to."""
        if self.spec.kind == "hf":
            return f"hf://{self.spec.location}@{self.revision}"
        return str(self.spec)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def default_model_name(self) -> str:
        """A valid model name from the repo or folder name (``SmolLM2-135M`` -> ``smollm2-135m``)."""
        return model_name_from(self.spec.location.rstrip("/").rsplit("/", 1)[-1])


def select_serving_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """Split a repository's files into those vLLM needs and those it would never read.

    Args:
        paths: every file path in the repository.

    Returns:
        ``(kept, skipped)``, both in the input order.
    """
    has_safetensors = any(p.endswith(".safetensors") for p in paths)
    patterns = ALWAYS_SKIPPED + (ALTERNATE_WEIGHT_FORMATS if has_safetensors else ())
    kept: list[str] = []
    skipped: list[str] = []
    for path in paths:
        (skipped if any(fnmatch.fnmatch(path, pat) for pat in patterns) else kept).append(path)
    return kept, skipped
