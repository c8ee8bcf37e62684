"""A Hugging Face hub-compatible server that publishes model folders as repositories.

It answers the way huggingface.co does, not more kindly, so the mirror meets here what it
meets there (read from huggingface_hub's ``file_download.py`` and ``utils/_http.py`` and from
recorded hub responses):

* model info with file metadata (``/api/models/REPO[/revision/REV]?blobs=true``) and the tree
  listing ``snapshot_download`` uses;
* ``/REPO/resolve/REV/PATH`` of an LFS file answers **302** to a signed URL on a second host,
  the CDN, with ``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``. The
  CDN checks the signature and its expiry, answers Range requests, and refuses a request that
  also carries ``Authorization`` (400, as a pre-signed S3 URL does), so a client that forwards
  its hub token off the hub fails here as it would there;
* a regular (non-LFS) file answers **307** to a relative ``/api/resolve-cache/...`` URL
  pinned to the commit, which serves the bytes (Range too);
* with a token set, every repository is private: no token, or another one, is answered 401
  ("Invalid username or password." / "Invalid credentials in Authorization header"), as
  huggingface.co answers an unauthenticated request for a private repository;
* errors carry the hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound), so
  huggingface_hub raises the same exceptions as against huggingface.co.

Repositories are model folders published as a push would (``hub_repos``). Tests make the
server misbehave by overriding the ``Hub``'s hooks (tests/faulty_hub.py).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from llama_rollout.embedded.hub_repos import READ_CHUNK, HubFile, HubRepo, tree_entries

logger = logging.getLogger(__name__)

SIGNED_URL_SECONDS = 3600


class Hub:
    """The published repositories, shared by the hub app and its CDN app.

    The three hooks at the end (``received``, ``answer_first``, ``file_bytes``) do what
    huggingface.co does; tests override them to record requests and to misbehave.

    Args:
        repos: repo id -> folder.
        token: when set, repositories are private and need ``Authorization: Bearer <token>``.
    """

    def __init__(self, repos: dict[str, Path], *, token: str | None = None) -> None:
        self.repos = {rid: HubRepo.publish(rid, Path(folder)) for rid, folder in repos.items()}
        self.token = token
        self._key = secrets.token_bytes(32)

    def signature(self, repo_id: str, hub_file: HubFile, expires: int) -> str:
        message = f"{repo_id}\n{hub_file.sha256}\n{hub_file.path}\n{expires}"
        return hmac.new(self._key, message.encode(), "sha256").hexdigest()

    def signed_url(self, cdn_url: str, repo: HubRepo, hub_file: HubFile) -> str:
        """A CDN URL for one LFS file that expires, as huggingface.co's CloudFront URLs do."""
        expires = int(time.time() + SIGNED_URL_SECONDS)
        path = f"/repos/{quote(repo.repo_id)}/{hub_file.sha256}/{quote(hub_file.path)}"
        query = {"Expires": expires, "Signature": self.signature(repo.repo_id, hub_file, expires)}
        return f"{cdn_url}{path}?{urlencode(query)}"

    def file_response(
        self, request: Request, repo: HubRepo, hub_file: HubFile, headers: dict[str, str]
    ) -> Response:
        """The file's bytes (or the part a Range asks for), with the given headers."""
        disk_size = (repo.folder / hub_file.path).stat().st_size
        start, end = 0, disk_size - 1
        status = 200
        headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
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
        body = self.file_bytes(repo.folder / hub_file.path, hub_file, start, end)
        return StreamingResponse(body, status_code=status, headers=headers)

    # -- hooks ----------------------------------------------------------------------------

    def received(self, server: str, request: Request) -> None:
        """Called with every file request, on the hub (``server`` "hub") and the CDN ("cdn")."""

    def answer_first(self, path: str, request: Request) -> Response | None:
        """An answer to ``/resolve/`` of ``path`` before the hub's own; None for the hub's."""
        return None

    async def file_bytes(
        self, disk_path: Path, hub_file: HubFile, start: int, end: int
    ) -> AsyncIterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive) of a file."""
        with disk_path.open("rb") as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = await asyncio.to_thread(fh.read, min(READ_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


def _error(status: int, code: str | None, message: str) -> JSONResponse:
    headers = {"X-Error-Code": code} if code else {}
    if code is None and status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="Authentication required", charset="UTF-8"'
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_hub_app(hub: Hub, cdn_url: str) -> FastAPI:
    """The hub API for ``hub``'s repositories; LFS reads redirect to the CDN at ``cdn_url``."""
    app = FastAPI(title="llama-rollout hub", docs_url=None, redoc_url=None)
    app.state.hub = hub
    cdn_url = cdn_url.rstrip("/")

    def find(request: Request, repo_id: str, revision: str | None) -> HubRepo | JSONResponse:
        if hub.token is not None:
            sent = request.headers.get("authorization", "")
            if not sent:
                return _error(401, None, "Invalid username or password.")
            if not hmac.compare_digest(sent, f"Bearer {hub.token}"):
                return _error(401, None, "Invalid credentials in Authorization header")
        repo = hub.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if revision not in (None, "main", repo.commit):
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo

    def info(request: Request, repo_id: str, revision: str | None) -> Response:
        repo = find(request, repo_id, revision)
        if isinstance(repo, Response):
            return repo
        return JSONResponse(
            {
                "_id": repo.commit[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "sha": repo.commit,
                "private": hub.token is not None,
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

    def entry(
        request: Request, repo_id: str, revision: str, path: str
    ) -> tuple[HubRepo, HubFile] | Response:
        repo = find(request, repo_id, revision)
        if isinstance(repo, Response):
            return repo
        hub_file = repo.files.get(path)
        if hub_file is None:
            response = _error(404, "EntryNotFound", f"{path} does not exist at {revision}")
            response.headers["X-Repo-Commit"] = repo.commit
            return response
        return repo, hub_file

    @app.get("/api/models/{repo_id:path}/tree/{revision}/{path:path}")
    @app.get("/api/models/{repo_id:path}/tree/{revision}")
    def tree(repo_id: str, revision: str, request: Request, path: str = "") -> Response:
        repo = find(request, repo_id, revision)
        if isinstance(repo, Response):
            return repo
        recursive = request.query_params.get("recursive", "false").lower() == "true"
        base = path.strip("/")
        entries = tree_entries(repo, base, recursive=recursive)
        if base and not entries:
            return _error(404, "EntryNotFound", f"{path} does not exist at {revision}")
        return JSONResponse(list(entries.values()))

    @app.api_route(
        "/api/resolve-cache/models/{repo_id:path}/{commit}/{path:path}", methods=["GET", "HEAD"]
    )
    def resolve_cache(repo_id: str, commit: str, path: str, request: Request) -> Response:
        hub.received("hub", request)
        found = entry(request, repo_id, commit, path)
        if isinstance(found, Response):
            return found
        repo, hub_file = found
        return hub.file_response(
            request, repo, hub_file, {"X-Repo-Commit": repo.commit, "ETag": f'"{hub_file.etag}"'}
        )

    @app.get("/api/models/{repo_id:path}/revision/{revision:path}")
    def model_info_at(repo_id: str, revision: str, request: Request) -> Response:
        return info(request, repo_id, revision)

    @app.get("/api/models/{repo_id:path}")
    def model_info(repo_id: str, request: Request) -> Response:
        return info(request, repo_id, None)

    @app.api_route("/{repo_id:path}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    def resolve(repo_id: str, revision: str, path: str, request: Request) -> Response:
        hub.received("hub", request)
        if (answer := hub.answer_first(path, request)) is not None:
            return answer
        found = entry(request, repo_id, revision, path)
        if isinstance(found, Response):
            return found
        repo, hub_file = found
        headers = {"X-Repo-Commit": repo.commit, "Content-Type": "text/plain; charset=utf-8"}
        if hub_file.sha256:
            location = hub.signed_url(cdn_url, repo, hub_file)
            headers |= {
                "Location": location,
                "X-Linked-Etag": f'"{hub_file.sha256}"',
                "X-Linked-Size": str(hub_file.size),
            }
            return Response(f"Found. Redirecting to {location}", status_code=302, headers=headers)
        location = f"/api/resolve-cache/models/{quote(repo.repo_id)}/{repo.commit}/{quote(hub_file.path)}?etag=%22{hub_file.blob_id}%22"
        headers |= {"Location": location, "X-Linked-Etag": f'"{hub_file.blob_id}"'}
        return Response(
            f"Temporary Redirect. Redirecting to {location}", status_code=307, headers=headers
        )

    return app


def create_cdn_app(hub: Hub) -> FastAPI:
    """The CDN that serves LFS files at URLs the hub signed."""
    app = FastAPI(title="llama-rollout hub CDN", docs_url=None, redoc_url=None)
    # Two files of a repository may have the same bytes (and sha256): the signed URL names both.
    lfs_files = {
        (repo.repo_id, f.sha256, f.path): (repo, f)
        for repo in hub.repos.values()
        for f in repo.files.values()
        if f.sha256
    }

    @app.api_route("/repos/{repo_id:path}/{sha256}/{path:path}", methods=["GET", "HEAD"])
    def blob(repo_id: str, sha256: str, path: str, request: Request) -> Response:
        hub.received("cdn", request)
        if "authorization" in request.headers:
            return Response(
                "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only "
                "the X-Amz-Algorithm query parameter, Signature query string parameter or the "
                "Authorization header should be specified</Message></Error>",
                status_code=400,
                media_type="application/xml",
            )
        found = lfs_files.get((repo_id, sha256, path))
        if found is None:
            return Response("Auth failed: SignatureError: invalid signature", status_code=403)
        repo, hub_file = found
        try:
            expires = int(request.query_params.get("Expires", ""))
        except ValueError:
            return Response("Missing Key-Pair-Id query parameter or cookie value", status_code=403)
        signature = request.query_params.get("Signature", "")
        if not hmac.compare_digest(signature, hub.signature(repo_id, hub_file, expires)):
            return Response("Auth failed: SignatureError: invalid signature", status_code=403)
        if expires < time.time():
            return Response("Auth failed: request has expired", status_code=403)
        return hub.file_response(request, repo, hub_file, {"ETag": f'"{hub_file.sha256}"'})

    return app


async def serve(hub: Hub, host: str, port: int, cdn_port: int) -> None:
    """Serve the hub on ``port`` and its CDN on ``cdn_port`` until cancelled."""
    import uvicorn

    cdn_url = f"http://{host}:{cdn_port}"
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=p, log_level="warning"))
        for app, p in ((create_cdn_app(hub), cdn_port), (create_hub_app(hub, cdn_url), port))
    ]
    await asyncio.gather(*(s.serve() for s in servers))


def main(argv: list[str] | None = None) -> None:
    """Run the hub: ``python -m llama_rollout.embedded.hub_server --port N --cdn-port M --repo ORG/NAME=DIR``.

    ``HUB_TOKEN`` in the environment makes every repository private to that token.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cdn-port", type=int, required=True)
    parser.add_argument("--repo", action="append", default=[], metavar="ORG/NAME=DIR")
    args = parser.parse_args(argv)
    repos = {}
    for item in args.repo:
        repo_id, _, folder = item.partition("=")
        repos[repo_id] = Path(os.path.expanduser(folder))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hub = Hub(repos, token=os.environ.get("HUB_TOKEN") or None)
    asyncio.run(serve(hub, args.host, args.port, args.cdn_port))


if __name__ == "__main__":
    main()
