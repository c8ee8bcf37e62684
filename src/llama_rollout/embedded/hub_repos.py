"""Model folders published as hub repositories: file metadata and a commit sha, as a push makes.

A folder is "committed" when it is published: its file metadata (size, git blob id, and the
sha256 of LFS files) and commit sha are computed then and served from memory, as a real hub
serves a commit. Files that change on disk afterwards no longer match what the hub declared,
which is how tests play a corrupt store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

LFS_THRESHOLD = 10 * 1024 * 1024
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".h5", ".msgpack", ".model")
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob_id: str
    sha256: str | None

    @property
    def etag(self) -> str:
        return self.sha256 or self.blob_id

    def tree_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "type": "file",
            "oid": self.blob_id,
            "size": self.size,
            "path": self.path,
        }
        if self.sha256:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return entry

    def sibling(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "rfilename": self.path,
            "size": self.size,
            "blobId": self.blob_id,
        }
        if self.sha256:
            entry["lfs"] = {"sha256": self.sha256, "size": self.size, "pointerSize": 134}
        return entry


@dataclass(frozen=True)
class HubRepo:
    repo_id: str
    folder: Path
    commit: str
    files: dict[str, HubFile]

    @classmethod
    def publish(cls, repo_id: str, folder: Path) -> HubRepo:
        """Compute the file metadata and commit sha of a folder, as a push to the hub would."""
        files = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel.startswith("."):
                continue
            files[rel] = _describe(rel, path)
        tree = hashlib.sha1(usedforsecurity=False)
        for f in files.values():
            tree.update(f"{f.path}\0{f.blob_id}\0{f.sha256 or ''}\n".encode())
        return cls(repo_id, folder, tree.hexdigest(), files)


def _describe(rel: str, path: Path) -> HubFile:
    size = path.stat().st_size
    blob = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    lfs = size >= LFS_THRESHOLD or rel.endswith(LFS_SUFFIXES)
    sha = hashlib.sha256() if lfs else None
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            blob.update(chunk)
            if sha is not None:
                sha.update(chunk)
    return HubFile(rel, size, blob.hexdigest(), sha.hexdigest() if sha else None)


def tree_entries(repo: HubRepo, base: str, *, recursive: bool) -> dict[str, dict[str, object]]:
    """The hub's tree listing of folder ``base``: files and folders, recursively or not."""
    entries: dict[str, dict[str, object]] = {}
    for hub_file in repo.files.values():
        if base and not hub_file.path.startswith(base + "/"):
            continue
        rest = hub_file.path[len(base) + 1 :] if base else hub_file.path
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(filter(None, [base, *parts[:depth]]))
            entries.setdefault(
                directory, {"type": "directory", "oid": "0" * 40, "size": 0, "path": directory}
            )
            if not recursive:
                break
        if recursive or len(parts) == 1:
            entries[hub_file.path] = hub_file.tree_entry()
    return entries
