"""The URLs a user gives (an API's or an endpoint's address): http(s), a host in ASCII, a port
that can be one, and no credentials, which would be written to logs, objects and the compiled
pipeline.

Credentials have their own places (a Secret, a token file, the service account's token, the
data connection's keys): a URL that carries them in its userinfo, in a query parameter named
like one, or in a fragment is refused, and the error shows it without them, whatever else is
wrong with it.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qs, urlsplit

from llama_rollout import redaction
from llama_rollout.errors import ConfigurationError, quoted

MAX_URL_LENGTH = 2048
_SECRET_QUERY = re.compile(r"(?i)token|secret|password|passwd|api[_-]?key|access[_-]?key|signature")
CREDENTIALS_HINT = (
    "the steps authenticate with their service account's token, and a token of your own goes "
    "in a Secret the pipeline names"
)
_GIVE = "give http(s)://HOST[:PORT]/PATH"
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}\.?$){_LABEL}(\.{_LABEL})*\.?")  # urlsplit lower-cases it


def _split_authority(url: str) -> tuple[str, str, str]:
    """``url`` as (``scheme://``, authority, the rest), with or without a scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return scheme + sep, rest[:end], rest[end:]


def without_userinfo(url: str) -> str:
    """``url`` without anything up to the last '@' of its authority (its ``user:password@``, a
    password may hold an '@'), with or without a scheme."""
    head, authority, tail = _split_authority(url)
    if "@" not in authority:
        return url
    return f"{head}{authority.rpartition('@')[2]}{tail}"


def url_problem(name: str, url: str, *, credentials: str = CREDENTIALS_HINT) -> str | None:
    """Why ``url`` (the value of ``name``) cannot be an API's address, in words that say what to
    give instead; None when it can."""
    shown = quoted(without_userinfo(url))
    authority = _split_authority(url)[1]
    if "@" in authority:
        # Remembered, so that no other line shows the password either.
        redaction.remember(authority.rpartition("@")[0].partition(":")[2])
        return (
            f"{name} {shown} carries credentials (user:password@): they would be written to "
            f"logs and objects: give the URL without them; {credentials}"
        )
    if len(url) > MAX_URL_LENGTH or not url.isprintable() or any(c.isspace() for c in url):
        return (
            f"{name} {shown} is not an http(s) URL (spaces, control characters, or over "
            f"{MAX_URL_LENGTH} characters): {_GIVE}"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unclosed IPv6 bracket
        reason = "an IPv6 address without its closing ']'" if "[" in url else "it cannot be parsed"
        return f"{name} {shown} is not an http(s) URL ({reason}): {_GIVE}"
    if parts.scheme not in ("http", "https") or not host:
        return f"{name} {shown} is not an http(s) URL: {_GIVE}"
    bare = quoted(parts._replace(query="", fragment="").geturl())
    if any(_SECRET_QUERY.search(key) for key in parse_qs(parts.query)):
        return (
            f"{name} {bare} carries a query parameter that names a credential: it would be "
            f"written to logs and objects: give the URL without it; {credentials}"
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        # The clients append their paths to an API's address: a query would swallow them.
        return f"{name} {bare} has a query string or a fragment, which an API's address has not"
    if not host.isascii():
        return (
            f"{name} {shown} has a host that is not ASCII: give it in ASCII (punycode, "
            "xn--..., for another script)"
        )
    if problem := _host_problem(host, parts.netloc.rpartition("@")[2], "\\" in url):
        return f"{name} {shown} {problem}: {_GIVE}"
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        given = parts.netloc.rpartition("]")[2].rpartition(":")[2]
        return (
            f"{name} {shown} has port {quoted(given, 20)}, which is no port: give a number from "
            "1 to 65535, or none for the scheme's own"
        )
    return None


def _host_problem(host: str, netloc: str, backslash: bool) -> str | None:
    """What urllib3 or botocore would make of ``host`` differently from what it says: a
    backslash (urllib3 cuts the host there and goes elsewhere), a percent sign (it decodes
    one), an empty label or one over 63, an underscore, or brackets round no IPv6 address."""
    if backslash:
        return "has a backslash, which a client reads as the end of the host"
    if "[" in netloc or "]" in netloc:  # an IPv6 address between brackets, then a port
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return "has brackets round no IPv6 address"
        if not re.fullmatch(r"\[[^\[\]]+\](:[0-9]+)?", netloc):
            return "has more than a port after its IPv6 address"
        return None
    if not _HOST.fullmatch(host):
        return (
            "has a host that is no DNS name or address (labels of letters, digits and '-', "
            "1 to 63 long, no '%' or '_')"
        )
    return None


def check_http_url(name: str, url: str, *, credentials: str = CREDENTIALS_HINT) -> str:
    """``url`` when it can be an API's address, else a ConfigurationError naming ``name`` (and
    never quoting the URL's userinfo)."""
    if problem := url_problem(name, url, credentials=credentials):
        raise ConfigurationError(problem)
    return url
