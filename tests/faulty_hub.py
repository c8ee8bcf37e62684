"""A hub that misbehaves on purpose, for tests: the embedded hub with its hooks overridden.

It records every file request (on the hub and its CDN, with its Range and whether it carried
a token), and plays faults: a read that stalls partway through a file (a stuck CDN
connection; once per listed file), a fixed status for a file's ``/resolve/``, a redirect loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request, Response

from llama_rollout.embedded.hub_repos import HubFile
from llama_rollout.embedded.hub_server import Hub

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubRequest:
    """One request the hub or its CDN received."""

    server: str  # "hub" or "cdn"
    method: str
    path: str
    range: str
    authorization: bool


@dataclass
class Faults:
    """Misbehaviour to play, and the requests seen."""

    stall_after_bytes: dict[str, int] = field(default_factory=dict)
    stall_seconds: float = 3600.0
    # path -> the status /resolve/ answers for it, every time
    resolve_status: dict[str, int] = field(default_factory=dict)
    # paths whose /resolve/ redirects to itself, every time
    redirect_loops: set[str] = field(default_factory=set)
    requests: list[HubRequest] = field(default_factory=list)

    def reads(self, path: str) -> list[HubRequest]:
        """The requests that read ``path``'s bytes (the CDN's, or the resolve cache's)."""
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and r.path.endswith("/" + path)
            and (r.server == "cdn" or "/api/resolve-cache/" in r.path)
        ]


class FaultyHub(Hub):
    def __init__(self, repos: dict[str, Path], *, token: str | None = None, faults: Faults) -> None:
        super().__init__(repos, token=token)
        self.faults = faults

    def received(self, server: str, request: Request) -> None:
        self.faults.requests.append(
            HubRequest(
                server, request.method, request.url.path, request.headers.get("range", ""),
                "authorization" in request.headers,
            )
        )  # fmt: skip

    def answer_first(self, path: str, request: Request) -> Response | None:
        if status := self.faults.resolve_status.get(path):
            return Response(f'{{"error": "fault: {status}"}}', status_code=status)
        if path in self.faults.redirect_loops:
            return Response(status_code=302, headers={"Location": request.url.path})
        return None

    async def file_bytes(
        self, disk_path: Path, hub_file: HubFile, start: int, end: int
    ) -> AsyncIterator[bytes]:
        stall_at = self.faults.stall_after_bytes.pop(hub_file.path, None)
        sent = 0
        async for chunk in super().file_bytes(disk_path, hub_file, start, end):
            if stall_at is not None and sent + len(chunk) > stall_at:
                yield chunk[: max(stall_at - sent, 0)]
                logger.warning("fault: stalling %s at byte %d", hub_file.path, start + stall_at)
                await asyncio.sleep(self.faults.stall_seconds)
                return
            sent += len(chunk)
            yield chunk
