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

from llama_rollout.errors import quoted
from llama_rollout.http_urls import check_http_url, url_problem
from llama_rollout.k8s_types import object_name_problem
from llama_rollout.user_files import read_ca_bundle

# botocore's own rule (a host label, not all digits), which it reports as "unexpected
# InvalidRegionError"; whole, where botocore's '$' lets a final newline through.
_KEYS = "the keys go in their own variables"  # where an endpoint's credentials go instead
_REGION = re.compile(r"(?![0-9]+\Z)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")


def check_endpoint(name: str, url: str) -> str:
    """``url`` without a trailing '/', when it can be an endpoint's base URL.

    Raises:
        ConfigurationError: it cannot; the message names ``name`` and what to give.
    """
    return check_http_url(name, url, credentials=_KEYS).rstrip("/")


def endpoint_problem(name: str, url: str) -> str | None:
    """Why ``url`` (the value of the variable ``name``) cannot be an endpoint's base URL."""
    return url_problem(name, url, credentials=_KEYS)


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
    read_ca_bundle(path, what="AWS_CA_BUNDLE", hint=hint)
    return path
