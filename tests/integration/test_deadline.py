"""The total deadline of one request, per client kind, against servers that trickle, with small
timeouts: the request fails with the client's own read-timeout error soon after its total, and
leaves no thread behind; a streamed answer (a watch) is bounded up to its headers only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import urllib3

from llama_rollout.deadline import (
    bound_botocore,
    bounded_pools,
    deadline,
    httpx_timeout,
    watch_httpx,
)
from tests.servers import TricklingServer

CONNECT, READ = 1.0, 1.5  # each byte comes every 0.3 s: well within the read timeout
TOTAL = CONNECT + READ


def failed_within(total: float, call: Callable[[], object], error: type[BaseException]) -> None:
    started = time.monotonic()
    with pytest.raises(error):
        call()
    waited = time.monotonic() - started
    assert total - 0.1 <= waited <= total + 2, waited
    end = time.monotonic() + 2
    while watchdogs() and time.monotonic() < end:
        time.sleep(0.05)
    assert not watchdogs(), "a deadline's watchdog outlived its request"


def watchdogs() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "request deadline"]


@pytest.mark.parametrize("body", [False, True], ids=["trickled headers", "trickled body"])
def test_urllib3_request_fails_at_its_total(body: bool) -> None:
    pool = bounded_pools(urllib3.PoolManager(retries=False))
    with TricklingServer(body=body, interval=0.3) as server:
        failed_within(
            TOTAL,
            lambda: pool.request(
                "GET", server.url, timeout=urllib3.Timeout(connect=CONNECT, read=READ)
            ),
            urllib3.exceptions.ReadTimeoutError,
        )


def test_urllib3_streamed_answer_is_bounded_up_to_its_headers_only() -> None:
    pool = bounded_pools(urllib3.PoolManager(retries=False))
    with TricklingServer(body=True, interval=0.3) as server:
        response = pool.request(
            "GET",
            server.url,
            timeout=urllib3.Timeout(connect=CONNECT, read=READ),
            preload_content=False,
        )
        started = time.monotonic()
        read = b""
        while time.monotonic() - started < TOTAL + 1:  # a watch's stream outlives the total
            read += response.read(1)
        response.release_conn()
    assert read.startswith(b'{"data": "a')


@pytest.mark.parametrize("body", [False, True], ids=["trickled headers", "trickled body"])
def test_botocore_attempt_fails_at_its_total(body: bool) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ReadTimeoutError

    with TricklingServer(body=body, interval=0.3) as server:
        client = bound_botocore(
            boto3.session.Session().client(
                "s3", endpoint_url=server.url, region_name="us-east-1",
                aws_access_key_id="k", aws_secret_access_key="s",
                config=Config(connect_timeout=CONNECT, read_timeout=READ,
                              retries={"mode": "standard", "total_max_attempts": 1}),
            )
        )  # fmt: skip
        failed_within(TOTAL, lambda: client.list_objects_v2(Bucket="b"), ReadTimeoutError)


@pytest.mark.parametrize("body", [False, True], ids=["trickled headers", "trickled body"])
def test_httpx_request_fails_at_its_total(body: bool) -> None:
    import httpx2

    client = watch_httpx(httpx2.Client(timeout=httpx2.Timeout(READ, connect=CONNECT)))

    def get() -> None:
        with deadline(TOTAL, httpx_timeout):
            client.get(server.url)

    with TricklingServer(body=body, interval=0.3) as server:
        failed_within(TOTAL, get, httpx2.ReadTimeout)
    client.close()
