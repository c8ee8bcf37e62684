"""A total for one request: from its start to the last byte of its answer, however the bytes come.

A read timeout bounds each wait for a byte, not the request: a server that sends one byte every
second or two (of its status line, its headers or its body) holds a request for ever. A
``deadline`` bounds the whole request. The request still runs in the caller's own thread; the
sockets it uses are registered with the deadline while it runs, and when the deadline passes a
watchdog shuts them down. The read blocked on a socket then returns at once, and the request
fails with its client's own read-timeout error, which every caller already reports as
:class:`llama_rollout.bounds.EndpointSilent` (the endpoint, its URL and its bound).

Why the socket is shut down rather than the request run in a thread and waited for: that thread
would stay blocked on the trickling server after the caller gave up, holding its connection for
as long as the server keeps trickling (in the MCP server's process, one more for every request).
Shut down, not closed: on Linux, closing a socket another thread reads does not wake that read
(and its descriptor may be reused meanwhile); ``shutdown`` ends it at once, with end-of-file.
The watchdog is a daemon thread that lives as long as the request: nothing is joined at exit.
An end-of-file is not always an error to the client (http.client takes one in the headers for
their end, a body without a length ends with one), so a request whose deadline passed fails
when the block ends, whatever the client made of it.

One place per client kind registers the sockets and opens the deadline:

* urllib3 (``json_http``, the Model Registry's REST, the Kubernetes and pipelines clients, and
  botocore under them): :func:`bounded_pools` gives a pool manager pools whose each attempt runs
  within its connect + read timeouts in all, the answer included when it is read at once
  (``preload_content``), up to its headers when it is streamed (a watch, whose end is its own);
  a client that streams every answer and reads it whole afterwards (the Kubernetes dynamic
  client, botocore) opens the deadline around both, with :func:`deadline`;
* botocore: :func:`bound_botocore` bounds each attempt of a client's requests, its retries then
  bounding the whole;
* httpx2 (the hub's client): :func:`watch_httpx` registers the sockets of a client's connections
  with the deadline of the request that uses them, which the caller opens with :func:`deadline`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

# How often an expired deadline looks again for a socket its request opened meanwhile (a
# connection still being made when the deadline passed, which has its own connect timeout).
_RESHUT = 0.2

_local = threading.local()


class Deadline:
    """The end of one request in the caller's thread; its sockets are shut down when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: dict[int, Callable[[], socket.socket | None]] = {}
        self._lock = threading.Lock()
        self._ended = threading.Event()

    def watch(self, key: object, sock: Callable[[], socket.socket | None]) -> None:
        """Shut ``sock()`` down when the deadline passes; read then, as a connection replaces
        its socket when it reconnects or starts TLS. ``key``: the connection or stream."""
        with self._lock:
            self._sockets[id(key)] = sock

    def _run(self) -> None:
        if self._ended.wait(self.seconds):
            return
        self.expired = True
        while True:  # until the request gives up: a socket it opens meanwhile is shut too
            with self._lock:
                found = list(self._sockets.values())
            for sock in found:
                shut(sock())
            if self._ended.wait(_RESHUT):
                return


def shut(sock: socket.socket | None) -> None:
    """End every read and write on ``sock``, in whatever thread they block. ``socket.shutdown``
    itself, not an SSLSocket's, which drops its TLS state under a read still using it."""
    if sock is not None:
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def current() -> Deadline | None:
    """The deadline of the request this thread is making, if any."""
    return getattr(_local, "deadline", None)


@contextmanager
def deadline(seconds: float, timed_out: Callable[[Deadline], Exception]) -> Iterator[Deadline]:
    """Bound the request made in this block to ``seconds`` in all; when they pass, the block
    raises ``timed_out(deadline)`` (the client's read-timeout error), chained to whatever the
    cut request raised.

    Inside another request's deadline (botocore's attempt around urllib3's), the block is part
    of that request: it gets the enclosing deadline, whose block reports its end.
    """
    enclosing = current()
    if enclosing is not None:
        yield enclosing
        return
    found = Deadline(seconds)
    _local.deadline = found
    threading.Thread(target=found._run, name="request deadline", daemon=True).start()
    try:
        yield found
    except Exception as exc:
        if found.expired:
            raise timed_out(found) from exc
        raise
    finally:
        found._ended.set()
        _local.deadline = None
    if found.expired:
        raise timed_out(found)


