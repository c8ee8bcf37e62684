"""Reading a source's files as streams of chunks, from any offset.

A folder is read from disk. A hub file is read at the pinned commit the way huggingface.co
serves it: ``/resolve/`` of an LFS file answers 302 to a pre-signed CDN URL on another host,
a regular file 307 to a relative URL. Redirects are followed here, and the hub token goes to
the hub only: the CDN refuses a request with a second credential (400), so Authorization is
dropped at the first hop to another origin. A 4xx (but 408 and 429) and a redirect loop are
permanent; network failures and 5xx are for the caller to retry from the byte it reached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urljoin, urlparse

import urllib3

from llama_rollout.errors import SourceError
from llama_rollout.weights.model_files import ResolvedSource, SourceFile
from llama_rollout.weights.source import hf_endpoint, hf_token

CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class SourceReader:
    """Reads the files of a resolved source as streams of chunks, from any offset.

    One reader is shared by the mirror's worker threads (urllib3's pool is thread-safe).

    Args:
        source: the resolved source.
        stall_timeout: seconds without a byte after which a hub read is aborted.
    """

    def __init__(self, source: ResolvedSource, *, stall_timeout: float = 60.0) -> None:
        self.source = source
        self._endpoint = hf_endpoint() if source.spec.kind == "hf" else ""
        self._timeout = urllib3.Timeout(connect=min(stall_timeout, 30.0), read=stall_timeout)
        # Redirects are followed by _hub_response, which decides where the token may go.
        self._pool = urllib3.PoolManager(maxsize=16, retries=False)
        self._reading: set[urllib3.BaseHTTPResponse] = set()
        self._lock = threading.Lock()

    def abort(self) -> None:
        """Interrupt every read in progress (a stalled one too): the mirror has failed."""
        with self._lock:
            for response in self._reading:
                response.shutdown()

    def url_of(self, file: SourceFile) -> str:
        """The URL a hub file is read from, pinned to the resolved commit."""
        spec = self.source.spec
        return f"{self._endpoint}/{spec.location}/resolve/{self.source.revision}/{quote(file.path)}"

    def chunks(self, file: SourceFile, offset: int = 0) -> Iterator[bytes]:
        """Yield the file's bytes from ``offset`` on.

        Raises:
            SourceError: the hub answered with an error status, or redirected in a loop.
            urllib3.exceptions.HTTPError: a transient network failure or stall; the caller
                retries from the offset it reached.
        """
        if self.source.spec.kind == "file":
            yield from self._folder_chunks(file, offset)
        else:
            yield from self._hub_chunks(file, offset)

    def _folder_chunks(self, file: SourceFile, offset: int) -> Iterator[bytes]:
        with (Path(self.source.spec.location) / file.path).open("rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(CHUNK_SIZE):
                yield chunk

    def _hub_chunks(self, file: SourceFile, offset: int) -> Iterator[bytes]:
        headers = {"Accept-Encoding": "identity", "User-Agent": "llama-rollout"}
        if token := hf_token():
            headers["Authorization"] = f"Bearer {token}"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = self._hub_response(self.url_of(file), headers, file.path)
        with self._lock:
            self._reading.add(response)
        try:
            if response.status >= 400:
                response.drain_conn()
                raise HubStatusError(response.status, self.url_of(file))
            if offset and response.status != 206:
                raise SourceError(
                    f"the hub ignored a Range request for {file.path}",
                    hint="use a hub or proxy that supports HTTP Range requests",
                )
            yield from response.stream(CHUNK_SIZE, decode_content=False)
        except BaseException:
            response.close()  # a half-read body must not go back to the pool
            raise
        finally:
            with self._lock:
                self._reading.discard(response)
            response.release_conn()

    def _hub_response(
        self, url: str, headers: dict[str, str], path: str
    ) -> urllib3.BaseHTTPResponse:
        """GET ``url``, following the hub's redirects (LFS files live on a CDN host).

        The token goes to the hub only. The CDN URL is pre-signed and refuses a second
        credential (400), so Authorization is dropped at the first hop to another origin and
        never sent again. Range goes along: a resumed read restarts at the hub, which signs a
        fresh CDN URL.
        """
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._pool.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                redirect=False,
                timeout=self._timeout,
            )
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            response.drain_conn()
            response.release_conn()
            url = urljoin(url, location)
            if _origin(url) != origin:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise SourceError(
            f"the hub redirected the read of {path} more than {MAX_REDIRECTS} times",
            hint="a redirect loop: check HF_ENDPOINT, or any proxy between here and the hub",
        )


class HubStatusError(SourceError):
    """The hub answered a file read with an HTTP error status."""

    def __init__(self, status: int, url: str) -> None:
        self.status = status
        hint = "set HF_TOKEN to a token with access" if status in (401, 403) else None
        super().__init__(f"the hub answered {status} for {url}", hint=hint)

    @property
    def transient(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, (parsed.hostname or "").lower(), port
