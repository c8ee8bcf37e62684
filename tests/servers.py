"""Real servers on loopback for tests: uvicorn apps in threads, and a fault-injecting S3 proxy."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(app: object, *, tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port for the duration of the block.

    Args:
        app: the ASGI app.
        tls: (certificate file, key file) to serve HTTPS.
    """
    port = free_port()
    certificate, key = tls or (None, None)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning",
            ssl_certfile=certificate, ssl_keyfile=key,
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class FaultCounts:
    forwarded: int = 0
    errors_503: int = 0
    dropped_before: int = 0
    dropped_after: int = 0
    log: list[str] = field(default_factory=list)


class FaultyS3Proxy:
    """An HTTP proxy in front of S3 that fails a share of requests, as a flaky network does.

    Each request, by a seeded coin: answered ``503 SlowDown`` without reaching S3; dropped
    (connection closed) before reaching S3; or forwarded, then dropped before the response
    reaches the client (the request took effect, the client does not know). ``methods``
    limits the faults to requests of those HTTP methods; ``rate`` 3 fails every one with 503.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.1,
        seed: int = 7,
        methods: frozenset[str] | None = None,
    ) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.rate = rate
        self.methods = methods
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = FaultCounts()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    roll = proxy.random.random()
                if proxy.methods is not None and self.command not in proxy.methods:
                    roll = float("inf")  # no fault for this method
                third = proxy.rate / 3
                if roll < third:
                    proxy.counts.errors_503 += 1
                    payload = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                        b"<Message>Please reduce your request rate.</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if roll < 2 * third:
                    proxy.counts.dropped_before += 1
                    self._drop()
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                proxy.counts.forwarded += 1
                if roll < proxy.rate:
                    proxy.counts.dropped_after += 1
                    self._drop()
                    return
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                upstream_length = response.getheader("Content-Length")
                length = (
                    upstream_length if self.command == "HEAD" and upstream_length else len(data)
                )
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyS3Proxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """A server that accepts every connection and never answers: a hung process, a firewall
    that lets SYNs through, a proxy whose upstream is gone. The connections stay open until
    the server is closed, so the client sees no reset, only silence."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.sock.settimeout(0.2)  # here, not in the thread: the server may close before it runs
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._closed = threading.Event()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(connection)
            self._answer_on(connection)

    def _answer_on(self, connection: socket.socket) -> None:
        """Nothing: silence."""

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        for connection in self.accepted:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.sock.close()


class TricklingServer(SilentServer):
    """A server that answers one byte at a time, every ``interval`` seconds, and never to the
    end: a broken proxy, a hostile server. Each byte comes well within any read timeout, so
    only a bound on the whole request ends it.

    ``body=False``: the status line and the headers trickle, never finished. ``body=True``: the
    status line and headers of a JSON answer of a megabyte come at once, then its body trickles.
    The request is read and dropped meanwhile, however long (an upload), and the connections
    stay open until the server is closed.
    """

    def __init__(self, *, body: bool = False, interval: float = 1.0) -> None:
        super().__init__()
        self.body = body
        self.interval = interval

    def _answer(self) -> Iterator[bytes]:
        """The answer, a byte at a time, never ending."""
        status = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if self.body:
            yield status + b"Content-Length: 1048576\r\n\r\n"
            yield from (bytes([c]) for c in b'{"data": "')
        else:
            yield from (bytes([c]) for c in status + b"X-Trickle: ")
        while True:
            yield b"a"

    def _answer_on(self, connection: socket.socket) -> None:
        threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        connection.settimeout(0.1)
        reading = True
        for chunk in self._answer():
            until = time.monotonic() + self.interval
            while time.monotonic() < until:
                if self._closed.is_set():
                    return
                if not reading:
                    time.sleep(0.1)
                    continue
                try:
                    reading = bool(connection.recv(65536))  # the request, dropped
                except TimeoutError:
                    pass
                except OSError:
                    return
            try:
                connection.sendall(chunk)
            except OSError:  # the client gave up
                return


def html_app() -> object:
    """An ordinary web server where an API was expected: every path answers 200 with a page,
    as a login portal, a router's default page or a wrong port would."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: object) -> HTMLResponse:
        return HTMLResponse("<!doctype html><html><body><h1>Welcome</h1></body></html>")

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", page, methods=methods)])


def start_token_authority(stack: Any) -> str:
    """Start the embedded stack's token authority alone (``up`` would start every server), as
    ``up`` starts it: the ``tokens`` process of ``stack``; its URL."""
    import sys

    from llama_rollout.embedded import processes

    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "llama_rollout.embedded.token_authority", "--port", str(port),
            "--tokens", str(stack.tokens.path)]  # fmt: skip
    stack.start_process(
        "tokens", argv, url=url, health_url=f"{url}/readyz",
        ready=lambda: processes.http_ok(f"{url}/readyz"), timeout=60,
    )  # fmt: skip
    return url
