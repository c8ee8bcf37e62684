"""What the weights stage takes from its environment, checked before anything uses it.

``AWS_S3_ENDPOINT`` and ``HF_ENDPOINT`` (an http(s) URL whose port can be one, with no
credentials in it), ``AWS_CA_BUNDLE`` (a PEM file, read the way every user file is: a named
pipe or a device is refused, not opened by the TLS library, where it would block or never end),
``AWS_DEFAULT_REGION`` (botocore's rule) and the data connection's name (its Secret's). Each
problem is one line that names the variable and what to give instead; a URL is shown without
its userinfo, whatever else is wrong with it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from llama_rollout import redaction
from llama_rollout.errors import ConfigurationError, quoted
from llama_rollout.k8s_types import object_name_problem
from llama_rollout.user_files import read_user_file

MAX_URL_LENGTH = 2048
CA_BUNDLE_LIMIT = 8 * 1024 * 1024  # a cluster's whole trust bundle is a few hundred kB
# botocore's own rule (a host label, not all digits), which it reports as "unexpected
# InvalidRegionError"; whole, where botocore's '$' lets a final newline through.
_REGION = re.compile(r"(?![0-9]+\Z)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")


def _split_authority(url: str) -> tuple[str, str, str]:
    """``url`` as (``scheme://``, authority, the rest), with or without a scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return scheme + sep, rest[:end], rest[end:]


def without_userinfo(url: str) -> str:
    """``url`` without anything up to the last '@' of its authority (its ``user:password@``),
    with or without a scheme: a careless value is shown, never its credentials."""
    head, authority, tail = _split_authority(url)
    if "@" not in authority:
        return url
    return f"{head}{authority.rpartition('@')[2]}{tail}"


def endpoint_problem(name: str, url: str) -> str | None:
    """Why ``url`` (the value of the variable ``name``) cannot be an endpoint's base URL, in
    words that say what to give instead; None when it can."""
    shown = quoted(without_userinfo(url))
    authority = _split_authority(url)[1]
    if "@" in authority:
        # Remembered, so that no other line shows them either.
        redaction.remember(authority.rpartition("@")[0].partition(":")[2])
        return (
            f"{name} {shown} carries credentials (user:password@): give the URL without them; "
            "the keys go in their own variables"
        )
    if len(url) > MAX_URL_LENGTH or not url.isprintable() or any(c.isspace() for c in url):
        return (
            f"{name} {shown} is not a URL (spaces, control characters, or over "
            f"{MAX_URL_LENGTH} characters): give http(s)://HOST[:PORT]"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unclosed IPv6 bracket
        return f"{name} {shown} is not a URL ({_bracket_problem(url)}): give http(s)://HOST[:PORT]"
    if parts.scheme not in ("http", "https") or not host:
        return f"{name} must be an http(s) URL, got {shown}: give http(s)://HOST[:PORT]"
    if not host.isascii():
        return (
            f"{name} {shown} has a host that is not ASCII: give it in ASCII (punycode, "
            "xn--..., for another script)"
        )
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


def _bracket_problem(url: str) -> str:
    return "an IPv6 address without its closing ']'" if "[" in url else "it cannot be parsed"


def check_endpoint(name: str, url: str) -> str:
    """``url`` without a trailing '/', when it can be an endpoint's base URL.

    Raises:
        ConfigurationError: it cannot; the message names ``name`` and what to give.
    """
    if problem := endpoint_problem(name, url):
        raise ConfigurationError(problem)
    return url.rstrip("/")


def check_region(region: str) -> str:
    """``region`` when botocore takes it as a region's name, else ValueError."""
    if not _REGION.fullmatch(region):
        raise ValueError(
            f"AWS_DEFAULT_REGION {quoted(region)} is not a region name: give letters, digits "
            "and '-', e.g. us-east-1 (any name your S3 endpoint accepts, often us-east-1)"
        )
    return region


def check_connection_name(name: str) -> str:
    """``name`` when it can name the data connection's Secret (a DNS-1123 subdomain), else
    ValueError: the registry records it as ``storage_key`` and KServe reads that Secret."""
    if problem := object_name_problem(name):
        raise ValueError(
            f"the data connection's name (DATA_CONNECTION_NAME): {problem}: give its Secret's "
            "name, e.g. llama-rollout-models"
        )
    return name


def check_ca_bundle(path: str) -> str:
    """``path`` when it is a readable regular file that holds a PEM certificate.

    Raises:
        ConfigurationError: it is missing, a named pipe, a device, a folder, too large, or no
            PEM bundle.
    """
    hint = "set AWS_CA_BUNDLE to the PEM file of the CA that signed the S3 endpoint's certificate"
    content = read_user_file(path, what="AWS_CA_BUNDLE", limit=CA_BUNDLE_LIMIT, hint=hint)
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise ConfigurationError(
            f"AWS_CA_BUNDLE {quoted(path, 200)} holds no PEM certificate "
            "('-----BEGIN CERTIFICATE-----')",
            hint=hint,
        )
    return path
