"""One JSON request to an HTTP API this project checks (vLLM, Llama Stack), within its bound.

The bound is a total: the request and its whole answer within ``bound.total``, however slowly
the bytes come (``deadline``). No retries: a check that fails says so at once. The answer comes
back as the status and the decoded JSON, or the text when it is not JSON, for the caller to
judge.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3

from llama_rollout.bounds import CONNECT, Bound, EndpointSilent
from llama_rollout.deadline import bounded_pools, deadline, urllib3_timeout
from llama_rollout.errors import RolloutError, first_line
from llama_rollout.redaction import excerpt

MAX_ANSWER = 16 * 2**20  # bytes: a model list or a chat completion is kilobytes


def request_json(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    bound: Bound,
    what: str,
    token: str | None = None,
    ca_certs: str | None = None,
    unreachable: type[RolloutError] = RolloutError,
) -> tuple[int, Any]:
    """Send ``body`` as JSON; the status and the decoded answer.

    Args:
        method: the HTTP method.
        url: the full URL.
        body: the JSON body, if any.
        bound: how long the request may take.
        what: the server, for messages ("Llama Stack", "the model server").
        token: a bearer token, sent as ``Authorization: Bearer``; none sends none.
        ca_certs: a CA bundle for HTTPS.
        unreachable: the error to raise when the server cannot be reached.

    Raises:
        EndpointSilent: no whole answer within the bound.
        RolloutError: (``unreachable``) the connection failed.
    """
    # A pool of its own, each request bounded in all (its connect + read timeouts).
    pool = bounded_pools(urllib3.PoolManager(ca_certs=ca_certs))
    try:
        # The answer is read within the request's deadline too, and no further than a cap: a
        # server that streams gigabytes is refused, not held in memory.
        with deadline(CONNECT + bound.read, urllib3_timeout(url)):
            response = pool.request(
                method,
                url,
                body=None if body is None else json.dumps(body).encode(),
                headers={
                    "Content-Type": "application/json",
                    **({"Authorization": f"Bearer {token}"} if token else {}),
                },
                timeout=urllib3.Timeout(connect=CONNECT, read=bound.read),
                retries=False,
                preload_content=False,
            )
            data = response.read(MAX_ANSWER + 1)
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # a kind of ConnectTimeoutError
        raise unreachable(f"{what} is unreachable at {url}: {first_line(exc)}") from exc
    except urllib3.exceptions.ConnectTimeoutError as exc:
        # No answer to the connection itself: on a cluster, a NetworkPolicy dropping it.
        raise unreachable(
            f"{what} at {url} did not accept a connection within {CONNECT:.0f}s: a "
            "NetworkPolicy or firewall drops it, or the host is down"
        ) from exc
    except urllib3.exceptions.TimeoutError as exc:  # a read timeout, or the total (``deadline``)
        raise EndpointSilent(what, url, bound.total) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise unreachable(f"{what} is unreachable at {url}: {first_line(exc)}") from exc
    if len(data) > MAX_ANSWER:
        raise unreachable(
            f"{what} at {url} answered more than {MAX_ANSWER // 2**20} MiB, which no answer of "
            "its API is",
            hint="check that the URL is the API's, not a file server or a proxy's page",
        )
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, excerpt(data.decode(errors="replace"), 300)
