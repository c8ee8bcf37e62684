"""The URLs a user gives: what urllib3 or botocore would read differently from what the URL
says is refused, and what every client reads alike is accepted (a review of urllib.parse,
urllib3 2.8 util/url.py and botocore's endpoint check found the first list)."""

from __future__ import annotations

import pytest

from llama_rollout.http_urls import url_problem, without_userinfo


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://evil.com\\.example.com/", "has a backslash"),  # urllib3 goes to evil.com
        ("http://example.com\\@evil.com/", "carries credentials"),
        ("http://ex%61mple.com/", "no DNS name or address"),  # urllib3 decodes the '%61'
        ("http://exa_mple.com", "no DNS name or address"),  # botocore: "Invalid endpoint"
        ("http://example.com../", "no DNS name or address"),
        ("http://.example.com/", "no DNS name or address"),
        ("http://" + "a" * 64 + ".com/", "no DNS name or address"),
        ("http://[::1]x/", "more than a port after its IPv6 address"),
        ("http://[::1]]/", "more than a port after its IPv6 address"),
        ("http://[v1.abc]/", "brackets round no IPv6 address"),
        ("http://example.com/?x=1", "a query string or a fragment"),  # --host's path swallowed
        ("http://example.com/#", "a query string or a fragment"),
        ("http://h/?access_token=abc", "a query parameter that names a credential"),
        ("http://u:p@ss@h/", "carries credentials"),
        ("http://h:0/", "which is no port"),
        ("http://h:99999/", "which is no port"),
        ("http://\uff48\uff4f\uff53\uff54/", "not ASCII"),
        ("http://[::1", "closing ']'"),
        ("ftp://h", "is not an http(s) URL"),
    ],
)
def test_an_address_a_client_would_read_otherwise_is_refused(url, says):
    problem = url_problem("registry_url", url)
    assert problem is not None and says in problem, problem
    assert "p@ss" not in problem and "abc" not in problem.replace("abc]", "")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080",
        "http://127.0.0.1:9",
        "http://[::1]:8080/x",
        "http://[fe80::1%eth0]:1/",
        "https://Registry.Example.COM/api",
        "http://cluster-health-mcp-server.self-healing-platform.svc:8080/mcp",
        "http://example.com./",
        "https://xn--bcher-kva.example/",
    ],
)
def test_an_address_every_client_reads_alike_is_accepted(url):
    assert url_problem("registry_url", url) is None


def test_userinfo_goes_to_the_authority_s_last_at_with_or_without_a_scheme():
    assert without_userinfo("http://u:p@ss@h:1/x@y") == "http://h:1/x@y"
    assert without_userinfo("u:secret@host") == "host"
    assert without_userinfo("http://h/a@b") == "http://h/a@b"