class _QuietWhenCut(logging.Filter):
    """urllib3 warns, with a traceback, of the headers a deadline cut: the deadline's error
    says what happened, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = current()
        return found is None or not found.expired


# urllib3 ---------------------------------------------------------------------------------------

_BOUNDED_POOLS: dict[type[Any], type[Any]] = {}


def urllib3_timeout(url: str, pool: Any = None) -> Callable[[Deadline], Exception]:
    """urllib3's read-timeout error for a request to ``url`` (of ``pool``) cut by its deadline."""

    def timed_out(found: Deadline) -> Exception:
        import urllib3

        return urllib3.exceptions.ReadTimeoutError(
            pool, url, f"no whole answer within {found.seconds:g}s"
        )

    return timed_out


def _bounded_pool(pool: type[Any]) -> type[Any]:
    """``pool`` (an urllib3 connection pool class) with each attempt bounded in all."""
    if getattr(pool, "_bounded_in_all", False):
        return pool
    if pool in _BOUNDED_POOLS:
        return _BOUNDED_POOLS[pool]
    import urllib3

    cut_headers_log = logging.getLogger("urllib3.connection")
    if not any(isinstance(f, _QuietWhenCut) for f in cut_headers_log.filters):
        cut_headers_log.addFilter(_QuietWhenCut())

    def _make_request(
        self: Any, conn: Any, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        timeout = self._get_timeout(kwargs.get("timeout", urllib3.util.Timeout.DEFAULT_TIMEOUT))
        if isinstance(timeout.total, int | float):  # urllib3's own total: connect + reads
            seconds = timeout.total
        else:
            parts = (timeout.connect_timeout, timeout.read_timeout)
            if not all(isinstance(part, int | float) for part in parts):  # none: unbounded
                return pool._make_request(self, conn, method, url, *args, **kwargs)
            seconds = sum(parts)
        # On an error urllib3's urlopen closes the connection: a cut one is not reused.
        with deadline(seconds, urllib3_timeout(url, self)) as found:
            found.watch(conn, lambda: conn.sock)
            return pool._make_request(self, conn, method, url, *args, **kwargs)

    bounded = type(
        pool.__name__, (pool,), {"_make_request": _make_request, "_bounded_in_all": True}
    )
    _BOUNDED_POOLS[pool] = bounded
    return bounded


def bounded_pools(manager: Any) -> Any:
    """``manager`` (an urllib3 PoolManager or ProxyManager, before its first request) with every
    attempt of every request bounded to its connect timeout plus its read timeout, in all."""
    manager.pool_classes_by_scheme = {
        scheme: _bounded_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }
    return manager


# botocore --------------------------------------------------------------------------------------


def bound_botocore(client: Any) -> Any:
    """``client`` (a botocore client, before its first request) with each attempt of each
    request, its answer's body included unless streamed, bounded to connect + read timeouts in
    all; botocore's retries make the request's bound ``attempts`` times that, and backoffs."""
    from botocore.exceptions import ReadTimeoutError

    session = client._endpoint.http_session
    # The session's own dict, shared with the proxy managers it makes later: changed in place.
    pools = session._pool_classes_by_scheme
    for scheme, pool in pools.items():
        pools[scheme] = _bounded_pool(pool)
    seconds = client.meta.config.connect_timeout + client.meta.config.read_timeout
    send = session.send

    def bounded_send(request: Any) -> Any:
        # botocore reads the answer's body after urllib3 returns: the deadline holds both.
        def timed_out(found: Deadline) -> Exception:
            return ReadTimeoutError(
                endpoint_url=request.url, error=f"no whole answer within {found.seconds:g}s"
            )

        with deadline(seconds, timed_out):
            return send(request)

    session.send = bounded_send
    return client


# httpx2 ----------------------------------------------------------------------------------------


def httpx_timeout(found: Deadline) -> Exception:
    """httpx2's read-timeout error for a request cut by its deadline."""
    import httpx2

    return httpx2.ReadTimeout(f"no whole answer within {found.seconds:g}s")


def watch_httpx(client: Any) -> Any:
    """``client`` (an ``httpx2.Client``) with the sockets of its connections registered with the
    deadline of the request using them; outside a deadline nothing changes."""
    for transport in (client._transport, *client._mounts.values()):
        pool: Any = getattr(transport, "_pool", None)  # set whenever a backend is found
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _WatchedBackend):
            pool._network_backend = _WatchedBackend(backend)
    return client


class _WatchedBackend:
    """An httpcore2 network backend whose streams register their sockets with the deadline."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _WatchedStream(self._backend.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        return _WatchedStream(self._backend.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _WatchedStream:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _watched(self) -> Any:
        found = current()
        if found is not None:
            found.watch(self, lambda: self._stream.get_extra_info("socket"))
        return self._stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._watched().read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._watched().write(buffer, timeout)

    def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        return _WatchedStream(self._watched().start_tls(*args, **kwargs))

    def close(self) -> None:
        self._stream.close()

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
