"""The URLs a user gives (an API's address): http(s), a host in ASCII, a port that can be one,
and no credentials, which would be written to logs, objects and the compiled pipeline.

Credentials have their own places (a Secret, a token file, the service account's token): a
URL that carries them in its userinfo, in a query parameter named like one, or in a fragment is
refused, and the error shows it without them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from llama_rollout.errors import ConfigurationError, quoted

MAX_URL_LENGTH = 2048
_SECRET_QUERY = re.compile(r"(?i)token|secret|password|passwd|api[_-]?key|access[_-]?key|signature")
CREDENTIALS_HINT = (
    "the steps authenticate with their service account's token, and a token of your own goes "
    "in a Secret the pipeline names"
)


def check_http_url(name: str, url: str, *, credentials: str = CREDENTIALS_HINT) -> str:
    """``url`` when it is an http(s) URL with a host and no credentials, else a
    ConfigurationError naming ``name`` (and never quoting the URL's userinfo)."""
    try:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number or out of range
        parsed, host, port = None, None, None
    if parsed is not None and host and (parsed.username is not None or parsed.password):
        shown = parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()
        raise ConfigurationError(
            f"{name} {quoted(shown)} carries credentials (user:password@): they would be "
            "written to logs and objects",
            hint=f"give the URL without them; {credentials}",
        )
    if parsed is not None and (
        parsed.fragment or any(_SECRET_QUERY.search(key) for key in parse_qs(parsed.query))
    ):
        raise ConfigurationError(
            f"{name} {quoted(parsed._replace(query='', fragment='').geturl())} carries a "
            "fragment or a query parameter that names a credential: it would be written to "
            "logs and objects",
            hint=f"give the URL without it; {credentials}",
        )
    if (
        parsed is None
        or len(url) > MAX_URL_LENGTH
        or parsed.scheme not in ("http", "https")
        or not host
        or not url.isascii()
        or not url.isprintable()
        or " " in url
        or port == 0
    ):
        raise ConfigurationError(
            f"{name} {quoted(url)} is not an http(s) URL",
            hint="give http(s)://HOST[:PORT]/PATH, the host in ASCII (punycode for another "
            "script) and the port from 1 to 65535",
        )
    return url
