"""A Hugging Face hub-compatible server that publishes model folders as repositories.

It speaks the part of the hub API that ``huggingface_hub`` and the mirror use: model info with
file metadata (``/api/models/REPO[/revision/REV]?blobs=true``), and file reads at a revision
(``/REPO/resolve/REV/PATH``) with the hub's headers (``X-Repo-Commit``, ``ETag``,
``X-Linked-Etag``, ``X-Linked-Size``) and HTTP Range. Errors carry the hub's ``X-Error-Code``
so the client raises the same exceptions as against huggingface.co.

A folder is "committed" when it is published: its file metadata and commit sha are computed
then and served from memory, as a real hub serves a commit. Files that change on disk
afterwards no longer match what the hub declared, which is how tests play a corrupt store.

Tests can also make the server misbehave (``Faults``): stop sending bytes halfway through a
file, as a stuck CDN connection does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

logger = logging.getLogger(__name__)

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


@dataclass
class Faults:
    """Misbehaviour to play, for tests. Each fault fires once per listed file."""

    stall_after_bytes: dict[str, int] = field(default_factory=dict)
    stall_seconds: float = 3600.0
    requests: list[str] = field(default_factory=list)


def create_app(repos: dict[str, Path], faults: Faults | None = None) -> FastAPI:
    """The hub app serving ``repos`` (repo id -> folder)."""
    published = {
        repo_id: HubRepo.publish(repo_id, Path(folder)) for repo_id, folder in repos.items()
    }
    faults = faults or Faults()
    app = FastAPI(title="llama-rollout hub", docs_url=None, redoc_url=None)
    app.state.repos = published
    app.state.faults = faults

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers={"X-Error-Code": code})

    def find(repo_id: str, revision: str | None) -> HubRepo | JSONResponse:
        repo = published.get(repo_id)
        if repo is None:
            return error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if revision not in (None, "main", repo.commit):
            return error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo

    def info(repo_id: str, revision: str | None) -> Response:
        repo = find(repo_id, revision)
        if isinstance(repo, Response):
            return repo
        return JSONResponse(
            {
                "_id": repo.commit[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "sha": repo.commit,
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": ["safetensors", "llama", "text-generation"],
                "pipeline_tag": "text-generation",
                "library_name": "transformers",
                "siblings": [f.sibling() for f in repo.files.values()],
            }
        )

    @app.get("/api/models/{repo_id:path}/tree/{revision}/{path:path}")
    @app.get("/api/models/{repo_id:path}/tree/{revision}")
    def tree(repo_id: str, revision: str, request: Request, path: str = "") -> Response:
        repo = find(repo_id, revision)
        if isinstance(repo, Response):
            return repo
        recursive = request.query_params.get("recursive", "false").lower() == "true"
        base = path.strip("/")
        entries = tree_entries(repo, base, recursive=recursive)
        if base and not entries:
            return error(404, "EntryNotFound", f"{path} does not exist at {revision}")
        return JSONResponse(list(entries.values()))

    @app.get("/api/models/{repo_id:path}/revision/{revision:path}")
    def model_info_at(repo_id: str, revision: str) -> Response:
        return info(repo_id, revision)

    @app.get("/api/models/{repo_id:path}")
    def model_info(repo_id: str) -> Response:
        return info(repo_id, None)

    @app.api_route("/{repo_id:path}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve(repo_id: str, revision: str, path: str, request: Request) -> Response:
        repo = find(repo_id, revision)
        if isinstance(repo, Response):
            return repo
        hub_file = repo.files.get(path)
        if hub_file is None:
            return error(404, "EntryNotFound", f"{path} does not exist at {revision}")
        faults.requests.append(f"{request.method} {path} {request.headers.get('range', '')}")
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{hub_file.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if hub_file.sha256:
            headers["X-Linked-Etag"] = f'"{hub_file.sha256}"'
            headers["X-Linked-Size"] = str(hub_file.size)
        disk_size = (repo.folder / path).stat().st_size
        start, end = 0, disk_size - 1
        status = 200
        if range_header := request.headers.get("range"):
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
            if not match or int(match.group(1)) >= max(disk_size, 1):
                return Response(status_code=416, headers={"Content-Range": f"bytes */{disk_size}"})
            start = int(match.group(1))
            end = min(int(match.group(2)), disk_size - 1) if match.group(2) else disk_size - 1
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{disk_size}"
        headers["Content-Length"] = str(max(end - start + 1, 0))
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        stall_at = faults.stall_after_bytes.pop(path, None)
        body = _read_range(repo.folder / path, start, end, stall_at, faults.stall_seconds)
        return StreamingResponse(body, status_code=status, headers=headers)

    return app


async def _read_range(path: Path, start: int, end: int, stall_at: int | None, stall_seconds: float):
    sent = 0
    with path.open("rb") as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = await asyncio.to_thread(fh.read, min(READ_CHUNK, remaining))
            if not chunk:
                return
            if stall_at is not None and sent + len(chunk) > stall_at:
                yield chunk[: max(stall_at - sent, 0)]
                logger.warning("fault: stalling %s at byte %d", path.name, start + stall_at)
                await asyncio.sleep(stall_seconds)
                return
            remaining -= len(chunk)
            sent += len(chunk)
            yield chunk


def main(argv: list[str] | None = None) -> None:
    """Run the hub server: ``python -m llama_rollout.local.hub_server --repo ORG/NAME=DIR``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--repo", action="append", default=[], metavar="ORG/NAME=DIR")
    args = parser.parse_args(argv)
    repos = {}
    for item in args.repo:
        repo_id, _, folder = item.partition("=")
        repos[repo_id] = Path(os.path.expanduser(folder))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(repos), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
